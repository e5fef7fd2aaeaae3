import CNuma
import MIIKernels
#if canImport(Glibc)
import Glibc
#endif

/// One automatic choice: what was chosen, why, and how to override it.
public struct ConfigChoice: Sendable, Equatable {
    public let name: String
    public let value: String
    public let reason: String
    public let override: String
}

/// How libmii runs a model on this machine, chosen from the model, the request and the hardware (as
/// DeepSpeed-MII configures a deployment): threads, kernel set, precision mode, weight quantization,
/// prompt chunking, batched decoding and the memory plan. `mii info` prints it; every choice names
/// the option that overrides it.
public struct ExecutionPlan: Sendable {
    public let threads: Int
    public let kernelSet: String
    public let mode: PrecisionMode
    public let numaNodes: Int
    public let contextLength: Int
    public let promptChunk: Int
    public let maxBatchSequences: Int
    /// Bytes of weights: the file mappings (resident as they are read) or the quantized copies.
    public let weightBytes: Int
    public let kvBytesPerToken: Int
    /// Key/value cache of one session at `contextLength` (allocated lazily: pages as tokens arrive).
    public let kvBytes: Int
    /// Activation buffers of one session.
    public let activationBytes: Int
    public let choices: [ConfigChoice]

    /// Estimated peak resident memory of one session that fills its context.
    public var estimatedPeakBytes: Int { weightBytes + kvBytes + activationBytes }

    /// The plan for `model` with a session of `contextLength` tokens (0: the session default).
    public static func make(model: Model, contextLength requested: Int = 0, batch requestedBatch: Int = 0) -> ExecutionPlan {
        var choices: [ConfigChoice] = []
        // Threads
        let cpus = Hardware.availableCPUs
        let online = Hardware.onlineCPUs
        let threads = model.defaultThreads
        let threadReason = model.options.threads > 0
            ? "set by the caller"
            : "one per CPU this process may run on (\(cpus) of \(online) online; affinity and cgroup limits respected): matrix products split by rows, the caller's thread works too"
        choices.append(ConfigChoice(name: "threads", value: "\(threads)", reason: threadReason,
                                    override: "--threads N / mii_model_params.n_threads / threads="))
        // NUMA
        let nodes = Hardware.numaNodes
        choices.append(ConfigChoice(
            name: "numa", value: nodes <= 1 ? "1 node" : "\(nodes) nodes",
            reason: nodes <= 1 ? "one memory node: no placement needed"
                : "several memory nodes: run one process per node (numactl --cpunodebind=N --membind=N) for local memory; libmii does not move threads or pages itself",
            override: "numactl"))
        // Kernels
        choices.append(ConfigChoice(
            name: "kernels", value: Hardware.kernelSet,
            reason: "the widest instruction set this CPU reports (\(Hardware.cpuFeatures.joined(separator: " "))), chosen at run time; each kernel has a plain reference twin",
            override: "MIIK_FORCE_ISA=scalar|avx2|avx512"))
        // Precision mode and weights
        var q8Bytes = 0, allBytes = 0
        for m in model.network?.weightMatrices ?? [] { allBytes += m.rowBytes * m.rows }
        for m in model.network?.fastModeMatrices ?? [] where miik_type_has_q8_path(Int32(m.type.rawValue)) != 0 {
            q8Bytes += m.rowBytes * m.rows
        }
        let share = allBytes > 0 ? Int((Double(q8Bytes) / Double(allBytes) * 100).rounded()) : 0
        let mode = model.options.mode
        let modeReason: String
        switch mode {
        case .precise:
            modeReason = "the default: weights dequantized on the fly, float32 activations (matches transformers float32: mean |Δ log-prob| <= 0.01); fast mode would use 8-bit activations on \(share)% of the weight bytes"
        case .fast:
            modeReason = "asked for: 8-bit activations with integer dot products on \(share)% of the weight bytes (Q4_0/Q4_1/Q5_0/Q5_1/Q8_0), near-float activations for the products that are sensitive to it (k, v and attention output in the Llama family; ffn_down and the output head everywhere: 16-bit integer activations in single-token steps\(Hardware.vnniTileMinTokens > 0 ? " and, with VNNI tiles, in prompts and batched steps of \(Hardware.vnniTileMinTokens)+ tokens, float32 for fewer" : ", float32 for prompts and batched steps")), float for other weight types" + (Hardware.int8DotInstructions ? "" : "; prompt chunks of \(fastPromptFloatMinTokens)+ tokens take float activations everywhere, since without int8 dot instructions (VNNI) the float tiles are faster on them")
        }
        choices.append(ConfigChoice(name: "precision", value: mode.rawValue, reason: modeReason,
                                    override: "--mode precise|fast / mii_model_params.precision / precision="))
        let quantReason: String
        let quantValue: String
        let hasFloatMatrices = (model.network?.weightMatrices ?? []).contains { [.f32, .f16, .bf16].contains($0.type) }
        if let q = model.loadQuantization {
            quantValue = q.name
            quantReason = model.options.quantize == .auto
                ? "auto: float weight matrices become \(q.name) blocks at load in fast mode (DeepSpeed-Inference-style int8)"
                : "asked for: float weight matrices quantized to \(q.name) at load"
        } else if model.options.quantize == .auto {
            quantValue = model.gguf != nil ? "as stored" : "float"
            quantReason = hasFloatMatrices || model.folder != nil
                ? "auto: float weights stay float in precise mode (fast mode would quantize them to Q8_0 at load)"
                : "the file's quantized tensors are used in place from the mapping"
        } else {
            quantValue = "as stored"
            quantReason = "asked for: weights as stored"
        }
        choices.append(ConfigChoice(name: "weights", value: quantValue, reason: quantReason,
                                    override: "--quantize auto|none|q8_0|q4_0|q4_1 / mii_model_params.quantize / quantize="))
        // Context and memory
        let ctx = requested > 0 ? requested : min(model.contextLength, 32768)
        let kvPerToken = model.network?.kvCacheBytesPerToken(format: KVFormat(mode: mode)) ?? 0
        let chunk = min(requestedBatch > 0 ? requestedBatch : 256, max(ctx, 1))
        choices.append(ConfigChoice(
            name: "context", value: "\(ctx) tokens",
            reason: requested > 0 ? "set by the caller"
                : "the model's context length\(model.contextLength > 32768 ? ", capped at 32768" : ""); the cache is allocated lazily, so unused context costs no resident memory",
            override: "mii_session_params.n_ctx / n_ctx="))
        if model.network != nil {
            let half = KVFormat(mode: mode) == .f16
            choices.append(ConfigChoice(
                name: "kv cache", value: half ? "fp16" : "float32",
                reason: half
                    ? "fast mode: keys and values stored as fp16 (as llama.cpp's default cache; finite values beyond +-65504 saturate), half the memory and half the bytes attention reads per decode step; precise mode keeps float32"
                    : "precise mode: float32 keys and values, as computed",
                override: "mii_session_params.kv_cache / kv_cache='f32'|'f16' / --kv-cache f32|f16 (a session's format is fixed when it is created)"))
        }
        let intTiles = Hardware.kernelSet.hasSuffix("+vnni")
            ? "AVX-512 VNNI tiles of 16 tokens (8 in 256-bit registers) from 8 tokens, 4-token tiles below"
            : "4-token tiles"
        choices.append(ConfigChoice(
            name: "prompt chunk", value: "\(chunk) tokens",
            reason: "prompts run in chunks of this many tokens; F32 and quantized weights use the engine's float tile kernel (4 rows, dequantized, times 3 tokens), and in fast mode the products with 8-bit activations integer tiles (\(intTiles)); F16/BF16 weights OpenBLAS sgemm from \(gemmMinTokens) tokens",
            override: "mii_session_params.n_batch"))
        choices.append(ConfigChoice(
            name: "batched decoding", value: "up to 8 sequences per step",
            reason: "a decode step reads every weight once; sequences decoded together (continuous batching) share that read",
            override: "mii_batch_params.max_sequences / mii.Batch(max_sequences=) / --parallel N"))
        let act = activationBytesEstimate(model: model, chunk: chunk, threads: threads, ctx: ctx)
        let weights = model.weightBytesMapped
        let kv = kvPerToken * ctx
        choices.append(ConfigChoice(
            name: "memory", value: "~\(mib(weights + kv + act)) MiB peak",
            reason: "weights \(mib(weights)) MiB (mapped, shared by all sessions) + KV cache \(mib(kv)) MiB at \(ctx) tokens (\(kvPerToken) bytes per token, per session) + activations \(mib(act)) MiB per session",
            override: "a shorter n_ctx; --quantize for float weights"))
        return ExecutionPlan(threads: threads, kernelSet: Hardware.kernelSet, mode: mode, numaNodes: nodes,
                             contextLength: ctx, promptChunk: chunk, maxBatchSequences: 8, weightBytes: weights,
                             kvBytesPerToken: kvPerToken, kvBytes: kv, activationBytes: act, choices: choices)
    }

    static func mib(_ b: Int) -> String {
        let m = Double(b) / 1_048_576
        return m >= 10 ? "\(Int(m.rounded()))" : String(format1(m))
    }

    private static func format1(_ v: Double) -> String {
        let r = (v * 10).rounded() / 10
        return "\(r)"
    }

    /// Activation buffers of one session (decoders: DecoderState's [chunk, ...] buffers, attention
    /// scores and the per-thread dequantization tiles).
    static func activationBytesEstimate(model: Model, chunk: Int, threads: Int, ctx: Int) -> Int {
        guard let net = model.network else { return 0 }
        var widest = 0, sum = 0
        for m in net.weightMatrices { widest = max(widest, m.cols, m.rows == net.vocabSize ? 0 : m.rows) }
        sum += chunk * widest * 6 * MemoryLayout<Float>.size
        sum += threads * ctx * MemoryLayout<Float>.size
        sum += threads * gemmTileRows * widest * MemoryLayout<Float>.size
        sum += net.vocabSize * MemoryLayout<Float>.size
        return sum
    }
}

extension Hardware {
    /// CPUs this process may run on (sched_getaffinity: taskset and cgroup cpusets), at least 1.
    public static let availableCPUs: Int = max(1, Int(miik_available_cpus()))

    /// CPUs online in the machine.
    public static let onlineCPUs: Int = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))

    /// Memory nodes (libnuma), 1 when NUMA is unavailable.
    public static let numaNodes: Int = {
        guard numa_available() >= 0 else { return 1 }
        return max(1, Int(numa_num_configured_nodes()))
    }()

    /// The SIMD features the kernel dispatcher looks at, as the CPU reports them.
    public static var cpuFeatures: [String] {
        var out: [String] = []
        let f = miik_cpu_features()
        // Bits as documented in mii_kernels.h.
        let names: [(UInt32, String)] = [(1, "avx2"), (2, "fma"), (4, "f16c"), (8, "avx512f"), (16, "avx512bw"),
                                         (32, "avx512vl"), (64, "avx512vnni"), (128, "avx512bf16"), (256, "avxvnni")]
        for (bit, name) in names where f & bit != 0 { out.append(name) }
        return out.isEmpty ? ["no AVX2"] : out
    }
}
