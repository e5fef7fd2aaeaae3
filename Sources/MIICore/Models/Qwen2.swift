/// Qwen2: the Llama decoder with q/k/v biases and rotate-half RoPE (GGUF `qwen2` files are not permuted).
enum Qwen2 {
    static func loadGGUF(_ g: GGUFFile) throws -> LanguageModelNetwork {
        let cfg = try DecoderConfig.fromGGUF(g, arch: "qwen2", pairing: .half)
        return try LlamaDecoder(config: cfg, tensors: g)
    }
}
