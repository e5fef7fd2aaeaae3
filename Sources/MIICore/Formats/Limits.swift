/// One table of limits for everything the parsers accept. Values far above any real model, low enough
/// that a hostile file cannot make us allocate or loop without bound.
public enum Limits {
    /// GGUF metadata key/value pairs.
    public static let maxMetadataCount: UInt64 = 1 << 20
    /// Tensors in one file.
    public static let maxTensorCount: UInt64 = 1 << 20
    /// One string (key, value or array element), in bytes.
    public static let maxStringBytes: UInt64 = 1 << 26
    /// Elements of one metadata array.
    public static let maxArrayCount: UInt64 = 1 << 28
    /// Nesting depth of arrays inside arrays.
    public static let maxArrayDepth = 4
    /// A tensor name, in bytes (the GGUF specification's limit).
    public static let maxTensorNameBytes: UInt64 = 64
    /// Tensor dimensions.
    public static let maxDims = 4
    /// Elements of one tensor.
    public static let maxTensorElements: Int64 = 1 << 40
    /// Vocabulary entries.
    public static let maxVocab = 1 << 22
    /// Transformer layers, heads, widths.
    public static let maxLayers = 1024
    public static let maxHeads = 4096
    public static let maxWidth = 1 << 20
    public static let maxContext = 1 << 24
    /// Safetensors JSON header.
    public static let maxSafetensorsHeader: UInt64 = 100 << 20
}

/// Checked arithmetic helpers: every product of counts read from a file goes through these.
@inline(__always)
func checkedMul(_ a: Int64, _ b: Int64, _ what: @autoclosure () -> String) throws -> Int64 {
    let (r, o) = a.multipliedReportingOverflow(by: b)
    if o { throw MIIError.format("\(what()): size overflows") }
    return r
}

@inline(__always)
func checkedAdd(_ a: Int64, _ b: Int64, _ what: @autoclosure () -> String) throws -> Int64 {
    let (r, o) = a.addingReportingOverflow(b)
    if o { throw MIIError.format("\(what()): size overflows") }
    return r
}

extension Limits {
    /// A JSON document (config.json, tokenizer.json, a safetensors header), in bytes.
    public static let maxJSONBytes = 512 << 20
    /// Values (arrays, objects, object keys, strings, numbers, literals) of one JSON document. The
    /// parser keeps 24 bytes per value, so this bounds its memory at ~800 MB whatever the input; the
    /// largest real tokenizer.json files (250k-token vocabularies with their merges) have ~1-2 million.
    public static let maxJSONValues = 1 << 25
    /// Nesting depth of JSON arrays/objects.
    public static let maxJSONDepth = 512
    /// One JSON number literal, in bytes.
    public static let maxJSONNumberBytes = 4096
    /// Dimensions of one safetensors tensor.
    public static let maxSafetensorsDims = 8
    /// Shards of one sharded safetensors checkpoint.
    public static let maxSafetensorsShards = 4096
    /// config.json, tokenizer_config.json, generation_config.json and other small JSON files of a folder.
    public static let maxConfigBytes = 16 << 20
    /// Texts per embedding call.
    public static let maxEmbedBatch = 1 << 16
    /// Sequences one BatchDecoder step may take.
    public static let maxBatchSequences = 256
}

extension Limits {
    /// A chat template's source, in bytes (real ones are under 20 KiB).
    public static let maxJinjaTemplateBytes = 1 << 20
    /// Nesting of blocks and expressions in a chat template (parser recursion).
    public static let maxJinjaNesting = 100
    /// Depth of evaluation while rendering: nested expressions, blocks and macro calls together.
    public static let maxJinjaRecursion = 256
    /// Nested lists/dicts printed or serialized by a template.
    public static let maxJinjaValueDepth = 128
    /// Evaluation steps (expressions, statements, loop iterations) of one render.
    public static let maxJinjaSteps = 2_000_000  // ~2 s of the worst template in release builds; real chat templates use thousands
    /// Rendered output, and any single string a template builds, in bytes.
    public static let maxJinjaOutputBytes = 64 << 20
    /// Elements of one list a template builds (`range`, list repetition); jinja2's sandbox allows
    /// ranges of 100,000.
    public static let maxJinjaRange = 100_000
    public static let maxJinjaListCount = 1 << 22
}

extension Limits {
    /// One token text of a tokenizer.json vocabulary (or an added token), in bytes. Bounds the work per
    /// input character of trie walks (Unigram, WordPiece, added tokens).
    public static let maxTokenTextBytes = 1024
    /// Merges of a tokenizer.json BPE model.
    public static let maxMerges = 1 << 24
    /// Nesting of tokenizer.json Sequence normalizers/pre-tokenizers/decoders/processors, and the
    /// number of stages in one Sequence.
    public static let maxTokenizerStageDepth = 16
    public static let maxTokenizerStages = 256
    /// A Replace/Split pattern of tokenizer.json, in bytes, and its atoms (literal characters and sets).
    public static let maxTokenizerPatternBytes = 4096
    public static let maxTokenizerPatternAtoms = 64
    /// Matching work allowed per input character for a Replace/Split pattern: a pattern that would
    /// backtrack more stops matching instead of hanging.
    public static let maxPatternStepsPerChar = 256
}
