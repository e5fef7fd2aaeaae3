import MIIKernels

/// The Llama decoder: RMSNorm, RoPE, grouped-query attention, SwiGLU MLP, tied or separate output head,
/// optional q/k/v biases. Other architectures of this shape (Qwen2, Mistral) reuse it with their own
/// configuration (see their files).
public final class LlamaDecoder: @unchecked Sendable {
    public struct Layer {
        let attnNorm: [Float]          // [n_embd]
        let wq: WeightMatrix           // [q_dim, n_embd]
        let wk: WeightMatrix           // [kv_dim, n_embd]
        let wv: WeightMatrix           // [kv_dim, n_embd]
        let wo: WeightMatrix           // [n_embd, q_dim]
        let bq: [Float]?, bk: [Float]?, bv: [Float]?, bo: [Float]?
        let ffnNorm: [Float]           // [n_embd]
        let wGate: WeightMatrix        // [n_ff, n_embd]
        let wUp: WeightMatrix          // [n_ff, n_embd]
        let wDown: WeightMatrix        // [n_embd, n_ff]
    }

    public let config: DecoderConfig
    let tokenEmbedding: WeightMatrix   // [n_vocab, n_embd]
    let outputNorm: [Float]            // [n_embd]
    let output: WeightMatrix           // [n_vocab, n_embd] (the embedding when tied)
    let layers: [Layer]
    /// 1 / base^(2i/d) for i < rope_dims/2, with per-frequency factors applied (`rope_freqs.weight`).
    let invFreq: [Float]
    /// Every weight matrix, for `mii info`.
    public var matrices: [WeightMatrix] {
        var all = [tokenEmbedding]
        for l in layers { all += [l.wq, l.wk, l.wv, l.wo, l.wGate, l.wUp, l.wDown] }
        if !config.tiedEmbeddings { all.append(output) }
        return all
    }

    /// The matrices whose products take 8-bit activations in fast mode: q, gate and up (k, v,
    /// attention output, ffn_down and the output head keep float activations).
    public var fastModeMatrices: [WeightMatrix] { layers.flatMap { [$0.wq, $0.wGate, $0.wUp] } }

    /// Keeps the file mappings the weight matrices point into alive as long as the network.
    private let storage: TensorSource

    public init(config: DecoderConfig, tensors: TensorSource) throws {
        self.config = config
        self.storage = tensors
        let c = config
        tokenEmbedding = try tensors.matrix("token_embd.weight", rows: c.nVocab, cols: c.nEmbd)
        outputNorm = try tensors.vector("output_norm.weight", count: c.nEmbd)
        output = c.tiedEmbeddings ? tokenEmbedding
            : try tensors.matrix("output.weight", rows: c.nVocab, cols: c.nEmbd)
        var layers: [Layer] = []
        for i in 0..<c.nLayer {
            let p = "blk.\(i)."
            layers.append(Layer(
                attnNorm: try tensors.vector(p + "attn_norm.weight", count: c.nEmbd),
                wq: try tensors.matrix(p + "attn_q.weight", rows: c.qDim, cols: c.nEmbd),
                wk: try tensors.matrix(p + "attn_k.weight", rows: c.kvDim, cols: c.nEmbd),
                wv: try tensors.matrix(p + "attn_v.weight", rows: c.kvDim, cols: c.nEmbd),
                wo: try tensors.matrix(p + "attn_output.weight", rows: c.nEmbd, cols: c.qDim),
                bq: try tensors.optionalVector(p + "attn_q.bias", count: c.qDim),
                bk: try tensors.optionalVector(p + "attn_k.bias", count: c.kvDim),
                bv: try tensors.optionalVector(p + "attn_v.bias", count: c.kvDim),
                bo: try tensors.optionalVector(p + "attn_output.bias", count: c.nEmbd),
                ffnNorm: try tensors.vector(p + "ffn_norm.weight", count: c.nEmbd),
                wGate: try tensors.matrix(p + "ffn_gate.weight", rows: c.nFF, cols: c.nEmbd),
                wUp: try tensors.matrix(p + "ffn_up.weight", rows: c.nFF, cols: c.nEmbd),
                wDown: try tensors.matrix(p + "ffn_down.weight", rows: c.nEmbd, cols: c.nFF)))
        }
        self.layers = layers
        let half = c.ropeDims / 2
        let factors = try tensors.optionalVector("rope_freqs.weight", count: half)
        var inv = [Float](repeating: 0, count: half)
        for i in 0..<half {
            var f = 1.0 / Double(c.ropeBase).pow(Double(2 * i) / Double(c.ropeDims))
            if let factors {
                guard factors[i].isFinite && factors[i] > 0 else {
                    throw MIIError.format("rope_freqs.weight[\(i)] = \(factors[i]) is not a positive number")
                }
                f /= Double(factors[i])
            }
            if let l3 = c.ropeLlama3 { f = l3.apply(f) }
            inv[i] = Float(f / Double(c.ropeLinearScale))
        }
        invFreq = inv
    }

    // MARK: - forward

    /// Runs `tokens` (at positions startPos...) through the model, appending their keys/values to
    /// `state`'s cache. Writes logits for the last token into `logits[0..<n_vocab]`, or for every token
    /// (`[n, n_vocab]`) when `allLogits` is set. Token ids and capacity are checked by the caller.
    func forward(_ tokens: UnsafeBufferPointer<Int32>, startPos: Int, state: DecoderState,
                 pool: ThreadPool, mode: PrecisionMode, allLogits: Bool,
                 logits: UnsafeMutablePointer<Float>, shouldCancel: () -> Bool) throws {
        let c = config
        var done = 0
        while done < tokens.count {
            if shouldCancel() { throw MIIError(.cancelled, "cancelled") }
            let n = min(state.batch, tokens.count - done)
            let chunk = UnsafeBufferPointer(rebasing: tokens[done..<(done + n)])
            let isLast = done + n == tokens.count
            try forwardChunk(chunk, rows: .sequence(state, pos0: startPos + done), work: state, pool: pool,
                             mode: mode, shouldCancel: shouldCancel)
            if allLogits {
                head(state, rows: 0..<n, out: logits + done * c.nVocab, pool: pool, mode: mode)
            } else if isLast {
                head(state, rows: (n - 1)..<n, out: logits, pool: pool, mode: mode)
            }
            done += n
        }
    }

    /// Final norm and output projection for the given rows of the chunk just computed.
    private func head(_ s: DecoderState, rows: Range<Int>, out: UnsafeMutablePointer<Float>,
                      pool: ThreadPool, mode: PrecisionMode) {
        let c = config
        for t in rows {
            rmsNorm(s.x + t * c.nEmbd, outputNorm, s.xn + (t - rows.lowerBound) * c.nEmbd, c.nEmbd, c.normEps)
        }
        // The output head never takes 8-bit activations: the final hidden state has outliers that
        // they blur (measured on SmolLM2: see SmolLM2ReferenceTests); 16-bit ones in fast mode.
        linear(output, s.xn, rows.count, out, pool: pool, mode: mode, fast: .int16, scratch: s.scratch)
    }

    /// One decode step for several sequences: row i appends `tokens[i]` at `positions[i]` to
    /// `caches[i]`, and its logits go to `logits[i * n_vocab ..< (i + 1) * n_vocab]`. The weights are
    /// read once for all rows. `work` holds the activations ([rows, ...]) and attention scores.
    func forwardBatch(_ tokens: UnsafeBufferPointer<Int32>, positions: [Int], caches: [DecoderState],
                      work: DecoderState, pool: ThreadPool, mode: PrecisionMode,
                      logits: UnsafeMutablePointer<Float>) throws {
        let n = tokens.count
        try forwardChunk(tokens, rows: .independent(caches, positions: positions), work: work, pool: pool,
                         mode: mode, shouldCancel: { false })
        head(work, rows: 0..<n, out: logits, pool: pool, mode: mode)
    }

    /// Where the rows of a chunk live: consecutive positions of one sequence (prompt processing), or one
    /// token each of independent sequences (batched decoding).
    enum ChunkRows {
        case sequence(DecoderState, pos0: Int)
        case independent([DecoderState], positions: [Int])

        func position(_ t: Int) -> Int {
            switch self {
            case .sequence(_, let p0): return p0 + t
            case .independent(_, let ps): return ps[t]
            }
        }

        func cache(_ t: Int) -> DecoderState {
            switch self {
            case .sequence(let s, _): return s
            case .independent(let cs, _): return cs[t]
            }
        }
    }

    /// One chunk of tokens through every layer. Cancellation is checked before each layer's attention
    /// and MLP, so a long prompt stops within a fraction of one layer's work. Activations live in
    /// `work`; keys and values go to each row's cache.
    private func forwardChunk(_ tokens: UnsafeBufferPointer<Int32>, rows: ChunkRows, work s: DecoderState,
                              pool: ThreadPool, mode: PrecisionMode, shouldCancel: () -> Bool) throws {
        let c = config
        let n = tokens.count
        let nEmbd = c.nEmbd
        func checkCancel() throws {
            if shouldCancel() { throw MIIError(.cancelled, "cancelled") }
        }
        // x [n, n_embd] = embedding rows
        for (t, id) in tokens.enumerated() {
            tokenEmbedding.dequantizeRow(Int(id), into: s.x + t * nEmbd)
        }
        // cos/sin [n, rope_dims/2] for these positions
        let half = c.ropeDims / 2
        for t in 0..<n {
            let pos = Float(rows.position(t))
            for i in 0..<half {
                let a = pos * invFreq[i]
                s.ropeCos[t * half + i] = cosf(a)
                s.ropeSin[t * half + i] = sinf(a)
            }
        }
        for (li, L) in layers.enumerated() {
            // attention block
            for t in 0..<n {
                rmsNorm(s.x + t * nEmbd, L.attnNorm, s.xn + t * nEmbd, nEmbd, c.normEps)
            }
            try checkCancel()
            // New keys/values [n, kv_dim]: written in place in the cache for one sequence, or into the
            // work state's own cache rows and copied to each sequence's cache below.
            let kNew: UnsafeMutablePointer<Float>, vNew: UnsafeMutablePointer<Float>
            switch rows {
            case .sequence(let cache, let pos0):
                (kNew, vNew) = cache.kv.newRows(layer: li, position: pos0)
            case .independent:
                (kNew, vNew) = s.kv.newRows(layer: 0, position: 0)  // a float work state's first rows
            }
            // The key, value and attention-output products keep (near-)float activations in fast mode
            // (16-bit ones for single tokens, see FastActivations): with
            // 8-bit activations there SmolLM2's mean |Δ log-prob| against transformers float32 was 0.055
            // (its Q4_1 GGUF) and 0.075 (the float folder quantized to Q8_0 at load); with float ones
            // for v and o 0.037 and 0.058-0.061 (the latter moved with the kernels' summation order,
            // too close to the 0.06 threshold), and with k as well 0.035 and 0.057, for ~3% more
            // float multiply-adds (measured, SmolLM2ReferenceTests and SmolLM2FolderTests).
            linearShared(s.xn, n, [(L.wq, s.q, .int8), (L.wk, kNew, .int16), (L.wv, vNew, .int16)],
                         pool: pool, mode: mode, scratch: s.scratch)
            if let b = L.bq { addBias(s.q, b, rows: n) }
            if let b = L.bk { addBias(kNew, b, rows: n) }
            if let b = L.bv { addBias(vNew, b, rows: n) }
            applyRope(s.q, heads: c.nHead, n: n, s)
            applyRope(kNew, heads: c.nHeadKV, n: n, s)
            switch rows {
            case .sequence(let cache, let pos0):
                cache.kv.store(layer: li, position: pos0, keys: kNew, values: vNew, rows: n)  // float: in place
            case .independent(let caches, let positions):
                for t in 0..<n {
                    caches[t].kv.store(layer: li, position: positions[t], keys: kNew + t * c.kvDim,
                                       values: vNew + t * c.kvDim, rows: 1)
                }
            }
            attention(layer: li, n: n, rows: rows, s, pool: pool)
            try checkCancel()
            linear(L.wo, s.attn, n, s.xn, pool: pool, mode: mode, fast: .int16, scratch: s.scratch)
            if let b = L.bo { addBias(s.xn, b, rows: n) }
            add(s.x, s.xn, n * nEmbd)
            // MLP block
            for t in 0..<n {
                rmsNorm(s.x + t * nEmbd, L.ffnNorm, s.xn + t * nEmbd, nEmbd, c.normEps)
            }
            try checkCancel()
            linearShared(s.xn, n, [(L.wGate, s.gate, .int8), (L.wUp, s.up, .int8)], pool: pool, mode: mode,
                         scratch: s.scratch)
            // gate = SiLU(gate) * up [n, n_ff], split over the pool (a prompt has n * n_ff elements).
            let total = n * c.nFF
            if total <= 8192 {  // a decode step: cheaper than waking the pool
                miik_silu_mul(s.gate, s.up, Int64(total))
            } else {
                pool.run { ith, nth in
                    let r = ThreadPool.chunk(total, ith, nth, align: 64)
                    if !r.isEmpty { miik_silu_mul(s.gate + r.lowerBound, s.up + r.lowerBound, Int64(r.count)) }
                }
            }
            // ffn_down's input (SiLU(gate) * up) is heavy-tailed; in fast mode it keeps (near-)float
            // activations too, which keeps mean |Δ log-prob| on SmolLM2 at ~0.05 instead of ~0.07.
            try checkCancel()
            linear(L.wDown, s.gate, n, s.xn, pool: pool, mode: mode, fast: .int16, scratch: s.scratch)
            add(s.x, s.xn, n * nEmbd)
        }
    }

    private func addBias(_ y: UnsafeMutablePointer<Float>, _ b: [Float], rows: Int) {
        let d = b.count
        b.withUnsafeBufferPointer { bp in
            for t in 0..<rows {
                let row = y + t * d
                for i in 0..<d { row[i] += bp[i] }
            }
        }
    }

    private func applyRope(_ x: UnsafeMutablePointer<Float>, heads: Int, n: Int, _ s: DecoderState) {
        let c = config
        let half = c.ropeDims / 2
        let stride = heads * c.headDim
        for t in 0..<n {
            let cs = s.ropeCos + t * half
            let sn = s.ropeSin + t * half
            for h in 0..<heads {
                let v = x + t * stride + h * c.headDim
                switch c.ropePairing {
                case .adjacent:
                    for i in 0..<half {
                        let a = v[2 * i], b = v[2 * i + 1]
                        v[2 * i] = a * cs[i] - b * sn[i]
                        v[2 * i + 1] = a * sn[i] + b * cs[i]
                    }
                case .half:
                    for i in 0..<half {
                        let a = v[i], b = v[i + half]
                        v[i] = a * cs[i] - b * sn[i]
                        v[i + half] = a * sn[i] + b * cs[i]
                    }
                }
            }
        }
    }

    /// Causal grouped-query attention for the n new tokens, each against its own cache; writes
    /// s.attn [n, q_dim]. `s.scores` holds [threads, s.maxContext] (at least the longest row).
    private func attention(layer: Int, n: Int, rows: ChunkRows, _ s: DecoderState, pool: ThreadPool) {
        let c = config
        let hd = c.headDim
        let group = c.nHead / c.nHeadKV
        let scale = 1 / Float(hd).squareRoot()
        // One item per (token, key/value head): its `group` query heads are consecutive in q and attn,
        // and the kernel reads the key and value rows once for all of them.
        let items = n * c.nHeadKV
        // Query heads h0 ..< h0 + count of token t, all of key/value head kvh.
        func attend(_ t: Int, _ kvh: Int, _ h0: Int, _ count: Int, _ scores: UnsafeMutablePointer<Float>) {
            let len = rows.position(t) + 1
            // Sliding window: position p sees p - window + 1 ... p.
            let first = c.slidingWindow.map { max(0, len - $0) } ?? 0
            let q0 = t * c.qDim + h0 * hd
            rows.cache(t).kv.attend(layer: layer, q: s.q + q0, nQ: count, first: first, nKeys: len - first,
                                    column: kvh * hd, headDim: hd, scale: scale, slope: 0, scores: scores,
                                    out: s.attn + q0)
        }
        pool.run { ith, nth in
            let scores = s.scores + ith * s.scoresPerThread
            if n == 1 && nth > 1 {
                // One token has few groups (SmolLM2: 3 for 2 threads): split its query heads evenly
                // instead, each thread taking whole groups or parts of them.
                let heads = ThreadPool.chunk(c.nHead, ith, nth)
                var h = heads.lowerBound
                while h < heads.upperBound {
                    let kvh = h / group
                    let end = min(heads.upperBound, (kvh + 1) * group)
                    attend(0, kvh, h, end - h, scores)
                    h = end
                }
                return
            }
            // Interleaved: a causal prompt's later tokens see more keys, so contiguous chunks would
            // give the last thread ~3/4 of the work.
            for item in ThreadPool.interleaved(items, ith, nth) {
                let kvh = item % c.nHeadKV
                attend(item / c.nHeadKV, kvh, kvh * group, group, scores)
            }
        }
    }
}

// MARK: - small float helpers

@inline(__always)
func rmsNorm(_ x: UnsafePointer<Float>, _ w: [Float], _ out: UnsafeMutablePointer<Float>, _ n: Int, _ eps: Float) {
    var ss: Float = 0
    for i in 0..<n { ss += x[i] * x[i] }
    let inv = 1 / (ss / Float(n) + eps).squareRoot()
    w.withUnsafeBufferPointer { wp in
        for i in 0..<n { out[i] = x[i] * inv * wp[i] }
    }
}

@inline(__always)
func add(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int) {
    for i in 0..<n { y[i] += x[i] }
}

extension Double {
    func pow(_ e: Double) -> Double { Glibc.pow(self, e) }
}

#if canImport(Glibc)
import Glibc
#endif

/// Registration of the `llama` architecture: GGUF `llama` (also Mistral-style files) and Hugging Face
/// `model_type: llama`.
enum Llama {
    static func loadGGUF(_ g: GGUFFile, _ tensors: TensorSource) throws -> LanguageModelNetwork {
        // llama.cpp's converter permutes Q/K rows of `llama` models, so RoPE pairs adjacent elements.
        let arch = g.architecture ?? "llama"
        let cfg = try DecoderConfig.fromGGUF(g, arch: arch, pairing: .adjacent)
        return try LlamaDecoder(config: cfg, tensors: tensors)
    }

    /// Hugging Face checkpoints are not permuted: RoPE rotates halves.
    static func loadHF(_ f: HFFolder) throws -> LanguageModelNetwork {
        let tensors = hfTensors(f.weights)
        let cfg = try DecoderConfig.fromHF(f.config, arch: f.modelType,
                                           hasLMHead: f.weights.lookup("lm_head.weight") != nil)
        return try LlamaDecoder(config: cfg, tensors: tensors)
    }

    /// Engine names -> Hugging Face names of LlamaForCausalLM and the models that copy its layout
    /// (MistralForCausalLM, Qwen2ForCausalLM).
    static func hfTensors(_ base: TensorSource) -> TensorSource {
        RenamedTensors(base: base) { name in
            switch name {
            case "token_embd.weight": return .init(name: "model.embed_tokens.weight")
            case "output_norm.weight": return .init(name: "model.norm.weight")
            case "output.weight": return .init(name: "lm_head.weight")
            default: break
            }
            guard let (i, rest) = splitLayerName(name) else { return nil }
            let p = "model.layers.\(i)."
            let part: String
            switch rest {
            case "attn_norm.weight": part = "input_layernorm.weight"
            case "ffn_norm.weight": part = "post_attention_layernorm.weight"
            case "attn_q.weight": part = "self_attn.q_proj.weight"
            case "attn_k.weight": part = "self_attn.k_proj.weight"
            case "attn_v.weight": part = "self_attn.v_proj.weight"
            case "attn_output.weight": part = "self_attn.o_proj.weight"
            case "attn_q.bias": part = "self_attn.q_proj.bias"
            case "attn_k.bias": part = "self_attn.k_proj.bias"
            case "attn_v.bias": part = "self_attn.v_proj.bias"
            case "attn_output.bias": part = "self_attn.o_proj.bias"
            case "ffn_gate.weight": part = "mlp.gate_proj.weight"
            case "ffn_up.weight": part = "mlp.up_proj.weight"
            case "ffn_down.weight": part = "mlp.down_proj.weight"
            default: return nil
            }
            return .init(name: p + part)
        }
    }
}

extension LlamaDecoder: LanguageModelNetwork {
    public var architecture: String { config.architecture }
    public var vocabSize: Int { config.nVocab }
    public var contextLength: Int { config.contextLength }
    public var weightMatrices: [WeightMatrix] { matrices }
    /// Keys and values, every layer: [n_layer, 2, kv_dim], in `format`.
    public func kvCacheBytesPerToken(format: KVFormat) -> Int { 2 * config.nLayer * config.kvDim * format.bytes }
    public var shapeSummary: [(String, String)] {
        let c = config
        return [
            ("layers", "\(c.nLayer)"), ("embedding", "\(c.nEmbd)"), ("ffn", "\(c.nFF)"),
            ("heads", "\(c.nHead) (kv \(c.nHeadKV), head_dim \(c.headDim))"),
            ("vocab", "\(c.nVocab)"), ("context", "\(c.contextLength)"),
            ("rope", "base \(c.ropeBase), dims \(c.ropeDims), pairing \(c.ropePairing.rawValue), scale \(c.ropeLinearScale)"),
            ("norm_eps", "\(c.normEps)"), ("tied_embeddings", "\(c.tiedEmbeddings)"),
        ]
    }

    public func makeState(maxContext: Int, batch: Int, threads: Int, kvFormat: KVFormat) throws -> AnyObject {
        try DecoderState(config: config, maxContext: maxContext, batch: batch, threads: threads, kvFormat: kvFormat)
    }

    /// A state used for activations only: `batch` rows, attention scores for `maxContext` positions,
    /// and its layer-0 cache rows as the staging area of new keys/values (its other cache pages
    /// are never touched, so they cost no resident memory).
    public func makeBatchWork(maxRows: Int, maxContext: Int, threads: Int) throws -> AnyObject {
        guard maxRows >= 1 else { throw MIIError.argument("a batch needs at least one row") }
        return try DecoderState(config: config, maxContext: max(maxRows, maxContext), batch: maxRows, threads: threads)
    }

    public func forwardBatch(_ tokens: UnsafeBufferPointer<Int32>, positions: [Int], states: [AnyObject],
                             work: AnyObject, pool: ThreadPool, mode: PrecisionMode,
                             logits: UnsafeMutablePointer<Float>) throws {
        let n = tokens.count
        guard let w = work as? DecoderState, w.config.nEmbd == config.nEmbd else {
            throw MIIError.argument("batch work does not belong to this model")
        }
        guard positions.count == n, states.count == n, n >= 1, n <= w.batch, w.threads >= pool.threads else {
            throw MIIError.argument("batch of \(n) rows (\(positions.count) positions, \(states.count) states) does not fit a work area of \(w.batch) rows")
        }
        var caches: [DecoderState] = []
        caches.reserveCapacity(n)
        var seen = Set<ObjectIdentifier>()
        for i in 0..<n {
            guard let s = states[i] as? DecoderState, s.config.nEmbd == config.nEmbd, s !== w else {
                throw MIIError.argument("state \(i) does not belong to this model")
            }
            guard seen.insert(ObjectIdentifier(s)).inserted else {
                throw MIIError.argument("state \(i) appears twice in one batch")
            }
            guard positions[i] >= 0, positions[i] < s.maxContext, positions[i] < w.maxContext else {
                throw MIIError(.contextFull, "row \(i): position \(positions[i]) is outside the context of \(min(s.maxContext, w.maxContext))")
            }
            caches.append(s)
        }
        try forwardBatch(tokens, positions: positions, caches: caches, work: w, pool: pool, mode: mode, logits: logits)
    }

    public func forward(_ tokens: UnsafeBufferPointer<Int32>, startPos: Int, state: AnyObject, pool: ThreadPool,
                        mode: PrecisionMode, allLogits: Bool, logits: UnsafeMutablePointer<Float>,
                        shouldCancel: () -> Bool) throws {
        guard let s = state as? DecoderState, s.config.nEmbd == config.nEmbd else {
            throw MIIError.argument("state does not belong to this model")
        }
        if startPos + tokens.count > s.maxContext {
            throw MIIError(.contextFull, "\(startPos + tokens.count) tokens exceed the context of \(s.maxContext)")
        }
        try forward(tokens, startPos: startPos, state: s, pool: pool, mode: mode, allLogits: allLogits,
                    logits: logits, shouldCancel: shouldCancel)
    }
}
