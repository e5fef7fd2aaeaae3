/// Which elements RoPE rotates together.
public enum RopePairing: String, Sendable {
    /// (x[2i], x[2i+1]): GGUF `llama` files, whose Q/K rows llama.cpp's converter permuted.
    case adjacent
    /// (x[i], x[i + d/2]): Hugging Face "rotate half" (GGUF qwen2, phi3, gptneox, ...).
    case half
}

/// Shapes and hyper-parameters of a decoder-only transformer of the Llama family.
public struct DecoderConfig: Sendable {
    public var architecture: String
    public var nLayer: Int
    public var nEmbd: Int
    public var nFF: Int
    public var nHead: Int
    public var nHeadKV: Int
    public var headDim: Int
    public var nVocab: Int
    public var contextLength: Int
    public var normEps: Float
    public var ropeBase: Float
    public var ropeDims: Int
    public var ropePairing: RopePairing
    /// Linear position scaling (positions divided by this factor); 1 when absent.
    public var ropeLinearScale: Float
    public var tiedEmbeddings: Bool
    /// Attention sees only the last `slidingWindow` positions (Mistral); nil: the whole context.
    public var slidingWindow: Int? = nil
    /// Llama-3.1-style frequency-dependent scaling of the RoPE frequencies (`rope_type: llama3`).
    public var ropeLlama3: RopeLlama3Scaling? = nil

    public var qDim: Int { nHead * headDim }
    public var kvDim: Int { nHeadKV * headDim }

    /// Checks the fields against each other and against the limits. Called by every loader.
    public func validate() throws {
        func positive(_ v: Int, _ name: String, max: Int) throws {
            if v <= 0 || v > max {
                throw MIIError.format("\(architecture): \(name) = \(v) is out of range (1...\(max))")
            }
        }
        try positive(nLayer, "block_count", max: Limits.maxLayers)
        try positive(nEmbd, "embedding_length", max: Limits.maxWidth)
        try positive(nFF, "feed_forward_length", max: Limits.maxWidth)
        try positive(nHead, "attention.head_count", max: Limits.maxHeads)
        try positive(nHeadKV, "attention.head_count_kv", max: Limits.maxHeads)
        try positive(headDim, "head dimension", max: Limits.maxWidth)
        try positive(nVocab, "vocabulary size", max: Limits.maxVocab)
        try positive(contextLength, "context_length", max: Limits.maxContext)
        if nHead % nHeadKV != 0 {
            throw MIIError.format("\(architecture): head_count \(nHead) is not a multiple of head_count_kv \(nHeadKV)")
        }
        if ropeDims <= 0 || ropeDims > headDim || ropeDims % 2 != 0 {
            throw MIIError.format("\(architecture): rope.dimension_count \(ropeDims) must be even and at most the head dimension \(headDim)")
        }
        if !(normEps > 0 && normEps < 1) {
            throw MIIError.format("\(architecture): norm epsilon \(normEps) is out of range")
        }
        if !(ropeBase.isFinite && ropeBase > 1) {
            throw MIIError.format("\(architecture): rope.freq_base \(ropeBase) is out of range")
        }
        if !(ropeLinearScale.isFinite && ropeLinearScale > 0) {
            throw MIIError.format("\(architecture): rope scaling factor \(ropeLinearScale) is out of range")
        }
        if let w = slidingWindow, w <= 0 {
            throw MIIError.format("\(architecture): sliding_window \(w) must be positive")
        }
        if let r = ropeLlama3 {
            guard r.factor.isFinite, r.factor >= 1, r.lowFreqFactor.isFinite, r.lowFreqFactor > 0,
                  r.highFreqFactor.isFinite, r.highFreqFactor > r.lowFreqFactor,
                  r.originalContext > 0, r.originalContext <= Limits.maxContext else {
                throw MIIError.format("\(architecture): llama3 rope scaling parameters are out of range")
            }
        }
    }
}

/// Parameters of `rope_type: llama3` (Hugging Face `_compute_llama3_parameters`): wavelengths longer
/// than original_context/low_freq_factor are divided by `factor`, shorter than
/// original_context/high_freq_factor are kept, and the band between is interpolated.
public struct RopeLlama3Scaling: Sendable {
    public var factor: Double
    public var lowFreqFactor: Double
    public var highFreqFactor: Double
    public var originalContext: Int

    func apply(_ invFreq: Double) -> Double {
        let wavelen = 2 * Double.pi / invFreq
        let lowWavelen = Double(originalContext) / lowFreqFactor
        let highWavelen = Double(originalContext) / highFreqFactor
        if wavelen > lowWavelen { return invFreq / factor }
        if wavelen < highWavelen { return invFreq }
        let smooth = (Double(originalContext) / wavelen - lowFreqFactor) / (highFreqFactor - lowFreqFactor)
        return (1 - smooth) * invFreq / factor + smooth * invFreq
    }
}

extension DecoderConfig {
    /// Reads a Hugging Face config.json of the Llama family (llama, mistral, qwen2, phi3).
    /// `rope_theta`/`rope_scaling` (older files) and `rope_parameters` (transformers 5) are both read.
    static func fromHF(_ c: HFConfig, arch: String, hasLMHead: Bool) throws -> DecoderConfig {
        let nEmbd = try c.requireInt("hidden_size")
        let nHead = try c.requireInt("num_attention_heads")
        if nHead <= 0 || nHead > Limits.maxHeads {
            throw MIIError.format("config.json: num_attention_heads = \(nHead) is out of range")
        }
        let headDim: Int
        if let hd = try c.int("head_dim") {
            headDim = hd
        } else {
            if nEmbd % nHead != 0 {
                throw MIIError.format("config.json: hidden_size \(nEmbd) is not a multiple of num_attention_heads \(nHead)")
            }
            headDim = nEmbd / nHead
        }
        if let act = try c.string("hidden_act"), act != "silu" && act != "swish" {
            throw MIIError.unsupported("config.json: hidden_act '\(act)' is not supported for \(arch) (silu only)")
        }
        if try c.bool("mlp_bias") == true {
            throw MIIError.unsupported("config.json: mlp_bias = true is not supported for \(arch)")
        }
        let rope = try c.object("rope_parameters") ?? c.object("rope_scaling")
        let base = try rope?.double("rope_theta") ?? c.double("rope_theta") ?? 10000
        var scale: Float = 1
        var llama3: RopeLlama3Scaling? = nil
        if let rope {
            let type = try rope.string("rope_type") ?? rope.string("type") ?? "default"
            switch type {
            case "default": break
            case "linear":
                scale = Float(try rope.double("factor") ?? 1)
            case "llama3":
                llama3 = RopeLlama3Scaling(
                    factor: try rope.double("factor") ?? 1,
                    lowFreqFactor: try rope.double("low_freq_factor") ?? 1,
                    highFreqFactor: try rope.double("high_freq_factor") ?? 4,
                    originalContext: try rope.int("original_max_position_embeddings") ?? 8192)
            default:
                throw MIIError.unsupported("config.json: rope type '\(type)' is not supported (default, linear, llama3)")
            }
        }
        let partial = try rope?.double("partial_rotary_factor") ?? c.double("partial_rotary_factor") ?? 1
        guard partial > 0 && partial <= 1 else {
            throw MIIError.format("config.json: partial_rotary_factor \(partial) is out of range")
        }
        var window: Int? = nil
        if let w = try c.int("sliding_window"), try c.bool("use_sliding_window") ?? true {
            window = w
        }
        let tieDefault = !hasLMHead
        var cfg = DecoderConfig(
            architecture: arch,
            nLayer: try c.requireInt("num_hidden_layers"),
            nEmbd: nEmbd,
            nFF: try c.requireInt("intermediate_size"),
            nHead: nHead,
            nHeadKV: try c.int("num_key_value_heads") ?? nHead,
            headDim: headDim,
            nVocab: try c.requireInt("vocab_size"),
            contextLength: try c.int("max_position_embeddings") ?? 2048,
            normEps: Float(try c.double("rms_norm_eps") ?? 1e-6),
            ropeBase: Float(base),
            ropeDims: Int((Double(headDim) * partial).rounded(.down)),
            ropePairing: .half,
            ropeLinearScale: scale,
            tiedEmbeddings: try c.bool("tie_word_embeddings") ?? tieDefault)
        cfg.slidingWindow = window
        cfg.ropeLlama3 = llama3
        try cfg.validate()
        return cfg
    }

    /// Reads the `{arch}.*` hyper-parameters of a GGUF file.
    static func fromGGUF(_ g: GGUFFile, arch: String, pairing: RopePairing) throws -> DecoderConfig {
        let nEmbd = try g.requireInt("\(arch).embedding_length")
        let nHead = try g.requireInt("\(arch).attention.head_count")
        let nHeadKV = try g.int("\(arch).attention.head_count_kv") ?? nHead
        if nHead <= 0 || nHead > Limits.maxHeads {
            throw MIIError.format("\(arch): attention.head_count = \(nHead) is out of range")
        }
        let headDim = try g.int("\(arch).attention.key_length") ?? (nEmbd / nHead)
        if try g.int("\(arch).attention.key_length") == nil && nEmbd % nHead != 0 {
            throw MIIError.format("\(arch): embedding_length \(nEmbd) is not a multiple of head_count \(nHead)")
        }
        if let vl = try g.int("\(arch).attention.value_length"), vl != headDim {
            throw MIIError.unsupported("\(arch): value_length \(vl) differs from key_length \(headDim)")
        }
        var scale: Float = 1
        if let type = try g.string("\(arch).rope.scaling.type") {
            switch type {
            case "none": break
            case "linear":
                scale = Float(try g.float("\(arch).rope.scaling.factor") ?? 1)
            default:
                throw MIIError.unsupported("\(arch): rope scaling type '\(type)' is not supported")
            }
        } else if let f = try g.float("\(arch).rope.scale_linear") {
            scale = Float(f)
        }
        let nVocab: Int
        if let t = g.tensor("token_embd.weight"), t.dims.count == 2 {
            nVocab = Int(t.dims[1])
        } else {
            throw MIIError.format("\(arch): tensor token_embd.weight is missing or not 2-D")
        }
        let cfg = DecoderConfig(
            architecture: arch,
            nLayer: try g.requireInt("\(arch).block_count"),
            nEmbd: nEmbd,
            nFF: try g.requireInt("\(arch).feed_forward_length"),
            nHead: nHead,
            nHeadKV: nHeadKV,
            headDim: headDim,
            nVocab: nVocab,
            contextLength: try g.requireInt("\(arch).context_length"),
            normEps: Float(try g.float("\(arch).attention.layer_norm_rms_epsilon") ?? 1e-5),
            ropeBase: Float(try g.float("\(arch).rope.freq_base") ?? 10000),
            ropeDims: try g.int("\(arch).rope.dimension_count") ?? headDim,
            ropePairing: pairing,
            ropeLinearScale: scale,
            tiedEmbeddings: g.tensor("output.weight") == nil
        )
        try cfg.validate()
        return cfg
    }
}
