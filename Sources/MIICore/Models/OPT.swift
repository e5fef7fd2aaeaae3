/// OPT and Galactica (`model_type: opt`): learned positions offset by 2, ReLU MLP, biases, pre-norm
/// (or post-norm without a final norm when `do_layer_norm_before` is false, as in OPT-350m), and
/// `word_embed_proj_dim` embeddings narrower than the model with project_in / project_out. Tied head.
/// llama.cpp has no OPT architecture, so there is no GGUF loader.
enum OPT {
    static func loadHF(_ f: HFFolder) throws -> LanguageModelNetwork {
        let c = f.config
        let w = f.weights
        let nEmbd = try c.requireInt("hidden_size")
        let nHead = try c.requireInt("num_attention_heads")
        let nLayer = try c.requireInt("num_hidden_layers")
        guard nHead > 0, nHead <= Limits.maxHeads, nEmbd > 0, nEmbd % nHead == 0 else {
            throw MIIError.format("config.json: hidden_size \(nEmbd) is not a positive multiple of num_attention_heads \(nHead)")
        }
        let pre = try checkpointPrefix(w, probe: "decoder.embed_tokens.weight", candidates: ["model.", ""]) + "decoder."
        let preNorm = try c.bool("do_layer_norm_before") ?? true
        var cfg = GPTConfig(
            architecture: "opt", nLayer: nLayer, nEmbd: nEmbd,
            nFF: try c.requireInt("ffn_dim"), nHead: nHead,
            nVocab: try c.requireInt("vocab_size"),
            contextLength: try c.int("max_position_embeddings") ?? 2048,
            normEps: 1e-5,    // nn.LayerNorm's default: OPT configs carry no epsilon
            positions: .learned(offset: 2),
            activation: try .fromHF(c.string("activation_function") ?? "relu", context: "config.json"),
            qkvLayout: .separate,
            attnScale: 1 / Float(nEmbd / nHead).squareRoot(),
            layerWindows: Array(repeating: nil, count: max(0, min(nLayer, Limits.maxLayers))),
            embedDim: try c.int("word_embed_proj_dim") ?? nEmbd,
            tiedEmbeddings: try c.bool("tie_word_embeddings") ?? (w.lookup("lm_head.weight") == nil))
        cfg.preNorm = preNorm
        cfg.normsWithoutParameters = !(try c.bool("layer_norm_elementwise_affine") ?? true)
        let removeFinal = try c.bool("_remove_final_layer_norm") ?? false
        cfg.finalNorm = preNorm && !removeFinal
        try cfg.validate()
        let tensors = RenamedTensors(base: w) { name in
            switch name {
            case "token_embd.weight": return .init(name: pre + "embed_tokens.weight")
            case "position_embd.weight": return .init(name: pre + "embed_positions.weight")
            case "proj_in.weight": return .init(name: pre + "project_in.weight")
            case "proj_out.weight": return .init(name: pre + "project_out.weight")
            case "output_norm.weight": return .init(name: pre + "final_layer_norm.weight")
            case "output_norm.bias": return .init(name: pre + "final_layer_norm.bias")
            case "output.weight": return .init(name: "lm_head.weight")
            default: break
            }
            guard let (i, rest) = splitLayerName(name) else { return nil }
            let h = "\(pre)layers.\(i)."
            let part: String
            switch rest {
            case "attn_norm.weight": part = "self_attn_layer_norm.weight"
            case "attn_norm.bias": part = "self_attn_layer_norm.bias"
            case "attn_q.weight": part = "self_attn.q_proj.weight"
            case "attn_q.bias": part = "self_attn.q_proj.bias"
            case "attn_k.weight": part = "self_attn.k_proj.weight"
            case "attn_k.bias": part = "self_attn.k_proj.bias"
            case "attn_v.weight": part = "self_attn.v_proj.weight"
            case "attn_v.bias": part = "self_attn.v_proj.bias"
            case "attn_output.weight": part = "self_attn.out_proj.weight"
            case "attn_output.bias": part = "self_attn.out_proj.bias"
            case "ffn_norm.weight": part = "final_layer_norm.weight"
            case "ffn_norm.bias": part = "final_layer_norm.bias"
            case "ffn_up.weight": part = "fc1.weight"
            case "ffn_up.bias": part = "fc1.bias"
            case "ffn_down.weight": part = "fc2.weight"
            case "ffn_down.bias": part = "fc2.bias"
            default: return nil
            }
            return .init(name: h + part)
        }
        return try GPTDecoder(config: cfg, tensors: tensors)
    }
}
