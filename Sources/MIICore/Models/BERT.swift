/// BERT (`model_type: bert`): BertModel, BertForMaskedLM (and BertForPreTraining's MLM part),
/// BertForSequenceClassification (pooler + classifier), BertForTokenClassification,
/// BertForQuestionAnswering; tensors with or without the `bert.` prefix (sentence-transformers
/// checkpoints such as all-MiniLM-L6-v2 store the bare model).
enum BERT {
    /// GGUF `bert` as llama.cpp's converter writes it (BertModel and sentence-transformers
    /// checkpoints such as all-MiniLM-L6-v2; the converter drops the pooler and the MLM head): the
    /// tensor names are the engine's own (`token_embd`, `position_embd`, `token_types`,
    /// `token_embd_norm`, `blk.N.attn_q/k/v/output`, `attn_output_norm`, `ffn_up/down`,
    /// `layer_output_norm`), or `blk.N.attn_qkv` when the converter fused Q, K and V (`--fuse-qkv`).
    /// Hyper-parameters: `bert.*` (`embedding_length`, `block_count`, `attention.head_count`,
    /// `feed_forward_length`, `context_length` = rows of the position table,
    /// `attention.layer_norm_epsilon`). The file does not record the activation: GELU with erf is used,
    /// as BERT's `hidden_act: gelu` says (llama.cpp computes the tanh approximation, which differs by up
    /// to ~1e-3). Token type ids are honoured (llama.cpp uses type 0 throughout). Classification heads
    /// (`cls`, `cls.output`) are not loaded: the model computes hidden states and embeddings.
    static func loadGGUF(_ g: GGUFFile, _ base: TensorSource) throws -> EncoderNetwork {
        let a = "bert"
        guard let emb = g.tensor("token_embd.weight"), emb.dims.count == 2 else {
            throw MIIError.format("\(a): tensor token_embd.weight is missing or not 2-D")
        }
        let nHead = try g.requireInt("\(a).attention.head_count")
        if let kv = try g.int("\(a).attention.head_count_kv"), kv != nHead {
            throw MIIError.unsupported("\(a): attention.head_count_kv \(kv) differs from head_count \(nHead)")
        }
        if try g.bool("\(a).attention.causal") == true {
            throw MIIError.unsupported("\(a): causal attention is not supported for an encoder")
        }
        var typeVocab = 0
        if let tt = g.tensor("token_types.weight") {
            guard tt.dims.count == 2 else { throw MIIError.format("\(a): token_types.weight is not 2-D") }
            typeVocab = Int(tt.dims[1])
            if let n = try g.int("tokenizer.ggml.token_type_count"), n != typeVocab {
                throw MIIError.format("\(a): tokenizer.ggml.token_type_count \(n) differs from the \(typeVocab) rows of token_types.weight")
            }
        }
        let cfg = EncoderConfig(
            architecture: a,
            nVocab: Int(emb.dims[1]),
            nEmbd: try g.requireInt("\(a).embedding_length"),
            nLayer: try g.requireInt("\(a).block_count"),
            nHead: nHead,
            nFF: try g.requireInt("\(a).feed_forward_length"),
            positionTable: try g.requireInt("\(a).context_length"),
            typeVocab: typeVocab,
            normEps: Float(try g.float("\(a).attention.layer_norm_epsilon") ?? 1e-12),
            activation: .gelu,
            positions: .fromZero)
        try cfg.validate()
        let d = cfg.nEmbd
        let fused = (0..<cfg.nLayer).map { base.lookup("blk.\($0).attn_qkv.weight") != nil }
        for (i, f) in fused.enumerated() where f {
            let name = "blk.\(i).attn_qkv.weight"
            guard let t = base.lookup(name), t.dims.count == 2, t.dims[0] == Int64(d), t.dims[1] == Int64(3 * d) else {
                throw MIIError.format("\(a): tensor '\(name)' has the wrong shape (expected [\(d), \(3 * d)])")
            }
        }
        let tensors = RenamedTensors(base: base) { name in
            guard let (i, rest) = splitLayerName(name), i < cfg.nLayer, fused[i] else { return .init(name: name) }
            let p = "blk.\(i)."
            switch rest {
            case "attn_q.weight": return .init(name: p + "attn_qkv.weight", rows: (0, d))
            case "attn_k.weight": return .init(name: p + "attn_qkv.weight", rows: (d, d))
            case "attn_v.weight": return .init(name: p + "attn_qkv.weight", rows: (2 * d, d))
            case "attn_q.bias": return .init(name: p + "attn_qkv.bias", rows: (0, d))
            case "attn_k.bias": return .init(name: p + "attn_qkv.bias", rows: (d, d))
            case "attn_v.bias": return .init(name: p + "attn_qkv.bias", rows: (2 * d, d))
            default: return .init(name: name)
            }
        }
        return try TransformerEncoder(config: cfg, tensors: tensors, labels: [], problemType: nil,
                                      mlm: nil, sequenceHead: nil, tokenHead: nil, qaHead: nil)
    }

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
