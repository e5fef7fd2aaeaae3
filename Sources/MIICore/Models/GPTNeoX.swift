/// GPT-NeoX / Pythia (`model_type: gpt_neox`, GGUF `gptneox`): partial rotate-half RoPE, parallel
/// residual with two norms (or sequential), erf GELU, separate head. The Hugging Face query_key_value
/// matrix interleaves rows per head and is used in place with that layout; llama.cpp's converter
/// reorders it to q|k|v.
enum GPTNeoX {
    static func loadHF(_ f: HFFolder) throws -> LanguageModelNetwork {
        let c = f.config
        let w = f.weights
        let nEmbd = try c.requireInt("hidden_size")
        let nHead = try c.requireInt("num_attention_heads")
        let nLayer = try c.requireInt("num_hidden_layers")
        guard nHead > 0, nHead <= Limits.maxHeads, nEmbd > 0, nEmbd % nHead == 0 else {
            throw MIIError.format("config.json: hidden_size \(nEmbd) is not a positive multiple of num_attention_heads \(nHead)")
        }
        let headDim = nEmbd / nHead
        // transformers 5: rope_parameters; older files: rotary_pct / rotary_emb_base (or rope_scaling).
        let rope = try c.object("rope_parameters") ?? c.object("rope_scaling")
        if let type = try rope?.string("rope_type") ?? rope?.string("type"), type != "default" {
            throw MIIError.unsupported("config.json: rope type '\(type)' is not supported for gpt_neox (default only)")
        }
        let pct = try rope?.double("partial_rotary_factor") ?? c.double("rotary_pct") ?? 1
        let base = try rope?.double("rope_theta") ?? c.double("rotary_emb_base") ?? c.double("rope_theta") ?? 10000
        guard pct > 0 && pct <= 1 else { throw MIIError.format("config.json: rotary fraction \(pct) is out of range") }
        var cfg = GPTConfig(
            architecture: "gpt_neox", nLayer: nLayer, nEmbd: nEmbd,
            nFF: try c.requireInt("intermediate_size"), nHead: nHead,
            nVocab: try c.requireInt("vocab_size"),
            contextLength: try c.int("max_position_embeddings") ?? 2048,
            normEps: Float(try c.double("layer_norm_eps") ?? 1e-5),
            positions: .rotary(dims: Int((Double(headDim) * pct).rounded(.down)), base: Float(base), interleaved: false),
            activation: try .fromHF(c.string("hidden_act") ?? "gelu", context: "config.json"),
            qkvLayout: .fusedPerHead,
            attnScale: 1 / Float(headDim).squareRoot(),
            layerWindows: Array(repeating: nil, count: max(0, min(nLayer, Limits.maxLayers))),
            embedDim: nEmbd,
            tiedEmbeddings: try c.bool("tie_word_embeddings") ?? false)
        cfg.parallelResidual = try c.bool("use_parallel_residual") ?? true
        try cfg.validate()
        let tensors = RenamedTensors(base: w) { name in
            switch name {
            case "token_embd.weight": return .init(name: "gpt_neox.embed_in.weight")
            case "output_norm.weight": return .init(name: "gpt_neox.final_layer_norm.weight")
            case "output_norm.bias": return .init(name: "gpt_neox.final_layer_norm.bias")
            case "output.weight": return .init(name: "embed_out.weight")
            default: break
            }
            guard let (i, rest) = splitLayerName(name) else { return nil }
            let h = "gpt_neox.layers.\(i)."
            let part: String
            switch rest {
            case "attn_norm.weight": part = "input_layernorm.weight"
            case "attn_norm.bias": part = "input_layernorm.bias"
            case "attn_qkv.weight": part = "attention.query_key_value.weight"
            case "attn_qkv.bias": part = "attention.query_key_value.bias"
            case "attn_output.weight": part = "attention.dense.weight"
            case "attn_output.bias": part = "attention.dense.bias"
            case "ffn_norm.weight": part = "post_attention_layernorm.weight"
            case "ffn_norm.bias": part = "post_attention_layernorm.bias"
            case "ffn_up.weight": part = "mlp.dense_h_to_4h.weight"
            case "ffn_up.bias": part = "mlp.dense_h_to_4h.bias"
            case "ffn_down.weight": part = "mlp.dense_4h_to_h.weight"
            case "ffn_down.bias": part = "mlp.dense_4h_to_h.bias"
            default: return nil
            }
            return .init(name: h + part)
        }
        return try GPTDecoder(config: cfg, tensors: tensors)
    }

    /// GGUF `gptneox`. llama.cpp computes this architecture's MLP with the tanh GELU; Pythia and the
    /// other GPT-NeoX checkpoints were trained with the erf form (`hidden_act: gelu`), which is used here.
    static func loadGGUF(_ g: GGUFFile, _ tensors: TensorSource) throws -> LanguageModelNetwork {
        let arch = "gptneox"
        let nEmbd = try g.requireInt("\(arch).embedding_length")
        let nHead = try g.requireInt("\(arch).attention.head_count")
        let headDim = nHead > 0 ? nEmbd / nHead : 0
        let dims = try g.int("\(arch).rope.dimension_count") ?? headDim
        let base = Float(try g.float("\(arch).rope.freq_base") ?? 10000)
        let cfg = try GPTConfig.fromGGUF(g, arch: arch, positions: .rotary(dims: dims, base: base, interleaved: false),
                                         activation: .gelu,
                                         parallelResidual: try g.bool("\(arch).use_parallel_residual") ?? true)
        return try GPTDecoder(config: cfg, tensors: tensors)
    }
}
