import MIIKernels

/// Options for loading a model.
public struct ModelOptions: Sendable {
    /// Default thread count for sessions of this model (0: automatic).
    public var threads: Int = 0
    /// Default precision mode for sessions.
    public var mode: PrecisionMode = .precise
    public init() {}
}

/// A loaded model: weights (used in place from the file mapping), tokenizer and metadata.
/// Immutable once loaded; any number of threads and sessions may share it.
public final class Model: @unchecked Sendable {
    public let path: String
    public let gguf: GGUFFile
    public let network: LanguageModelNetwork
    public let tokenizer: Tokenizer
    public let chatTemplate: ChatTemplate?
    public let options: ModelOptions
    public var architecture: String { network.architecture }
    public var vocabSize: Int { network.vocabSize }
    public var contextLength: Int { network.contextLength }

    public convenience init(path: String, options: ModelOptions = ModelOptions()) throws {
        if options.threads < 0 || options.threads > 1024 {
            throw MIIError.argument("threads must be in 0...1024 (got \(options.threads))")
        }
        try self.init(file: MappedFile(path: path), options: options)
    }

    /// Loads a model from an already opened file (a mapping, or an in-memory copy for fuzzing).
    public init(file: MappedFile, options: ModelOptions = ModelOptions()) throws {
        if options.threads < 0 || options.threads > 1024 {
            throw MIIError.argument("threads must be in 0...1024 (got \(options.threads))")
        }
        let path = file.path
        self.path = path
        self.options = options
        let g = try GGUFFile(file: file)
        self.gguf = g
        self.network = try ArchitectureRegistry.loadGGUF(g)
        let tok = try Tokenizer.fromGGUF(g)
        if tok.vocabSize != network.vocabSize {
            throw MIIError.format("tokenizer has \(tok.vocabSize) tokens but the embedding has \(network.vocabSize) rows")
        }
        self.tokenizer = tok
        if let t = try g.string("tokenizer.chat_template") {
            self.chatTemplate = ChatTemplate(source: t, tokenizer: tok)
        } else {
            self.chatTemplate = nil
        }
        g.file.adviseWillNeed()
        Log.write(.info, "loaded \(path): \(network.architecture), \(g.tensors.count) tensors, vocab \(network.vocabSize), kernels \(Hardware.kernelSet)")
    }

    /// The thread count sessions use when not told otherwise: one per core, as the machine reports.
    public var defaultThreads: Int {
        options.threads > 0 ? options.threads : Hardware.physicalCores
    }
}

extension Model {
    public var embeddingLength: Int {
        (network as? LlamaDecoder)?.config.nEmbd ?? 0
    }

    public var layerCount: Int {
        (network as? LlamaDecoder)?.config.nLayer ?? 0
    }

    /// A metadata value as text: strings as they are, numbers in decimal, arrays summarized.
    public func metadataText(_ key: String) -> String? {
        guard let v = gguf.metadata[key] else { return nil }
        if let s = v.string { return s }
        return v.description
    }
}
