/// GPT-2 (`model_type: gpt2`, GGUF `gpt2`): learned positions, fused c_attn, gelu_new, tied head.
/// The Hugging Face checkpoint stores its Conv1D weights as [in, out]; they are transposed once at
/// load into memory the network owns (llama.cpp's converter does the same transpose, so GGUF `gpt2`
/// files are used in place, quantized or not).
enum GPT2 {
    static func loadHF(_ f: HFFolder) throws -> LanguageModelNetwork {
        let c = f.config
        let w = f.weights
        if try c.bool("add_cross_attention") == true {
            throw MIIError.unsupported("config.json: add_cross_attention = true (an encoder-decoder GPT-2) is not supported")
        }
        // reorder_and_upcast_attn only changes where the scaling happens and the precision (float32
        // here anyway): same values.
        let nEmbd = try c.requireInt("n_embd")
        let nHead = try c.requireInt("n_head")
        let nLayer = try c.requireInt("n_layer")
        guard nHead > 0, nHead <= Limits.maxHeads, nEmbd > 0, nEmbd % nHead == 0 else {
            throw MIIError.format("config.json: n_embd \(nEmbd) is not a positive multiple of n_head \(nHead)")
        }
        let pre = try checkpointPrefix(w, probe: "wte.weight", candidates: ["transformer.", ""])
        let hasHead = w.lookup("lm_head.weight") != nil
        var cfg = GPTConfig(
            architecture: "gpt2", nLayer: nLayer, nEmbd: nEmbd,
            nFF: try c.int("n_inner") ?? 4 * nEmbd, nHead: nHead,
            nVocab: try c.requireInt("vocab_size"),
            contextLength: try c.int(anyOf: ["n_positions", "n_ctx"]) ?? 1024,
            normEps: Float(try c.double("layer_norm_epsilon") ?? 1e-5),
            positions: .learned(offset: 0),
            activation: try .fromHF(c.string("activation_function") ?? "gelu_new", context: "config.json"),
            qkvLayout: .fused,
            attnScale: try c.bool("scale_attn_weights") ?? true ? 1 / Float(nEmbd / nHead).squareRoot() : 1,
            layerWindows: Array(repeating: nil, count: max(0, min(nLayer, Limits.maxLayers))),
            embedDim: nEmbd,
            tiedEmbeddings: try c.bool("tie_word_embeddings") ?? !hasHead)
        cfg.scaleByInverseLayer = try c.bool("scale_attn_by_inverse_layer_idx") ?? false
        try cfg.validate()

        let owned = OwnedTensors(base: w)
        for i in 0..<nLayer {
            let h = "\(pre)h.\(i)."
            try owned.addTransposed("blk.\(i).attn_qkv.weight", from: h + "attn.c_attn.weight")
            try owned.addTransposed("blk.\(i).attn_output.weight", from: h + "attn.c_proj.weight")
            try owned.addTransposed("blk.\(i).ffn_up.weight", from: h + "mlp.c_fc.weight")
            try owned.addTransposed("blk.\(i).ffn_down.weight", from: h + "mlp.c_proj.weight")
        }
        let tensors = RenamedTensors(base: owned) { name in
            switch name {
            case "token_embd.weight": return .init(name: pre + "wte.weight")
            case "position_embd.weight": return .init(name: pre + "wpe.weight")
            case "output_norm.weight": return .init(name: pre + "ln_f.weight")
            case "output_norm.bias": return .init(name: pre + "ln_f.bias")
            case "output.weight": return .init(name: "lm_head.weight")
            default: break
            }
            guard let (i, rest) = splitLayerName(name) else { return nil }
            let h = "\(pre)h.\(i)."
            switch rest {
            case "attn_qkv.weight", "attn_output.weight", "ffn_up.weight", "ffn_down.weight": return .init(name: name)
            case "attn_norm.weight": return .init(name: h + "ln_1.weight")
            case "attn_norm.bias": return .init(name: h + "ln_1.bias")
            case "attn_qkv.bias": return .init(name: h + "attn.c_attn.bias")
            case "attn_output.bias": return .init(name: h + "attn.c_proj.bias")
            case "ffn_norm.weight": return .init(name: h + "ln_2.weight")
            case "ffn_norm.bias": return .init(name: h + "ln_2.bias")
            case "ffn_up.bias": return .init(name: h + "mlp.c_fc.bias")
            case "ffn_down.bias": return .init(name: h + "mlp.c_proj.bias")
            default: return nil
            }
        }
        return try GPTDecoder(config: cfg, tensors: tensors)
    }

    /// GGUF `gpt2` as llama.cpp's converter writes it (weights already [out, in], qkv rows q|k|v).
    static func loadGGUF(_ g: GGUFFile, _ tensors: TensorSource) throws -> LanguageModelNetwork {
        let cfg = try GPTConfig.fromGGUF(g, arch: "gpt2", positions: .learned(offset: 0), activation: .geluTanh)
        return try GPTDecoder(config: cfg, tensors: tensors)
    }
}

extension GPTConfig {
    /// The `{arch}.*` hyper-parameters llama.cpp writes for the GPT family; the vocabulary size and
    /// tied head come from the tensors.
    static func fromGGUF(_ g: GGUFFile, arch: String, positions: Positions, activation: Activation,
                         parallelResidual: Bool = false, embeddingNorm: Bool = false) throws -> GPTConfig {
        let nEmbd = try g.requireInt("\(arch).embedding_length")
        let nHead = try g.requireInt("\(arch).attention.head_count")
        let nLayer = try g.requireInt("\(arch).block_count")
        if let kv = try g.int("\(arch).attention.head_count_kv"), kv != nHead {
            throw MIIError.unsupported("\(arch): head_count_kv \(kv) differs from head_count \(nHead)")
        }
        guard nHead > 0, nHead <= Limits.maxHeads, nEmbd > 0, nEmbd % nHead == 0 else {
            throw MIIError.format("\(arch): embedding_length \(nEmbd) is not a positive multiple of head_count \(nHead)")
        }
        guard let t = g.tensor("token_embd.weight"), t.dims.count == 2 else {
            throw MIIError.format("\(arch): tensor token_embd.weight is missing or not 2-D")
        }
        let cfg = GPTConfig(
            architecture: arch, nLayer: nLayer, nEmbd: nEmbd,
            nFF: try g.requireInt("\(arch).feed_forward_length"), nHead: nHead,
            nVocab: Int(t.dims[1]),
            contextLength: try g.requireInt("\(arch).context_length"),
            normEps: Float(try g.float("\(arch).attention.layer_norm_epsilon") ?? 1e-5),
            positions: positions, activation: activation, qkvLayout: .fused,
            attnScale: 1 / Float(nEmbd / nHead).squareRoot(),
            layerWindows: Array(repeating: nil, count: max(0, min(nLayer, Limits.maxLayers))),
            parallelResidual: parallelResidual, embeddingNorm: embeddingNorm,
            embedDim: nEmbd,
            tiedEmbeddings: g.tensor("output.weight") == nil)
        try cfg.validate()
        return cfg
    }
}
