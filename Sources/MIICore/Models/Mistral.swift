/// Mistral: the Llama decoder with a sliding attention window (`sliding_window` in config.json).
/// GGUF `mistral` files load through `Llama.loadGGUF` (llama.cpp does not apply the window there).
enum Mistral {
    static func loadHF(_ f: HFFolder) throws -> LanguageModelNetwork {
        let cfg = try DecoderConfig.fromHF(f.config, arch: "mistral",
                                           hasLMHead: f.weights.lookup("lm_head.weight") != nil)
        return try LlamaDecoder(config: cfg, tensors: Llama.hfTensors(f.weights))
    }
}
