/// GPT-J (`model_type: gptj`): one LayerNorm feeding attention and MLP in parallel, interleaved
/// ("rotate every two") RoPE on the first `rotary_dim` elements of each head, q/k/v/out without
/// biases, separate output head with a bias. llama.cpp names a `gptj` architecture but its converter
/// writes no such files, so there is no GGUF loader.
enum GPTJ {
    static func loadHF(_ f: HFFolder) throws -> LanguageModelNetwork {
        let c = f.config
        let w = f.weights
        let nEmbd = try c.requireInt("n_embd")
        let nHead = try c.requireInt("n_head")
        let nLayer = try c.requireInt("n_layer")
        guard nHead > 0, nHead <= Limits.maxHeads, nEmbd > 0, nEmbd % nHead == 0 else {
            throw MIIError.format("config.json: n_embd \(nEmbd) is not a positive multiple of n_head \(nHead)")
        }
        let headDim = nEmbd / nHead
        var cfg = GPTConfig(
            architecture: "gptj", nLayer: nLayer, nEmbd: nEmbd,
            nFF: try c.int("n_inner") ?? 4 * nEmbd, nHead: nHead,
            nVocab: try c.requireInt("vocab_size"),
            contextLength: try c.int("n_positions") ?? 2048,
            normEps: Float(try c.double("layer_norm_epsilon") ?? 1e-5),
            positions: .rotary(dims: try c.int("rotary_dim") ?? headDim, base: 10000, interleaved: true),
            activation: try .fromHF(c.string("activation_function") ?? "gelu_new", context: "config.json"),
            qkvLayout: .separate,
            attnScale: 1 / Float(headDim).squareRoot(),
            layerWindows: Array(repeating: nil, count: max(0, min(nLayer, Limits.maxLayers))),
            embedDim: nEmbd,
            tiedEmbeddings: try c.bool("tie_word_embeddings") ?? false)
        cfg.parallelResidual = true
        try cfg.validate()
        let tensors = RenamedTensors(base: w) { name in
            switch name {
            case "token_embd.weight": return .init(name: "transformer.wte.weight")
            case "output_norm.weight": return .init(name: "transformer.ln_f.weight")
            case "output_norm.bias": return .init(name: "transformer.ln_f.bias")
            case "output.weight": return .init(name: "lm_head.weight")
            case "output.bias": return .init(name: "lm_head.bias")
            default: break
            }
            guard let (i, rest) = splitLayerName(name) else { return nil }
            let h = "transformer.h.\(i)."
            let part: String
            switch rest {
            case "attn_norm.weight": part = "ln_1.weight"
            case "attn_norm.bias": part = "ln_1.bias"
            case "attn_q.weight": part = "attn.q_proj.weight"
            case "attn_k.weight": part = "attn.k_proj.weight"
            case "attn_v.weight": part = "attn.v_proj.weight"
            case "attn_output.weight": part = "attn.out_proj.weight"
            case "ffn_up.weight": part = "mlp.fc_in.weight"
            case "ffn_up.bias": part = "mlp.fc_in.bias"
            case "ffn_down.weight": part = "mlp.fc_out.weight"
            case "ffn_down.bias": part = "mlp.fc_out.bias"
            default: return nil
            }
            return .init(name: h + part)
        }
        return try GPTDecoder(config: cfg, tensors: tensors)
    }
}
