/// Phi-3: the Llama decoder with fused projections in the checkpoint. `qkv_proj` holds the query,
/// key and value rows one after another ([q_dim + 2 kv_dim, n_embd]) and `gate_up_proj` the gate then
/// the up rows ([2 n_ff, n_embd]); they are used in place as row ranges, not copied.
/// GGUF `phi3` files carry the same fused `attn_qkv` / `ffn_up` tensors.
enum Phi3 {
    static func loadHF(_ f: HFFolder) throws -> LanguageModelNetwork {
        let cfg = try DecoderConfig.fromHF(f.config, arch: "phi3",
                                           hasLMHead: f.weights.lookup("lm_head.weight") != nil)
        let tensors = RenamedTensors(base: f.weights) { name in
            switch name {
            case "token_embd.weight": return .init(name: "model.embed_tokens.weight")
            case "output_norm.weight": return .init(name: "model.norm.weight")
            case "output.weight": return .init(name: "lm_head.weight")
            default: break
            }
            guard let (i, rest) = splitLayerName(name) else { return nil }
            let p = "model.layers.\(i)."
            switch rest {
            case "attn_norm.weight": return .init(name: p + "input_layernorm.weight")
            case "ffn_norm.weight": return .init(name: p + "post_attention_layernorm.weight")
            case "attn_q.weight": return .init(name: p + "self_attn.qkv_proj.weight", rows: (0, cfg.qDim))
            case "attn_k.weight": return .init(name: p + "self_attn.qkv_proj.weight", rows: (cfg.qDim, cfg.kvDim))
            case "attn_v.weight":
                return .init(name: p + "self_attn.qkv_proj.weight", rows: (cfg.qDim + cfg.kvDim, cfg.kvDim))
            case "attn_output.weight": return .init(name: p + "self_attn.o_proj.weight")
            case "ffn_gate.weight": return .init(name: p + "mlp.gate_up_proj.weight", rows: (0, cfg.nFF))
            case "ffn_up.weight": return .init(name: p + "mlp.gate_up_proj.weight", rows: (cfg.nFF, cfg.nFF))
            case "ffn_down.weight": return .init(name: p + "mlp.down_proj.weight")
            default: return nil
            }
        }
        try checkFused(f.weights, cfg)
        return try LlamaDecoder(config: cfg, tensors: tensors)
    }

    /// The fused matrices must have exactly the rows their parts take: a larger tensor would
    /// otherwise load with its tail ignored.
    private static func checkFused(_ w: TensorSource, _ c: DecoderConfig) throws {
        for i in 0..<c.nLayer {
            for (name, rows) in [("self_attn.qkv_proj.weight", c.qDim + 2 * c.kvDim), ("mlp.gate_up_proj.weight", 2 * c.nFF)] {
                let full = "model.layers.\(i).\(name)"
                guard let t = w.lookup(full) else { throw MIIError.format("missing tensor '\(full)'") }
                guard t.dims.count == 2, t.dims[1] == Int64(rows), t.dims[0] == Int64(c.nEmbd) else {
                    throw MIIError.format("tensor '\(full)' has shape \(t.dims), expected [\(c.nEmbd), \(rows)]")
                }
            }
        }
    }
}
