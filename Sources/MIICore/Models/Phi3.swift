/// Phi-3: the Llama decoder with fused projections in the checkpoint. `qkv_proj` holds the query,
/// key and value rows one after another ([q_dim + 2 kv_dim, n_embd]) and `gate_up_proj` the gate then
/// the up rows ([2 n_ff, n_embd]); they are used in place as row ranges, not copied.
/// GGUF `phi3` files carry the same fused `attn_qkv` / `ffn_up` tensors.
enum Phi3 {
    /// GGUF `phi3` as llama.cpp's converter writes it: `blk.N.attn_qkv.weight` ([n_embd, q_dim + 2 kv_dim])
    /// and `blk.N.ffn_up.weight` holding the gate rows then the up rows ([n_embd, 2 n_ff]; llama.cpp's
    /// SwiGLU applies SiLU to the first half, as Hugging Face's `gate_up_proj.chunk(2)` does). Q/K rows are
    /// not permuted (llama.cpp ropes phi3 NEOX-style: rotate-half). Separate attn_q/k/v tensors, which
    /// llama.cpp also accepts, are used when there is no fused one.
    ///
    /// `phi3.attention.sliding_window` (0: none) is applied, as transformers does; llama.cpp currently
    /// ignores it. LongRoPE files (`rope_factors_long/short.weight`, the 128k-context models) are not
    /// supported.
    static func loadGGUF(_ g: GGUFFile, _ base: TensorSource) throws -> LanguageModelNetwork {
        var cfg = try DecoderConfig.fromGGUF(g, arch: "phi3", pairing: .half)
        if let w = try g.int("phi3.attention.sliding_window"), w > 0 { cfg.slidingWindow = w }
        try cfg.validate()
        for name in ["rope_factors_long.weight", "rope_factors_short.weight"] where g.tensor(name) != nil {
            throw MIIError.unsupported("phi3: LongRoPE scaling ('\(name)') is not supported")
        }
        let fusedQKV = (0..<cfg.nLayer).map { base.lookup("blk.\($0).attn_qkv.weight") != nil }
        let tensors = RenamedTensors(base: base) { name in
            guard let (i, rest) = splitLayerName(name), i >= 0, i < cfg.nLayer else { return .init(name: name) }
            let p = "blk.\(i)."
            switch rest {
            case "attn_q.weight" where fusedQKV[i]: return .init(name: p + "attn_qkv.weight", rows: (0, cfg.qDim))
            case "attn_k.weight" where fusedQKV[i]: return .init(name: p + "attn_qkv.weight", rows: (cfg.qDim, cfg.kvDim))
            case "attn_v.weight" where fusedQKV[i]:
                return .init(name: p + "attn_qkv.weight", rows: (cfg.qDim + cfg.kvDim, cfg.kvDim))
            case "ffn_gate.weight": return .init(name: p + "ffn_up.weight", rows: (0, cfg.nFF))
            case "ffn_up.weight": return .init(name: p + "ffn_up.weight", rows: (cfg.nFF, cfg.nFF))
            default: return .init(name: name)
            }
        }
        for i in 0..<cfg.nLayer {
            var fused = [("ffn_up.weight", 2 * cfg.nFF)]
            if fusedQKV[i] { fused.append(("attn_qkv.weight", cfg.qDim + 2 * cfg.kvDim)) }
            for (name, rows) in fused {
                try checkRows(base, "blk.\(i).\(name)", rows: rows, cols: cfg.nEmbd)
            }
        }
        return try LlamaDecoder(config: cfg, tensors: tensors)
    }

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
                try checkRows(w, "model.layers.\(i).\(name)", rows: rows, cols: c.nEmbd)
            }
        }
    }

    private static func checkRows(_ w: TensorSource, _ full: String, rows: Int, cols: Int) throws {
        guard let t = w.lookup(full) else { throw MIIError.format("missing tensor '\(full)'") }
        guard t.dims.count == 2, t.dims[1] == Int64(rows), t.dims[0] == Int64(cols) else {
            throw MIIError.format("tensor '\(full)' has shape \(t.dims), expected [\(cols), \(rows)]")
        }
    }
}
