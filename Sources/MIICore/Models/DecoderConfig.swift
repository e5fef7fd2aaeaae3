/// Which elements RoPE rotates together.
public enum RopePairing: String, Sendable {
    /// (x[2i], x[2i+1]): GGUF `llama` files, whose Q/K rows llama.cpp's converter permuted.
    case adjacent
    /// (x[i], x[i + d/2]): Hugging Face "rotate half" (GGUF qwen2, gptneox, ...).
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
    }
}

extension DecoderConfig {
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
