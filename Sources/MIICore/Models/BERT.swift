/// BERT (`model_type: bert`): BertModel, BertForMaskedLM (and BertForPreTraining's MLM part),
/// BertForSequenceClassification (pooler + classifier), BertForTokenClassification,
/// BertForQuestionAnswering; tensors with or without the `bert.` prefix (sentence-transformers
/// checkpoints such as all-MiniLM-L6-v2 store the bare model).
enum BERT {
    static func loadHF(_ f: HFFolder) throws -> EncoderNetwork {
        let c = f.config
        try HFEncoderLoading.checkCommon(c, arch: f.modelType)
        let cfg = EncoderConfig(
            architecture: f.modelType,
            nVocab: try c.requireInt("vocab_size"),
            nEmbd: try c.requireInt("hidden_size"),
            nLayer: try c.requireInt("num_hidden_layers"),
            nHead: try c.requireInt("num_attention_heads"),
            nFF: try c.requireInt("intermediate_size"),
            positionTable: try c.int("max_position_embeddings") ?? 512,
            typeVocab: try c.int("type_vocab_size") ?? 2,
            normEps: Float(try c.double("layer_norm_eps") ?? 1e-12),
            activation: try HFEncoderLoading.activation(c, key: "hidden_act", arch: f.modelType),
            positions: .fromZero)
        try cfg.validate()
        let prefix = try HFEncoderLoading.prefix(f, candidates: ["bert.", ""], probe: "embeddings.word_embeddings.weight")
        return try loadBertLayout(f, cfg, prefix: prefix, robertaHeads: false)
    }

    /// Engine names -> checkpoint names of the BERT layout (also RoBERTa's).
    static func tensors(_ base: TensorSource, prefix p: String) -> TensorSource {
        RenamedTensors(base: base) { name in
            func norm(_ stem: String, _ part: Substring) -> String {
                // Old conversions name LayerNorm parameters gamma / beta.
                part == "weight" ? HFEncoderLoading.pick(base, stem + ".weight", stem + ".gamma")
                                 : HFEncoderLoading.pick(base, stem + ".bias", stem + ".beta")
            }
            switch name {
            case "token_embd.weight": return .init(name: p + "embeddings.word_embeddings.weight")
            case "position_embd.weight": return .init(name: p + "embeddings.position_embeddings.weight")
            case "token_types.weight": return .init(name: p + "embeddings.token_type_embeddings.weight")
            case "token_embd_norm.weight": return .init(name: norm(p + "embeddings.LayerNorm", "weight"))
            case "token_embd_norm.bias": return .init(name: norm(p + "embeddings.LayerNorm", "bias"))
            default: break
            }
            guard let (i, rest) = splitLayerName(name), let dot = rest.lastIndex(of: ".") else { return nil }
            let stem = rest[..<dot], part = rest[rest.index(after: dot)...]
            let l = p + "encoder.layer.\(i)."
            switch stem {
            case "attn_q": return .init(name: l + "attention.self.query." + part)
            case "attn_k": return .init(name: l + "attention.self.key." + part)
            case "attn_v": return .init(name: l + "attention.self.value." + part)
            case "attn_output": return .init(name: l + "attention.output.dense." + part)
            case "attn_output_norm": return .init(name: norm(l + "attention.output.LayerNorm", part))
            case "ffn_up": return .init(name: l + "intermediate.dense." + part)
            case "ffn_down": return .init(name: l + "output.dense." + part)
            case "layer_output_norm": return .init(name: norm(l + "output.LayerNorm", part))
            default: return nil
            }
        }
    }

    /// BERT and RoBERTa share the encoder layout and differ in their heads' names.
    static func loadBertLayout(_ f: HFFolder, _ cfg: EncoderConfig, prefix: String, robertaHeads: Bool) throws -> EncoderNetwork {
        let c = f.config
        let t = f.weights
        let d = cfg.nEmbd
        let archs = try HFEncoderLoading.architectures(c)
        func declared(_ suffix: String) -> Bool { archs.contains { $0.hasSuffix(suffix) } }

        var mlm: MaskedLMHead? = nil
        let mlmStem = robertaHeads ? "lm_head." : "cls.predictions."
        if t.lookup(mlmStem + (robertaHeads ? "dense.weight" : "transform.dense.weight")) != nil {
            let (dec, bias) = try HFEncoderLoading.mlmDecoder(
                c, t, embedding: prefix + "embeddings.word_embeddings.weight", decoder: mlmStem + "decoder",
                biasNames: [mlmStem + "bias", mlmStem + "decoder.bias"], vocab: cfg.nVocab, d: d)
            let tr = robertaHeads ? "lm_head.dense" : "cls.predictions.transform.dense"
            let ln = robertaHeads ? "lm_head.layer_norm" : "cls.predictions.transform.LayerNorm"
            mlm = MaskedLMHead(
                transform: try DenseLayer.load(t, tr, rows: d, cols: d),
                // RoBERTa's LM head applies exact GELU whatever hidden_act says; BERT's follows hidden_act.
                activation: robertaHeads ? .gelu : cfg.activation,
                norm: try NormLayer.load(t, ln, count: d, eps: cfg.normEps),
                decoder: dec, bias: bias)
        }

        var seqHead: SequenceClassificationHead? = nil
        var tokHead: DenseLayer? = nil
        var labelRows: Int? = nil
        if robertaHeads {
            if let rows = try HFEncoderLoading.outputRows(t, "classifier.out_proj.weight", cols: d) {
                seqHead = SequenceClassificationHead(
                    pre: try DenseLayer.load(t, "classifier.dense", rows: d, cols: d), preActivation: .tanh,
                    out: try DenseLayer.load(t, "classifier.out_proj", rows: rows, cols: d))
                labelRows = rows
            } else if let rows = try HFEncoderLoading.outputRows(t, "classifier.weight", cols: d) {
                tokHead = try DenseLayer.load(t, "classifier", rows: rows, cols: d)
                labelRows = rows
            }
        } else if let rows = try HFEncoderLoading.outputRows(t, "classifier.weight", cols: d) {
            // Both BERT classification classes name their layer `classifier`: config.json's
            // architectures tells them apart; without it, the pooler (only the sequence classifier
            // keeps it) does.
            let pooler = t.lookup(prefix + "pooler.dense.weight") != nil
            let isToken = declared("ForTokenClassification") || (!declared("ForSequenceClassification") && !pooler)
            if isToken {
                tokHead = try DenseLayer.load(t, "classifier", rows: rows, cols: d)
            } else {
                seqHead = SequenceClassificationHead(
                    pre: try DenseLayer.load(t, prefix + "pooler.dense", rows: d, cols: d), preActivation: .tanh,
                    out: try DenseLayer.load(t, "classifier", rows: rows, cols: d))
            }
            labelRows = rows
        }
        let qa = try qaHead(t, d: d)
        return try TransformerEncoder(config: cfg, tensors: tensors(t, prefix: prefix),
                                      labels: HFEncoderLoading.labels(c, rows: labelRows),
                                      problemType: try c.string("problem_type"),
                                      mlm: mlm, sequenceHead: seqHead, tokenHead: tokHead, qaHead: qa)
    }

    /// `qa_outputs` ([2, d]: start and end logits), shared by all encoder architectures.
    static func qaHead(_ t: TensorSource, d: Int) throws -> DenseLayer? {
        guard let rows = try HFEncoderLoading.outputRows(t, "qa_outputs.weight", cols: d) else { return nil }
        guard rows == 2 else {
            throw MIIError.unsupported("qa_outputs has \(rows) outputs; extractive QA needs 2 (start, end)")
        }
        return try DenseLayer.load(t, "qa_outputs", rows: 2, cols: d)
    }
}
