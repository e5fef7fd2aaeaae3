#if canImport(Glibc)
import Glibc
#endif

/// A Hugging Face model folder as `save_pretrained` writes it: `config.json`, weights in
/// `model.safetensors` or sharded with `model.safetensors.index.json`, and optionally
/// `tokenizer.json`, `tokenizer_config.json`, `generation_config.json` and sentence-transformers
/// files (`modules.json`, `1_Pooling/config.json`). Weights are mapped, never copied.
public final class HFFolder: @unchecked Sendable {
    public let path: String
    public let config: HFConfig
    /// `model_type` from config.json.
    public let modelType: String
    public private(set) var weights: TensorSource
    /// The quantization applied at load (`quantizeWeights`), if any.
    public private(set) var loadQuantization: GGMLType? = nil
    /// Total bytes of the weight files.
    public let weightBytes: Int
    public let weightFiles: [String]
    public let tensorCount: Int
    public let tokenizerJSON: [UInt8]?
    public let tokenizerConfigJSON: [UInt8]?
    public let generationConfig: HFConfig?

    /// True if `path` names a directory (the way `Model` tells folders from GGUF files).
    public static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    static func exists(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0
    }

    /// Reads a whole small file (JSON) with a size limit.
    static func readFile(_ path: String, limit: Int) throws -> [UInt8] {
        let f = try MappedFile(path: path)
        if f.count > limit {
            throw MIIError.format("'\(path)' is \(f.count) bytes, more than the limit of \(limit)")
        }
        return [UInt8](UnsafeRawBufferPointer(start: f.base, count: f.count))
    }

    static func optionalFile(_ path: String, limit: Int) throws -> [UInt8]? {
        exists(path) ? try readFile(path, limit: limit) : nil
    }

    public init(path: String) throws {
        var dir = path
        while dir.count > 1 && dir.hasSuffix("/") { dir.removeLast() }
        self.path = dir
        guard HFFolder.isDirectory(dir) else {
            throw MIIError.io("'\(path)' is not a directory")
        }
        let configPath = dir + "/config.json"
        guard HFFolder.exists(configPath) else {
            throw MIIError.format("'\(dir)' has no config.json: not a Hugging Face model folder")
        }
        config = try HFConfig(bytes: HFFolder.readFile(configPath, limit: Limits.maxConfigBytes),
                              context: "config.json")
        guard let mt = try config.string("model_type") else {
            throw MIIError.format("config.json: 'model_type' is missing")
        }
        modelType = mt

        let single = dir + "/model.safetensors"
        let index = dir + "/model.safetensors.index.json"
        if HFFolder.exists(single) {
            let f = try SafetensorsFile(path: single)
            weights = f
            weightBytes = f.file.count
            weightFiles = [single]
            tensorCount = f.tensors.count
        } else if HFFolder.exists(index) {
            let ix = try SafetensorsIndex(path: index)
            weights = ix
            var bytes = 0
            var files: [String] = []
            var count = 0
            for (name, shard) in ix.shards.sorted(by: { $0.key < $1.key }) {
                bytes += shard.file.count
                files.append(dir + "/" + name)
                count += shard.tensors.count
            }
            weightBytes = bytes
            weightFiles = files
            tensorCount = count
        } else if HFFolder.exists(dir + "/pytorch_model.bin") || HFFolder.exists(dir + "/pytorch_model.bin.index.json") {
            throw MIIError.unsupported("'\(dir)' holds PyTorch pickle weights (pytorch_model.bin); libmii reads safetensors only (save with safe_serialization=True)")
        } else {
            throw MIIError.format("'\(dir)' has neither model.safetensors nor model.safetensors.index.json")
        }

        tokenizerJSON = try HFFolder.optionalFile(dir + "/tokenizer.json", limit: Limits.maxJSONBytes)
        tokenizerConfigJSON = try HFFolder.optionalFile(dir + "/tokenizer_config.json", limit: Limits.maxConfigBytes)
        if let g = try HFFolder.optionalFile(dir + "/generation_config.json", limit: Limits.maxConfigBytes) {
            generationConfig = try HFConfig(bytes: g, context: "generation_config.json")
        } else {
            generationConfig = nil
        }
    }

    /// Float weight matrices are quantized to `type` as the network loads them (before any sharing).
    public func quantizeWeights(to type: GGMLType) {
        let vocab = (try? config.int(anyOf: ["vocab_size", "n_vocab"])) ?? nil
        weights = QuantizingTensors(base: weights, target: type, vocabRows: vocab, keepsFloat: QuantizingTensors.hfKeepsFloat)
        loadQuantization = type
    }

    /// A file of the folder read as JSON, or nil if absent (sentence-transformers module configs...).
    public func optionalConfig(_ relative: String) throws -> HFConfig? {
        guard let b = try HFFolder.optionalFile(path + "/" + relative, limit: Limits.maxConfigBytes) else { return nil }
        return try HFConfig(bytes: b, context: relative)
    }

    /// `torch_dtype` / `dtype` of config.json, for `mii info`.
    public var declaredDType: String? {
        (try? config.string("torch_dtype")) ?? (try? config.string("dtype")) ?? nil
    }
}
