/// DistilBERT (`model_type: distilbert`): word + learned (or stored sinusoidal) position embeddings,
/// no token types, post-LayerNorm blocks with eps 1e-12; heads `vocab_transform` + activation +
/// `vocab_layer_norm` + `vocab_projector` (tied to the word embedding) for masked LM,
/// `pre_classifier` + ReLU + `classifier` on the first token for sequence classification,
/// `classifier` alone for token classification, `qa_outputs`.
enum DistilBERT {
    static func loadHF(_ f: HFFolder) throws -> EncoderNetwork {
        let c = f.config
        try HFEncoderLoading.checkCommon(c, arch: f.modelType)
        let activation = try HFEncoderLoading.activation(c, key: "activation", arch: f.modelType)
        let cfg = EncoderConfig(
            architecture: f.modelType,
            nVocab: try c.requireInt("vocab_size"),
            nEmbd: try c.requireInt(anyOf: ["dim", "hidden_size"]),
            nLayer: try c.requireInt(anyOf: ["n_layers", "num_hidden_layers"]),
            nHead: try c.requireInt(anyOf: ["n_heads", "num_attention_heads"]),
            nFF: try c.requireInt(anyOf: ["hidden_dim", "intermediate_size"]),
            positionTable: try c.int("max_position_embeddings") ?? 512,
            typeVocab: 0,
            normEps: 1e-12,   // fixed in DistilBERT's modeling code
            activation: activation,
            positions: .fromZero)
        try cfg.validate()
        let t = f.weights
        let d = cfg.nEmbd
        let p = try HFEncoderLoading.prefix(f, candidates: ["distilbert.", ""], probe: "embeddings.word_embeddings.weight")

        var mlm: MaskedLMHead? = nil
        if t.lookup("vocab_transform.weight") != nil {
            let (dec, bias) = try HFEncoderLoading.mlmDecoder(
                c, t, embedding: p + "embeddings.word_embeddings.weight", decoder: "vocab_projector",
                biasNames: ["vocab_projector.bias"], vocab: cfg.nVocab, d: d)
            mlm = MaskedLMHead(transform: try DenseLayer.load(t, "vocab_transform", rows: d, cols: d),
                               activation: activation,
                               norm: try NormLayer.load(t, "vocab_layer_norm", count: d, eps: cfg.normEps),
                               decoder: dec, bias: bias)
        }
        var seqHead: SequenceClassificationHead? = nil
        var tokHead: DenseLayer? = nil
        var labelRows: Int? = nil
        if let rows = try HFEncoderLoading.outputRows(t, "classifier.weight", cols: d) {
            if t.lookup("pre_classifier.weight") != nil {
                seqHead = SequenceClassificationHead(
                    pre: try DenseLayer.load(t, "pre_classifier", rows: d, cols: d), preActivation: .relu,
                    out: try DenseLayer.load(t, "classifier", rows: rows, cols: d))
            } else {
                tokHead = try DenseLayer.load(t, "classifier", rows: rows, cols: d)
            }
            labelRows = rows
        }
        let qa = try BERT.qaHead(t, d: d)
        return try TransformerEncoder(config: cfg, tensors: tensors(t, prefix: p),
                                      labels: HFEncoderLoading.labels(c, rows: labelRows),
                                      problemType: try c.string("problem_type"),
                                      mlm: mlm, sequenceHead: seqHead, tokenHead: tokHead, qaHead: qa)
    }

    /// Engine names -> DistilBERT checkpoint names.
    static func tensors(_ base: TensorSource, prefix p: String) -> TensorSource {
        RenamedTensors(base: base) { name in
            switch name {
            case "token_embd.weight": return .init(name: p + "embeddings.word_embeddings.weight")
            case "position_embd.weight": return .init(name: p + "embeddings.position_embeddings.weight")
            case "token_embd_norm.weight": return .init(name: p + "embeddings.LayerNorm.weight")
            case "token_embd_norm.bias": return .init(name: p + "embeddings.LayerNorm.bias")
            default: break
            }
            guard let (i, rest) = splitLayerName(name), let dot = rest.lastIndex(of: ".") else { return nil }
            let stem = rest[..<dot], part = rest[rest.index(after: dot)...]
            let l = p + "transformer.layer.\(i)."
            switch stem {
            case "attn_q": return .init(name: l + "attention.q_lin." + part)
            case "attn_k": return .init(name: l + "attention.k_lin." + part)
            case "attn_v": return .init(name: l + "attention.v_lin." + part)
            case "attn_output": return .init(name: l + "attention.out_lin." + part)
            case "attn_output_norm": return .init(name: l + "sa_layer_norm." + part)
            case "ffn_up": return .init(name: l + "ffn.lin1." + part)
            case "ffn_down": return .init(name: l + "ffn.lin2." + part)
            case "layer_output_norm": return .init(name: l + "output_layer_norm." + part)
            default: return nil
            }
        }
    }
}
