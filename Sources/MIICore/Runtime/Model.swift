import MIIKernels

/// Options for loading a model.
public struct ModelOptions: Sendable {
    /// Default thread count for sessions of this model (0: automatic).
    public var threads: Int = 0
    /// Default precision mode for sessions.
    public var mode: PrecisionMode = .precise
    /// Float weights (F32/F16/BF16 matrices of Hugging Face folders and GGUF files) quantized at load;
    /// `auto`: Q8_0 in fast mode only. Already quantized GGUF tensors stay as they are.
    public var quantize: WeightQuantization = .auto
    public init() {}
}

/// Where a model came from.
public enum ModelFormat: Sendable {
    case gguf(GGUFFile)
    case huggingFace(HFFolder)
}

/// A loaded model: weights (used in place from the file mappings), tokenizer and metadata. Loaded
/// from a GGUF file or a Hugging Face folder. Immutable once loaded; any number of threads and
/// sessions may share it.
public final class Model: @unchecked Sendable {
    public let path: String
    public let format: ModelFormat
    /// The decoder (text generation); nil for encoder models.
    public let network: LanguageModelNetwork?
    /// The encoder (embeddings, fill-mask, classification, QA); nil for decoders.
    public let encoder: EncoderNetwork?
    /// How hidden states become sentence embeddings (sentence-transformers files, or mean pooling).
    public let sentenceEmbedding: SentenceEmbeddingConfig?
    /// nil for a Hugging Face folder without tokenizer.json: such a model works on token ids only
    /// (evaluation, generation from ids — e.g. a transformers model swapped in by its ids).
    public let tokenizer: Tokenizer?
    public let chatTemplate: ChatTemplate?
    public let options: ModelOptions
    /// Defaults from generation_config.json (Hugging Face folders), nil otherwise.
    public let generationDefaults: HFConfig?
    /// Token ids that end generation beyond the tokenizer's own: generation_config.json's eos_token_id.
    public let extraEndOfGeneration: Set<Int32>
    /// The type float matrices were quantized to at load, if `options.quantize` asked for it.
    public let loadQuantization: GGMLType?
    /// The quantizing view of a GGUF file's tensors (owns the quantized copies, as does the network).
    private let ggufQuantizer: QuantizingTensors?
    public var architecture: String { network?.architecture ?? encoder?.architecture ?? "" }
    public var vocabSize: Int { network?.vocabSize ?? encoder?.vocabSize ?? 0 }
    public var contextLength: Int { network?.contextLength ?? encoder?.maxPositions ?? 0 }
    public var isEncoder: Bool { encoder != nil }

    /// The decoder, or an `unsupported` error naming what an encoder model offers instead.
    public func requireDecoder() throws -> LanguageModelNetwork {
        guard let n = network else {
            throw MIIError.unsupported("'\(architecture)' is an encoder model: it computes embeddings and task heads, not text generation")
        }
        return n
    }

    public var gguf: GGUFFile? { if case .gguf(let g) = format { return g } else { return nil } }
    public var folder: HFFolder? { if case .huggingFace(let f) = format { return f } else { return nil } }

    /// `path` is a GGUF file or a Hugging Face model folder (config.json + safetensors + tokenizer.json).
    public convenience init(path: String, options: ModelOptions = ModelOptions()) throws {
        if options.threads < 0 || options.threads > 1024 {
            throw MIIError.argument("threads must be in 0...1024 (got \(options.threads))")
        }
        if HFFolder.isDirectory(path) {
            try self.init(folder: HFFolder(path: path), options: options)
        } else {
            try self.init(file: MappedFile(path: path), options: options)
        }
    }

    /// Loads a Hugging Face folder.
    public init(folder f: HFFolder, options: ModelOptions = ModelOptions()) throws {
        _ = configureOpenBLASOnce  // before anything else: its idle threads spin (COpenBLAS/shim.h)
        if options.threads < 0 || options.threads > 1024 {
            throw MIIError.argument("threads must be in 0...1024 (got \(options.threads))")
        }
        let path = f.path
        self.path = path
        self.options = options
        do {
            format = .huggingFace(f)
            ggufQuantizer = nil
            if let q = options.quantize.resolved(for: options.mode).ggmlType {
                f.quantizeWeights(to: q)
            }
            loadQuantization = f.loadQuantization
            let vocab: Int
            if ArchitectureRegistry.isEncoder(f) {
                let enc = try ArchitectureRegistry.loadHFEncoder(f)
                encoder = enc
                network = nil
                sentenceEmbedding = try SentenceEmbeddingConfig(folder: f)
                vocab = enc.vocabSize
            } else {
                let net = try ArchitectureRegistry.loadHF(f)
                network = net
                encoder = nil
                sentenceEmbedding = nil
                vocab = net.vocabSize
            }
            var tok: Tokenizer? = nil
            if let tj = f.tokenizerJSON {
                let jinja = try HFFolder.optionalFile(f.path + "/chat_template.jinja", limit: Limits.maxConfigBytes)
                let t = try Tokenizer.fromHuggingFace(tokenizerJSON: tj, tokenizerConfigJSON: f.tokenizerConfigJSON,
                                                      chatTemplateFile: jinja)
                // The embedding may be padded beyond the tokenizer (e.g. to a multiple of 64): ids past
                // the tokenizer are never produced by it. Fewer embedding rows than tokens is an error.
                if t.vocabSize > vocab {
                    throw MIIError.format("tokenizer.json has \(t.vocabSize) tokens but the model's vocab_size is \(vocab)")
                }
                tok = t
            } else {
                Log.write(.warn, "\(f.path) has no tokenizer.json: the model works on token ids only")
            }
            tokenizer = tok
            // tokenizer_config.json's chat_template, or transformers 5's separate chat_template.jinja
            let template = tok?.chatTemplate
            chatTemplate = template.map { ChatTemplate(source: $0, tokenizer: tok) }
            generationDefaults = f.generationConfig
            var extra = Set<Int32>()
            for id in (try f.generationConfig?.intList("eos_token_id") ?? []) + (try f.config.intList("eos_token_id")) {
                if id >= 0 && id < vocab { extra.insert(Int32(id)) }
            }
            extraEndOfGeneration = extra
            Log.write(.info, "loaded \(path): Hugging Face \(f.modelType), \(f.tensorCount) tensors in \(f.weightFiles.count) file(s), vocab \(vocab), kernels \(Hardware.kernelSet)")
        }
    }

    /// Loads a GGUF model from an already opened file (a mapping, or an in-memory copy for fuzzing).
    public init(file: MappedFile, options: ModelOptions = ModelOptions()) throws {
        _ = configureOpenBLASOnce  // before anything else: its idle threads spin (COpenBLAS/shim.h)
        if options.threads < 0 || options.threads > 1024 {
            throw MIIError.argument("threads must be in 0...1024 (got \(options.threads))")
        }
        let path = file.path
        self.path = path
        self.options = options
        do {
            let g = try GGUFFile(file: file)
            format = .gguf(g)
            var tensors: TensorSource = g
            if let q = options.quantize.resolved(for: options.mode).ggmlType {
                let vocabRows = g.tensor("token_embd.weight").flatMap { $0.dims.count == 2 ? Int($0.dims[1]) : nil }
                let qt = QuantizingTensors(base: g, target: q, vocabRows: vocabRows,
                                           keepsFloat: QuantizingTensors.ggufKeepsFloat)
                ggufQuantizer = qt
                loadQuantization = q
                tensors = qt
            } else {
                ggufQuantizer = nil
                loadQuantization = nil
            }
            let vocab: Int
            if ArchitectureRegistry.isEncoder(g) {
                let enc = try ArchitectureRegistry.loadGGUFEncoder(g, tensors: tensors)
                encoder = enc
                network = nil
                sentenceEmbedding = try SentenceEmbeddingConfig(gguf: g)
                vocab = enc.vocabSize
            } else {
                let net = try ArchitectureRegistry.loadGGUF(g, tensors: tensors)
                network = net
                encoder = nil
                sentenceEmbedding = nil
                vocab = net.vocabSize
            }
            let tok = try Tokenizer.fromGGUF(g)
            if tok.vocabSize != vocab {
                throw MIIError.format("tokenizer has \(tok.vocabSize) tokens but the embedding has \(vocab) rows")
            }
            tokenizer = tok
            if let t = try g.string("tokenizer.chat_template") {
                chatTemplate = ChatTemplate(source: t, tokenizer: tok)
            } else {
                chatTemplate = nil
            }
            generationDefaults = nil
            extraEndOfGeneration = []
            g.file.adviseWillNeed()
            Log.write(.info, "loaded \(path): \(network?.architecture ?? encoder?.architecture ?? ""), \(g.tensors.count) tensors, vocab \(vocab), kernels \(Hardware.kernelSet)")
        }
    }

    /// The thread count sessions use when not told otherwise: one per core, as the machine reports.
    public var defaultThreads: Int {
        options.threads > 0 ? options.threads : Hardware.physicalCores
    }

    /// True if `id` ends generation (the tokenizer's end tokens and generation_config.json's eos ids).
    public func isEndOfGeneration(_ id: Int32) -> Bool {
        (tokenizer?.isEndOfGeneration(id) ?? false) || extraEndOfGeneration.contains(id)
    }

    /// The tokenizer, or an `unsupported` error for a model loaded without one.
    public func requireTokenizer() throws -> Tokenizer {
        guard let t = tokenizer else {
            throw MIIError.unsupported("this model was loaded without a tokenizer (its folder has no tokenizer.json): use token ids")
        }
        return t
    }

    /// Beginning/end-of-sequence ids: the tokenizer's, else config.json's (token-id-only models).
    public var bosId: Int32? {
        if let t = tokenizer { return t.bosId }
        return (try? folder?.config.int("bos_token_id")).flatMap { $0 }.flatMap { Int32(exactly: $0) }
    }

    public var eosId: Int32? {
        if let t = tokenizer { return t.eosId }
        return extraEndOfGeneration.min()
    }

    /// A one-line description of the file(s), for `mii info`.
    public var formatDescription: String {
        switch format {
        case .gguf(let g):
            var s = "GGUF v\(g.version), \(g.tensors.count) tensors, \(g.file.count) bytes"
            if let q = loadQuantization, let qt = ggufQuantizer {
                s += qt.quantizedCount > 0 ? ", \(qt.quantizedCount) float matrices quantized to \(q.name) at load"
                                          : ", no float matrices to quantize to \(q.name)"
            }
            return s
        case .huggingFace(let f):
            return "Hugging Face folder (\(f.modelType)), \(f.tensorCount) tensors in \(f.weightFiles.count) safetensors file(s), \(f.weightBytes) bytes" + (f.declaredDType.map { ", dtype \($0)" } ?? "")
                + (f.loadQuantization.map { ", float matrices quantized to \($0.name) at load" } ?? "")
        }
    }

    /// Bytes the weights occupy: the GGUF file, the folder's safetensors, or for a folder quantized at
    /// load the quantized matrices (owned) plus nothing of the float originals (mapped, never read).
    public var weightBytesMapped: Int {
        switch format {
        case .gguf(let g): return g.file.count
        case .huggingFace(let f):
            guard f.loadQuantization != nil, let net = network else { return f.weightBytes }
            return net.weightMatrices.reduce(0) { $0 + $1.rowBytes * $1.rows }
        }
    }

    /// Counts of weight tensor types ("F32" x61, ...), for `mii info`.
    public var tensorTypeCounts: [(String, Int)] {
        var counts: [String: Int] = [:]
        switch format {
        case .gguf(let g):
            for t in g.tensors { counts[(ggufQuantizer?.quantizedType(of: t.name) ?? t.type).name, default: 0] += 1 }
        case .huggingFace:
            for m in network?.weightMatrices ?? encoder?.weightMatrices ?? [] { counts[m.type.name, default: 0] += 1 }
        }
        return counts.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
    }
}

extension Model {
    /// Sentence embeddings of `texts` ([n][dim]), as sentence-transformers' `encode` computes them:
    /// tokenized with special tokens, truncated to the model's max_seq_length, pooled (and
    /// normalized) as the folder's sentence-transformers files say. Encoder models only.
    public func embed(_ texts: [String], threads: Int = 0, mode: PrecisionMode? = nil,
                      shouldCancel: () -> Bool = { false }) throws -> [[Float]] {
        guard let enc = encoder, let cfg = sentenceEmbedding else {
            throw MIIError.unsupported("'\(architecture)' is not an encoder model: embeddings need BERT, RoBERTa, XLM-R or DistilBERT")
        }
        let tok = try requireTokenizer()
        if texts.count > Limits.maxEmbedBatch {
            throw MIIError.argument("\(texts.count) texts exceed the limit of \(Limits.maxEmbedBatch) per call")
        }
        let limit = min(cfg.maxSequenceLength ?? enc.maxPositions, enc.maxPositions)
        var batch: [EncoderInput] = []
        for t in texts {
            var (ids, types) = try tok.encodeWithTypes(t, addSpecial: true, parseSpecial: false)
            if ids.count > limit {
                // Keep the trailing special token (e.g. [SEP]) as the tokenizer's truncation does.
                let last = ids[ids.count - 1]
                let lastType = types[types.count - 1]
                let endsSpecial = tok.isControl(last)
                ids = Array(ids.prefix(limit))
                types = Array(types.prefix(limit))
                if endsSpecial { ids[limit - 1] = last; types[limit - 1] = lastType }
            }
            batch.append(EncoderInput(tokens: ids, typeIds: types))
        }
        if batch.isEmpty { return [] }
        let pool = try ThreadPool(threads: threads > 0 ? threads : defaultThreads)
        return try enc.sentenceEmbeddings(batch, config: cfg, pool: pool, mode: mode ?? options.mode,
                                          shouldCancel: shouldCancel)
    }

    /// Width of `embed`'s vectors (0 for decoders).
    public var sentenceEmbeddingDimension: Int {
        guard let enc = encoder, let cfg = sentenceEmbedding else { return 0 }
        return cfg.dimension(hiddenSize: enc.hiddenSize)
    }

    public var embeddingLength: Int {
        (network as? LlamaDecoder)?.config.nEmbd ?? (network as? GPTDecoder)?.config.nEmbd ?? 0
    }

    public var layerCount: Int {
        (network as? LlamaDecoder)?.config.nLayer ?? (network as? GPTDecoder)?.config.nLayer ?? 0
    }

    /// A metadata value as text: strings as they are, numbers in decimal, arrays summarized.
    /// GGUF: any metadata key. Hugging Face folders: `general.architecture` (model_type),
    /// `general.name` (`_name_or_path`), any top-level key of config.json by its name, and
    /// `generation_config.<key>`.
    public func metadataText(_ key: String) -> String? {
        switch format {
        case .gguf(let g):
            guard let v = g.metadata[key] else { return nil }
            if let s = v.string { return s }
            return v.description
        case .huggingFace(let f):
            func text(_ v: JSONValue?) -> String? {
                guard let v, !v.isNull else { return nil }
                if let s = v.string { return s }
                if let i = v.int { return "\(i)" }
                if let d = v.double { return "\(d)" }
                if let b = v.bool { return b ? "true" : "false" }
                return v.description
            }
            switch key {
            case "general.architecture": return f.modelType
            case "general.name": return text(f.config["_name_or_path"]) ?? text(f.config["_model_name_or_path"])
            default: break
            }
            if key.hasPrefix("generation_config.") {
                return text(f.generationConfig?[String(key.dropFirst("generation_config.".count))])
            }
            return text(f.config[key])
        }
    }
}
