/// Qwen2: the Llama decoder with q/k/v biases and rotate-half RoPE (GGUF `qwen2` files are not permuted).
enum Qwen2 {
    static func loadGGUF(_ g: GGUFFile, _ tensors: TensorSource) throws -> LanguageModelNetwork {
        let cfg = try DecoderConfig.fromGGUF(g, arch: "qwen2", pairing: .half)
        return try LlamaDecoder(config: cfg, tensors: tensors)
    }

    /// Hugging Face `model_type: qwen2`: LlamaForCausalLM's tensor names plus q/k/v biases.
    static func loadHF(_ f: HFFolder) throws -> LanguageModelNetwork {
        let cfg = try DecoderConfig.fromHF(f.config, arch: "qwen2",
                                           hasLMHead: f.weights.lookup("lm_head.weight") != nil)
        return try LlamaDecoder(config: cfg, tensors: Llama.hfTensors(f.weights))
    }
}
