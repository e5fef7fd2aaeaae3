/// What the runtime needs from an architecture: a forward pass over a sequence with a KV cache.
/// Each architecture lives in its own file and registers itself in `ArchitectureRegistry`.
public protocol LanguageModelNetwork: AnyObject, Sendable {
    var architecture: String { get }
    var vocabSize: Int { get }
    var contextLength: Int { get }
    /// Short description of shapes for `mii info`.
    var shapeSummary: [(String, String)] { get }
    /// Weight matrices (for `mii info` and memory planning).
    var weightMatrices: [WeightMatrix] { get }
    /// The matrices whose products take 8-bit activations in fast mode where their type allows
    /// (for `mii info`; default: every weight matrix).
    var fastModeMatrices: [WeightMatrix] { get }
    /// Bytes of key/value cache one token takes in `format` (memory planning).
    func kvCacheBytesPerToken(format: KVFormat) -> Int
    /// Per-sequence state (KV cache, buffers) for up to `maxContext` tokens, keys and values kept in
    /// `kvFormat` for the state's lifetime.
    func makeState(maxContext: Int, batch: Int, threads: Int, kvFormat: KVFormat) throws -> AnyObject
    /// Appends `tokens` at `startPos` to the state's cache and writes logits (last token, or all).
    func forward(_ tokens: UnsafeBufferPointer<Int32>, startPos: Int, state: AnyObject, pool: ThreadPool,
                 mode: PrecisionMode, allLogits: Bool, logits: UnsafeMutablePointer<Float>,
                 shouldCancel: () -> Bool) throws
    /// Working memory for `forwardBatch`: up to `maxRows` sequences whose caches hold up to
    /// `maxContext` tokens.
    func makeBatchWork(maxRows: Int, maxContext: Int, threads: Int) throws -> AnyObject
    /// One decode step for several sequences: row i appends `tokens[i]` at `positions[i]` to
    /// `states[i]` (distinct states made by `makeState`) and writes its logits to
    /// `logits[i * vocabSize ..< (i + 1) * vocabSize]`.
    func forwardBatch(_ tokens: UnsafeBufferPointer<Int32>, positions: [Int], states: [AnyObject], work: AnyObject,
                      pool: ThreadPool, mode: PrecisionMode, logits: UnsafeMutablePointer<Float>) throws
}

/// Architectures without a batched forward pass decode the rows one after another (same results,
/// no speed-up).
extension LanguageModelNetwork {
    public var fastModeMatrices: [WeightMatrix] { weightMatrices }

    public func makeBatchWork(maxRows: Int, maxContext: Int, threads: Int) throws -> AnyObject {
        NoBatchWork()
    }

    public func forwardBatch(_ tokens: UnsafeBufferPointer<Int32>, positions: [Int], states: [AnyObject],
                             work: AnyObject, pool: ThreadPool, mode: PrecisionMode,
                             logits: UnsafeMutablePointer<Float>) throws {
        guard positions.count == tokens.count, states.count == tokens.count else {
            throw MIIError.argument("batch: \(tokens.count) tokens, \(positions.count) positions, \(states.count) states")
        }
        for i in 0..<tokens.count {
            try forward(UnsafeBufferPointer(rebasing: tokens[i..<(i + 1)]), startPos: positions[i], state: states[i],
                        pool: pool, mode: mode, allLogits: false, logits: logits + i * vocabSize,
                        shouldCancel: { false })
        }
    }
}

/// The batch working memory of architectures that decode rows one by one (none needed).
final class NoBatchWork {}

/// Maps GGUF `general.architecture` values to loaders.
public enum ArchitectureRegistry {
    /// Metadata come from the file; weights from the tensor source (the file itself, or the file seen
    /// through `QuantizingTensors` when float weights are quantized at load).
    public typealias GGUFLoader = @Sendable (GGUFFile, TensorSource) throws -> LanguageModelNetwork

    public static let gguf: [String: GGUFLoader] = [
        "llama": Llama.loadGGUF,
        "mistral": Llama.loadGGUF,
        "qwen2": Qwen2.loadGGUF,
        "phi3": Phi3.loadGGUF,
        "gpt2": GPT2.loadGGUF,
        "bloom": Bloom.loadGGUF,
        "gptneox": GPTNeoX.loadGGUF,
    ]

    public typealias GGUFEncoderLoader = @Sendable (GGUFFile, TensorSource) throws -> EncoderNetwork

    /// GGUF `general.architecture` -> encoder loader.
    public static let ggufEncoders: [String: GGUFEncoderLoader] = [
        "bert": BERT.loadGGUF,
    ]

    /// True if the file's architecture is an encoder (load it with `loadGGUFEncoder`).
    public static func isEncoder(_ g: GGUFFile) -> Bool { g.architecture.map { ggufEncoders[$0] != nil } ?? false }

    public static func loadGGUFEncoder(_ g: GGUFFile, tensors: TensorSource? = nil) throws -> EncoderNetwork {
        guard let arch = g.architecture else {
            throw MIIError.format("GGUF: general.architecture is missing")
        }
        guard let loader = ggufEncoders[arch] else {
            let known = ggufEncoders.keys.sorted().joined(separator: ", ")
            if gguf[arch] != nil {
                throw MIIError.unsupported("architecture '\(arch)' is a decoder (text generation), not an encoder (supported GGUF encoders: \(known))")
            }
            throw MIIError.unsupported("encoder architecture '\(arch)' is not supported (supported: \(known))")
        }
        return try loader(g, tensors ?? g)
    }

    public typealias HFLoader = @Sendable (HFFolder) throws -> LanguageModelNetwork

    /// Hugging Face `model_type` -> loader.
    public static let huggingFace: [String: HFLoader] = [
        "llama": Llama.loadHF,
        "mistral": Mistral.loadHF,
        "qwen2": Qwen2.loadHF,
        "phi3": Phi3.loadHF,
        "gpt2": GPT2.loadHF,
        "opt": OPT.loadHF,
        "bloom": Bloom.loadHF,
        "gpt_neo": GPTNeo.loadHF,
        "gptj": GPTJ.loadHF,
        "gpt_neox": GPTNeoX.loadHF,
    ]

    public typealias HFEncoderLoader = @Sendable (HFFolder) throws -> EncoderNetwork

    /// Hugging Face `model_type` -> encoder loader (BERT family). Heads are found from the tensor
    /// names and config.json's `architectures`.
    public static let huggingFaceEncoders: [String: HFEncoderLoader] = [
        "bert": BERT.loadHF,
        "roberta": RoBERTa.loadHF,
        "xlm-roberta": RoBERTa.loadHF,
        "distilbert": DistilBERT.loadHF,
    ]

    /// True if the folder's `model_type` is an encoder architecture (load it with `loadHFEncoder`).
    public static func isEncoder(_ f: HFFolder) -> Bool { huggingFaceEncoders[f.modelType] != nil }

    public static func loadHFEncoder(_ f: HFFolder) throws -> EncoderNetwork {
        guard let loader = huggingFaceEncoders[f.modelType] else {
            let known = huggingFaceEncoders.keys.sorted().joined(separator: ", ")
            if huggingFace[f.modelType] != nil {
                throw MIIError.unsupported("model_type '\(f.modelType)' is a decoder (text generation), not an encoder (supported encoders: \(known))")
            }
            throw MIIError.unsupported("encoder model_type '\(f.modelType)' is not supported (supported: \(known))")
        }
        return try loader(f)
    }

    public static func loadHF(_ f: HFFolder) throws -> LanguageModelNetwork {
        guard let loader = huggingFace[f.modelType] else {
            if isEncoder(f) {
                throw MIIError.unsupported("model_type '\(f.modelType)' is an encoder (embeddings, classification, fill-mask), not a text generator: load it with ArchitectureRegistry.loadHFEncoder")
            }
            let known = huggingFace.keys.sorted().joined(separator: ", ")
            throw MIIError.unsupported("model_type '\(f.modelType)' is not supported (supported: \(known))")
        }
        return try loader(f)
    }

    /// The decoder of a GGUF file; `tensors` (default: the file) supplies the weights.
    public static func loadGGUF(_ g: GGUFFile, tensors: TensorSource? = nil) throws -> LanguageModelNetwork {
        guard let arch = g.architecture else {
            throw MIIError.format("GGUF: general.architecture is missing")
        }
        guard let loader = gguf[arch] else {
            if ggufEncoders[arch] != nil {
                throw MIIError.unsupported("architecture '\(arch)' is an encoder (embeddings), not a text generator: load it with ArchitectureRegistry.loadGGUFEncoder")
            }
            let known = gguf.keys.sorted().joined(separator: ", ")
            throw MIIError.unsupported("architecture '\(arch)' is not supported (supported: \(known))")
        }
        return try loader(g, tensors ?? g)
    }
}
