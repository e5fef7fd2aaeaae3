/// How token hidden states become one sentence embedding, as sentence-transformers does it.
public enum PoolingMode: String, Sendable, CaseIterable {
    /// The first token ([CLS] / <s>).
    case cls
    /// Element-wise maximum over the tokens.
    case max
    /// Mean over the tokens.
    case mean
    /// Sum over the tokens divided by sqrt(token count).
    case meanSqrtLen = "mean_sqrt_len_tokens"
    /// Mean weighted by position (1, 2, 3, ...).
    case weightedMean = "weightedmean"
    /// The last token.
    case lastToken = "lasttoken"
}

/// A sentence-transformers pipeline on top of an encoder: pooling (one or several modes, their
/// results concatenated), optional exclusion of a prompt's tokens, optional L2 normalisation.
/// Read from the folder's `modules.json`, the Pooling module's `config.json` and
/// `sentence_bert_config.json`; without `modules.json`, mean pooling without normalisation (what
/// sentence-transformers builds around a plain transformers model).
public struct SentenceEmbeddingConfig: Sendable, Equatable {
    /// Pooling modes, concatenated in this order.
    public var pooling: [PoolingMode]
    /// False: tokens of a prompt (its length passed to `embed`) are left out of the pooling.
    public var includePrompt: Bool
    /// L2-normalise the pooled vector (a `Normalize` module).
    public var normalize: Bool
    /// `max_seq_length` of sentence_bert_config.json: sentence-transformers truncates inputs to it.
    public var maxSequenceLength: Int?

    public init(pooling: [PoolingMode] = [.mean], includePrompt: Bool = true, normalize: Bool = false,
                maxSequenceLength: Int? = nil) {
        self.pooling = pooling
        self.includePrompt = includePrompt
        self.normalize = normalize
        self.maxSequenceLength = maxSequenceLength
    }

    /// Mean pooling, no normalisation: sentence-transformers' default for a plain transformers model.
    public static let plainDefault = SentenceEmbeddingConfig()

    /// Embedding length for an encoder of `hiddenSize`.
    public func dimension(hiddenSize: Int) -> Int { pooling.count * hiddenSize }

    /// The embedding recipe of a GGUF encoder: `{arch}.pooling_type` as llama.cpp's converter writes
    /// it from the sentence-transformers Pooling module (1 mean, 2 CLS, 3 last token; absent or 0
    /// "none": mean, as sentence-transformers does for a plain model), L2-normalised as llama.cpp's
    /// embedding tools do by default (the file does not record a Normalize module). No
    /// max_seq_length is recorded either: inputs are truncated to the position table.
    public init(gguf g: GGUFFile) throws {
        let arch = g.architecture ?? ""
        let mode: PoolingMode
        switch try g.int("\(arch).pooling_type") ?? 0 {
        case 0, 1: mode = .mean
        case 2: mode = .cls
        case 3: mode = .lastToken
        case let t:
            throw MIIError.unsupported("\(arch).pooling_type \(t) is not supported for embeddings (1 mean, 2 cls, 3 last)")
        }
        self.init(pooling: [mode], includePrompt: true, normalize: true, maxSequenceLength: nil)
    }

    /// Reads the sentence-transformers files of `folder` (or the default without modules.json).
    public init(folder: HFFolder) throws {
        guard let bytes = try HFFolder.optionalFile(folder.path + "/modules.json", limit: Limits.maxConfigBytes) else {
            self.init()
            if let st = try folder.optionalConfig("sentence_bert_config.json") {
                maxSequenceLength = try Self.maxSeqLength(st)
            }
            return
        }
        let modules = try JSONValue.parse(bytes, context: "modules.json")
        guard let list = modules.array else {
            throw MIIError.format("modules.json: the top level is \(modules.typeName), expected a list of modules")
        }
        var pooling: [PoolingMode]? = nil
        var includePrompt = true
        var normalize = false
        var maxLen: Int? = nil
        var sawTransformer = false
        for (i, m) in list.enumerated() {
            guard let type = m["type"]?.string else {
                throw MIIError.format("modules.json: module \(i) has no 'type' string")
            }
            let path = m["path"]?.string ?? ""
            if path.hasPrefix("/") || path.split(separator: "/").contains("..") {
                throw MIIError.format("modules.json: module \(i) has path '\(path)' outside the model folder")
            }
            // "sentence_transformers.models.Pooling", "sentence_transformers.sentence_transformer.modules.Pooling"...
            let kind = type.split(separator: ".").last.map(String.init) ?? type
            let dir = path.isEmpty ? "" : path + "/"
            switch kind {
            case "Transformer":
                guard !sawTransformer && i == 0 else {
                    throw MIIError.unsupported("modules.json: a Transformer module must come first, once")
                }
                sawTransformer = true
                if let st = try folder.optionalConfig(dir + "sentence_bert_config.json") {
                    maxLen = try Self.maxSeqLength(st)
                }
            case "Pooling":
                guard sawTransformer, pooling == nil else {
                    throw MIIError.unsupported("modules.json: Pooling must follow the Transformer module, once")
                }
                guard let pc = try folder.optionalConfig(dir + "config.json") else {
                    throw MIIError.format("modules.json: the Pooling module's '\(dir)config.json' is missing")
                }
                (pooling, includePrompt) = try Self.poolingConfig(pc)
            case "Normalize":
                guard pooling != nil else {
                    throw MIIError.unsupported("modules.json: Normalize before Pooling is not supported")
                }
                normalize = true
            default:
                throw MIIError.unsupported("modules.json: sentence-transformers module '\(type)' is not supported (Transformer, Pooling, Normalize)")
            }
        }
        guard sawTransformer else {
            throw MIIError.unsupported("modules.json has no Transformer module")
        }
        self.init(pooling: pooling ?? [.mean], includePrompt: includePrompt, normalize: normalize, maxSequenceLength: maxLen)
    }

    static func maxSeqLength(_ c: HFConfig) throws -> Int? {
        guard let n = try c.int("max_seq_length") else { return nil }
        guard n > 0 && n <= Limits.maxContext else {
            throw MIIError.format("\(c.context): max_seq_length \(n) is out of range")
        }
        return n
    }

    /// The Pooling module's config: `pooling_mode` (a name or a list of names, sentence-transformers
    /// 6) or the older `pooling_mode_*_token(s)` booleans, and `include_prompt`.
    static func poolingConfig(_ c: HFConfig) throws -> ([PoolingMode], Bool) {
        let include = try c.bool("include_prompt") ?? true
        if let v = c["pooling_mode"] {
            let names: [String]
            if let s = v.string { names = [s] } else { names = try c.stringList("pooling_mode") }
            guard !names.isEmpty else { throw MIIError.format("\(c.context): 'pooling_mode' is empty") }
            let modes = try names.map { n -> PoolingMode in
                guard let m = PoolingMode(rawValue: n) else {
                    throw MIIError.unsupported("\(c.context): pooling mode '\(n)' is not supported (\(PoolingMode.allCases.map(\.rawValue).joined(separator: ", ")))")
                }
                return m
            }
            return (modes, include)
        }
        // Legacy booleans, in sentence-transformers' concatenation order.
        let legacy: [(String, PoolingMode)] = [
            ("pooling_mode_cls_token", .cls), ("pooling_mode_max_tokens", .max),
            ("pooling_mode_mean_tokens", .mean), ("pooling_mode_mean_sqrt_len_tokens", .meanSqrtLen),
            ("pooling_mode_weightedmean_tokens", .weightedMean), ("pooling_mode_lasttoken", .lastToken),
        ]
        var modes: [PoolingMode] = []
        for (key, mode) in legacy where try c.bool(key) == true { modes.append(mode) }
        return (modes.isEmpty ? [.mean] : modes, include)
    }

    /// The sentence embedding of one sequence's hidden states `[n, hiddenSize]`. `promptLength`
    /// leading tokens are a prompt (instruction): left out of the pooling when `includePrompt` is false.
    public func embed(hidden: [Float], hiddenSize d: Int, promptLength: Int = 0) throws -> [Float] {
        guard d > 0, !hidden.isEmpty, hidden.count % d == 0 else {
            throw MIIError.argument("hidden states hold \(hidden.count) values, not a positive multiple of \(d)")
        }
        let n = hidden.count / d
        guard promptLength >= 0 && promptLength <= n else {
            throw MIIError.argument("prompt length \(promptLength) is outside 0...\(n)")
        }
        // Tokens that take part: [first, n). sentence-transformers keeps the first token for cls
        // pooling when the prompt covers the whole sequence.
        let skip = includePrompt ? 0 : promptLength
        let count = n - skip
        var out: [Float] = []
        out.reserveCapacity(pooling.count * d)
        for mode in pooling {
            switch mode {
            case .cls:
                let r = skip < n ? skip : 0
                out += hidden[(r * d)..<((r + 1) * d)]
            case .lastToken:
                out += hidden[((n - 1) * d)..<(n * d)]
            case .max:
                var m = [Float](repeating: count > 0 ? -.infinity : 0, count: d)
                for t in skip..<n {
                    for i in 0..<d where hidden[t * d + i] > m[i] { m[i] = hidden[t * d + i] }
                }
                out += m
            case .mean, .meanSqrtLen:
                var s = [Float](repeating: 0, count: d)
                for t in skip..<n { for i in 0..<d { s[i] += hidden[t * d + i] } }
                let denom = Swift.max(Float(count), 1e-9)
                let div = mode == .mean ? denom : denom.squareRoot()
                out += s.map { $0 / div }
            case .weightedMean:
                var s = [Float](repeating: 0, count: d)
                var wsum: Float = 0
                for t in skip..<n {
                    let w = Float(t + 1)
                    wsum += w
                    for i in 0..<d { s[i] += w * hidden[t * d + i] }
                }
                let div = Swift.max(wsum, 1e-9)
                out += s.map { $0 / div }
            }
        }
        if normalize {
            var ss: Float = 0
            for v in out { ss += v * v }
            let inv = 1 / Swift.max(ss.squareRoot(), 1e-12)
            for i in out.indices { out[i] *= inv }
        }
        return out
    }
}

extension EncoderNetwork {
    /// Sentence embeddings of several tokenized sentences (packed encoder passes). Tokenize with
    /// truncation to `config.maxSequenceLength` (sentence-transformers' limit, special tokens
    /// included) to match sentence-transformers on long inputs.
    public func sentenceEmbeddings(_ batch: [EncoderInput], config: SentenceEmbeddingConfig, pool: ThreadPool,
                                   mode: PrecisionMode = .precise, promptLength: Int = 0,
                                   shouldCancel: () -> Bool = { false }) throws -> [[Float]] {
        let hidden = try hiddenStates(batch: batch, pool: pool, mode: mode, shouldCancel: shouldCancel)
        return try hidden.map { try config.embed(hidden: $0, hiddenSize: hiddenSize, promptLength: promptLength) }
    }
}
