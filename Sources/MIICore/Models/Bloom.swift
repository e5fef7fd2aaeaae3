/// BLOOM (`model_type: bloom`, GGUF `bloom`): ALiBi instead of positions, LayerNorm on the word
/// embeddings, fused query_key_value, tanh GELU, tied head. The Hugging Face matrix interleaves its
/// rows per head ([head][q, k, v][head_dim]) and is used in place with that layout; llama.cpp's
/// converter reorders it to q|k|v.
enum Bloom {
    static func loadHF(_ f: HFFolder) throws -> LanguageModelNetwork {
        let c = f.config
        let w = f.weights
        let nEmbd = try c.requireInt(anyOf: ["hidden_size", "n_embed"])
        let nHead = try c.requireInt(anyOf: ["n_head", "num_attention_heads"])
        let nLayer = try c.requireInt(anyOf: ["n_layer", "num_hidden_layers"])
        guard nHead > 0, nHead <= Limits.maxHeads, nEmbd > 0, nEmbd % nHead == 0 else {
            throw MIIError.format("config.json: hidden_size \(nEmbd) is not a positive multiple of n_head \(nHead)")
        }
        let pre = try checkpointPrefix(w, probe: "word_embeddings.weight", candidates: ["transformer.", ""])
        var cfg = GPTConfig(
            architecture: "bloom", nLayer: nLayer, nEmbd: nEmbd, nFF: 4 * nEmbd, nHead: nHead,
            nVocab: try c.requireInt("vocab_size"),
            contextLength: try c.int("seq_length") ?? 2048,
            normEps: Float(try c.double("layer_norm_epsilon") ?? 1e-5),
            positions: .alibi, activation: .geluTanh, qkvLayout: .fusedPerHead,
            attnScale: 1 / Float(nEmbd / nHead).squareRoot(),
            layerWindows: Array(repeating: nil, count: max(0, min(nLayer, Limits.maxLayers))),
            embedDim: nEmbd,
            tiedEmbeddings: try c.bool("tie_word_embeddings") ?? (w.lookup("lm_head.weight") == nil))
        cfg.embeddingNorm = true
        cfg.residualFromNorm = try c.bool("apply_residual_connection_post_layernorm") ?? false
        try cfg.validate()
        let tensors = RenamedTensors(base: w) { name in
            switch name {
            case "token_embd.weight": return .init(name: pre + "word_embeddings.weight")
            case "token_embd_norm.weight": return .init(name: pre + "word_embeddings_layernorm.weight")
            case "token_embd_norm.bias": return .init(name: pre + "word_embeddings_layernorm.bias")
            case "output_norm.weight": return .init(name: pre + "ln_f.weight")
            case "output_norm.bias": return .init(name: pre + "ln_f.bias")
            case "output.weight": return .init(name: "lm_head.weight")
            default: break
            }
            guard let (i, rest) = splitLayerName(name) else { return nil }
            let h = "\(pre)h.\(i)."
            let part: String
            switch rest {
            case "attn_norm.weight": part = "input_layernorm.weight"
            case "attn_norm.bias": part = "input_layernorm.bias"
            case "attn_qkv.weight": part = "self_attention.query_key_value.weight"
            case "attn_qkv.bias": part = "self_attention.query_key_value.bias"
            case "attn_output.weight": part = "self_attention.dense.weight"
            case "attn_output.bias": part = "self_attention.dense.bias"
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

    static func loadGGUF(_ g: GGUFFile, _ tensors: TensorSource) throws -> LanguageModelNetwork {
        let cfg = try GPTConfig.fromGGUF(g, arch: "bloom", positions: .alibi, activation: .geluTanh, embeddingNorm: true)
        return try GPTDecoder(config: cfg, tensors: tensors)
    }
}
