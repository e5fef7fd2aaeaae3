/// GPT-Neo (`model_type: gpt_neo`): GPT-2's block with separate q/k/v (no biases), learned positions,
/// global and local (last `window_size` positions) attention layers, and attention scores that are
/// *not* scaled by 1/sqrt(head_dim). Tied head. llama.cpp has no GPT-Neo architecture.
enum GPTNeo {
    static func loadHF(_ f: HFFolder) throws -> LanguageModelNetwork {
        let c = f.config
        let w = f.weights
        let nEmbd = try c.requireInt("hidden_size")
        let nHead = try c.requireInt("num_heads")
        let nLayer = try c.requireInt("num_layers")
        guard nHead > 0, nHead <= Limits.maxHeads, nEmbd > 0, nEmbd % nHead == 0 else {
            throw MIIError.format("config.json: hidden_size \(nEmbd) is not a positive multiple of num_heads \(nHead)")
        }
        let window = try c.int("window_size") ?? 256
        let windows = try layerTypes(c, nLayer: nLayer).map { type -> Int? in
            switch type {
            case "global": return nil
            case "local": return window
            default: throw MIIError.unsupported("config.json: attention type '\(type)' is not supported (global, local)")
            }
        }
        let pre = try checkpointPrefix(w, probe: "wte.weight", candidates: ["transformer.", ""])
        let cfg = GPTConfig(
            architecture: "gpt_neo", nLayer: nLayer, nEmbd: nEmbd,
            nFF: try c.int("intermediate_size") ?? 4 * nEmbd, nHead: nHead,
            nVocab: try c.requireInt("vocab_size"),
            contextLength: try c.int("max_position_embeddings") ?? 2048,
            normEps: Float(try c.double("layer_norm_epsilon") ?? 1e-5),
            positions: .learned(offset: 0),
            activation: try .fromHF(c.string("activation_function") ?? "gelu_new", context: "config.json"),
            qkvLayout: .separate,
            attnScale: 1,
            layerWindows: windows,
            embedDim: nEmbd,
            tiedEmbeddings: try c.bool("tie_word_embeddings") ?? (w.lookup("lm_head.weight") == nil))
        try cfg.validate()
        let tensors = RenamedTensors(base: w) { name in
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
            let part: String
            switch rest {
            case "attn_norm.weight": part = "ln_1.weight"
            case "attn_norm.bias": part = "ln_1.bias"
            case "attn_q.weight": part = "attn.attention.q_proj.weight"
            case "attn_k.weight": part = "attn.attention.k_proj.weight"
            case "attn_v.weight": part = "attn.attention.v_proj.weight"
            case "attn_output.weight": part = "attn.attention.out_proj.weight"
            case "attn_output.bias": part = "attn.attention.out_proj.bias"
            case "ffn_norm.weight": part = "ln_2.weight"
            case "ffn_norm.bias": part = "ln_2.bias"
            case "ffn_up.weight": part = "mlp.c_fc.weight"
            case "ffn_up.bias": part = "mlp.c_fc.bias"
            case "ffn_down.weight": part = "mlp.c_proj.weight"
            case "ffn_down.bias": part = "mlp.c_proj.bias"
            default: return nil
            }
            return .init(name: h + part)
        }
        return try GPTDecoder(config: cfg, tensors: tensors)
    }

    /// `attention_types: [[["global", "local"], 12]]` -> the pattern repeated, one entry per layer.
    static func layerTypes(_ c: HFConfig, nLayer: Int) throws -> [String] {
        guard let spec = c["attention_types"]?.array else {
            if let flat = c["attention_layers"], flat.array != nil {
                let l = try c.stringList("attention_layers")
                guard l.count == nLayer else {
                    throw MIIError.format("config.json: attention_layers has \(l.count) entries for \(nLayer) layers")
                }
                return l
            }
            throw MIIError.format("config.json: 'attention_types' is missing or not a list")
        }
        var out: [String] = []
        for entry in spec {
            guard let pair = entry.array, pair.count == 2, let types = pair[0].array,
                  let reps = pair[1].int, reps >= 0, reps <= Int64(Limits.maxLayers) else {
                throw MIIError.format("config.json: attention_types entry \(entry) is not [[types...], count]")
            }
            let names = try types.map { t -> String in
                guard let s = t.string else { throw MIIError.format("config.json: attention type \(t) is not a string") }
                return s
            }
            for _ in 0..<Int(reps) {
                out += names
                if out.count > Limits.maxLayers { throw MIIError.format("config.json: attention_types lists too many layers") }
            }
        }
        guard out.count == nLayer else {
            throw MIIError.format("config.json: attention_types describes \(out.count) layers, num_layers is \(nLayer)")
        }
        return out
    }
}
