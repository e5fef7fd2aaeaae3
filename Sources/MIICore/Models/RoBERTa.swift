/// RoBERTa and XLM-RoBERTa (`model_type: roberta`, `xlm-roberta`): BERT's encoder with positions
/// counted from padding_idx + 1 (tokens equal to the padding id take padding_idx), usually a single
/// token type, and their own heads: `lm_head` (dense, exact GELU, layer_norm, decoder),
/// `classifier.dense` + `classifier.out_proj` on <s> for sequence classification, `classifier` for
/// token classification, `qa_outputs`.
enum RoBERTa {
    static func loadHF(_ f: HFFolder) throws -> EncoderNetwork {
        let c = f.config
        try HFEncoderLoading.checkCommon(c, arch: f.modelType)
        let pad = try c.int("pad_token_id") ?? 1
        let cfg = EncoderConfig(
            architecture: f.modelType,
            nVocab: try c.requireInt("vocab_size"),
            nEmbd: try c.requireInt("hidden_size"),
            nLayer: try c.requireInt("num_hidden_layers"),
            nHead: try c.requireInt("num_attention_heads"),
            nFF: try c.requireInt("intermediate_size"),
            positionTable: try c.int("max_position_embeddings") ?? 514,
            typeVocab: try c.int("type_vocab_size") ?? 1,
            normEps: Float(try c.double("layer_norm_eps") ?? 1e-5),
            activation: try HFEncoderLoading.activation(c, key: "hidden_act", arch: f.modelType),
            positions: .afterPadding(paddingIdx: pad))
        try cfg.validate()
        let prefix = try HFEncoderLoading.prefix(f, candidates: ["roberta.", ""], probe: "embeddings.word_embeddings.weight")
        return try BERT.loadBertLayout(f, cfg, prefix: prefix, robertaHeads: true)
    }
}
