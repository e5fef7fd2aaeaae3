// Loading a Hugging Face tokenizer.json (and optionally tokenizer_config.json) into a `Tokenizer`.
// Every shape is checked: a malformed file gives MIIError.invalidFormat, a well-formed one using a
// component this engine does not implement gives MIIError.unsupported.

private func fail(_ m: String) -> MIIError { MIIError.format("tokenizer.json: \(m)") }
private func unsupported(_ m: String) -> MIIError { MIIError.unsupported("tokenizer.json: \(m)") }

/// Token texts by id while tokenizer.json is read: the model's are strings of the parsed document, read
/// in place (no array per token); added tokens and normalized contents have bytes of their own.
private struct HFTokenTexts: ByteStringList {
    enum Text { case missing, node(Int), own([UInt8]) }
    let doc: JSONDocument
    var items: [Text] = []

    init(doc: JSONDocument) { self.doc = doc }

    var count: Int { items.count }

    func withBytes<R>(of t: Text, _ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        switch t {
        case .missing: return try body(UnsafeBufferPointer(start: nil, count: 0))
        case .node(let k): return try doc.withStringBytes(k, body)
        case .own(let b): return try b.withUnsafeBufferPointer(body)
        }
    }

    func withBytes<R>(_ i: Int, _ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        try withBytes(of: items[i], body)
    }

    func isMissing(_ i: Int) -> Bool { if case .missing = items[i] { return true } else { return false } }
    func bytes(_ i: Int) -> [UInt8] { withBytes(i) { Array($0) } }
    func string(of t: Text) -> String { withBytes(of: t) { String(decoding: $0, as: UTF8.self) } }
}

private extension JSONValue {
    func str(_ key: String, _ ctx: String) throws -> String {
        guard let v = self[key] else { throw fail("\(ctx): '\(key)' is missing") }
        guard let s = v.string else { throw fail("\(ctx): '\(key)' is a \(v.typeName), not a string") }
        return s
    }

    func optStr(_ key: String, _ ctx: String) throws -> String? {
        guard let v = self[key], !v.isNull else { return nil }
        guard let s = v.string else { throw fail("\(ctx): '\(key)' is a \(v.typeName), not a string") }
        return s
    }

    func optBool(_ key: String, _ ctx: String) throws -> Bool? {
        guard let v = self[key], !v.isNull else { return nil }
        guard let b = v.bool else { throw fail("\(ctx): '\(key)' is a \(v.typeName), not a boolean") }
        return b
    }

    func optInt(_ key: String, _ ctx: String) throws -> Int64? {
        guard let v = self[key], !v.isNull else { return nil }
        guard let i = v.int else { throw fail("\(ctx): '\(key)' is not an integer") }
        return i
    }

    func arr(_ key: String, _ ctx: String) throws -> [JSONValue] {
        guard let v = self[key] else { throw fail("\(ctx): '\(key)' is missing") }
        guard let a = v.array else { throw fail("\(ctx): '\(key)' is a \(v.typeName), not an array") }
        return a
    }

    func typeTag(_ ctx: String) throws -> String {
        guard self.object != nil else { throw fail("\(ctx) is a \(typeName), not an object") }
        return try str("type", ctx)
    }
}

/// A single character given as a string (Metaspace replacement, Strip content...).
private func oneChar(_ s: String, _ ctx: String) throws -> UInt32 {
    let u = Array(s.unicodeScalars)
    guard u.count == 1 else { throw fail("\(ctx) must be one character, got \(s.debugDescription)") }
    return u[0].value
}

private func checkStage(_ depth: Int, _ ctx: String) throws {
    if depth > Limits.maxTokenizerStageDepth { throw fail("\(ctx): Sequence nesting deeper than \(Limits.maxTokenizerStageDepth)") }
}

// MARK: - stages

private func parsePattern(_ v: JSONValue?, _ ctx: String) throws -> (literal: [UInt32]?, regex: String?) {
    guard let v, let o = v.object, o.count == 1 else {
        throw fail("\(ctx): 'pattern' must be {\"String\": ...} or {\"Regex\": ...}")
    }
    let (k, x) = o[0]
    guard let s = x.string else { throw fail("\(ctx): the pattern is a \(x.typeName), not a string") }
    if s.utf8.count > Limits.maxTokenizerPatternBytes { throw fail("\(ctx): pattern longer than \(Limits.maxTokenizerPatternBytes) bytes") }
    switch k {
    case "String": return (HFChar.scalars(s), nil)
    case "Regex": return (nil, s)
    default: throw fail("\(ctx): unknown pattern kind '\(k)'")
    }
}

private func textPattern(_ v: JSONValue?, _ ctx: String) throws -> HFTextPattern {
    let (lit, re) = try parsePattern(v, ctx)
    if let lit {
        if lit.isEmpty { throw unsupported("\(ctx): empty pattern") }
        return HFTextPattern(literal: lit)
    }
    guard let re, let p = HFTextPattern(regex: re) else {
        throw unsupported("\(ctx): regex \((re ?? "").debugDescription) is not supported (only literal text, \\s, \\d and [sets] with repeats)")
    }
    return p
}

private func parseNormalizer(_ v: JSONValue, depth: Int = 0) throws -> HFNormalizer? {
    if v.isNull { return nil }
    let ctx = "normalizer"
    try checkStage(depth, ctx)
    let t = try v.typeTag(ctx)
    switch t {
    case "Sequence":
        let list = try v.arr("normalizers", "\(ctx) Sequence")
        if list.count > Limits.maxTokenizerStages { throw fail("\(ctx) Sequence: \(list.count) normalizers") }
        return .sequence(try list.compactMap { try parseNormalizer($0, depth: depth + 1) })
    case "NFC": return .unicode(.nfc)
    case "NFD": return .unicode(.nfd)
    case "NFKC": return .unicode(.nfkc)
    case "NFKD": return .unicode(.nfkd)
    case "Lowercase": return .lowercase
    case "StripAccents": return .stripAccents
    case "Strip":
        return .strip(left: try v.optBool("strip_left", ctx) ?? true, right: try v.optBool("strip_right", ctx) ?? true)
    case "Replace":
        let content = try v.str("content", "\(ctx) Replace")
        return .replace(try textPattern(v["pattern"], "\(ctx) Replace"), HFChar.scalars(content))
    case "Prepend":
        return .prepend(HFChar.scalars(try v.str("prepend", "\(ctx) Prepend")))
    case "BertNormalizer":
        let lower = try v.optBool("lowercase", ctx) ?? true
        return .bert(cleanText: try v.optBool("clean_text", ctx) ?? true,
                     chineseChars: try v.optBool("handle_chinese_chars", ctx) ?? true,
                     stripAccents: try v.optBool("strip_accents", ctx) ?? lower, lowercase: lower)
    case "Precompiled":
        guard let m = v["precompiled_charsmap"] else { throw fail("\(ctx) Precompiled: 'precompiled_charsmap' is missing") }
        if m.isNull { return nil }
        guard let s = m.string else { throw fail("\(ctx) Precompiled: 'precompiled_charsmap' is not a string") }
        return .precompiled(try PrecompiledCharsmap(base64: s))
    case "ByteLevel": return .byteLevel
    default:
        throw unsupported("normalizer type '\(t)' is not supported")
    }
}

private func splitBehavior(_ v: JSONValue, _ ctx: String, default d: HFSplitBehavior) throws -> HFSplitBehavior {
    guard let s = try v.optStr("behavior", ctx) else { return d }
    switch s.lowercased() {
    case "removed": return .removed
    case "isolated": return .isolated
    case "mergedwithprevious", "merged_with_previous": return .mergedWithPrevious
    case "mergedwithnext", "merged_with_next": return .mergedWithNext
    case "contiguous": return .contiguous
    default: throw fail("\(ctx): unknown behavior '\(s)'")
    }
}

private func prependScheme(_ v: JSONValue, _ ctx: String) throws -> HFPrependScheme {
    var scheme = HFPrependScheme.always
    if let s = try v.optStr("prepend_scheme", ctx) {
        guard let p = HFPrependScheme(rawValue: s) else { throw fail("\(ctx): unknown prepend_scheme '\(s)'") }
        scheme = p
    }
    if try v.optBool("add_prefix_space", ctx) == false {
        if v["prepend_scheme"] != nil && scheme != .never {
            throw fail("\(ctx): add_prefix_space does not match prepend_scheme")
        }
        scheme = .never
    }
    return scheme
}

private func parsePreTokenizer(_ v: JSONValue, depth: Int = 0) throws -> HFPreTokenizer? {
    if v.isNull { return nil }
    let ctx = "pre_tokenizer"
    try checkStage(depth, ctx)
    let t = try v.typeTag(ctx)
    switch t {
    case "Sequence":
        let list = try v.arr("pretokenizers", "\(ctx) Sequence")
        if list.count > Limits.maxTokenizerStages { throw fail("\(ctx) Sequence: \(list.count) pre-tokenizers") }
        return .sequence(try list.compactMap { try parsePreTokenizer($0, depth: depth + 1) })
    case "ByteLevel":
        return .byteLevel(addPrefixSpace: try v.optBool("add_prefix_space", ctx) ?? true,
                          useRegex: try v.optBool("use_regex", ctx) ?? true)
    case "Split":
        let (lit, re) = try parsePattern(v["pattern"], "\(ctx) Split")
        let behavior = try splitBehavior(v, "\(ctx) Split", default: .isolated)
        let invert = try v.optBool("invert", ctx) ?? false
        let pattern: HFSplitPattern
        if let lit {
            if lit.isEmpty { throw unsupported("\(ctx) Split: empty pattern") }
            pattern = .text(HFTextPattern(literal: lit))
        } else if let re, let k = HFSplitPattern.known(regex: re) {
            pattern = .known(k)
        } else if let re, let p = HFTextPattern(regex: re) {
            pattern = .text(p)
        } else {
            throw unsupported("\(ctx) Split: regex \((re ?? "").debugDescription) is not one of the known pre-tokenizer regexes (GPT-2, Llama 3, Qwen2, digit splits) nor a simple literal pattern")
        }
        return .split(pattern, behavior, invert: invert)
    case "Whitespace": return .whitespace
    case "WhitespaceSplit": return .whitespaceSplit
    case "BertPreTokenizer": return .bert
    case "Punctuation": return .punctuation(try splitBehavior(v, ctx, default: .isolated))
    case "Digits": return .digits(individual: try v.optBool("individual_digits", ctx) ?? false)
    case "CharDelimiterSplit": return .charDelimiter(try oneChar(try v.str("delimiter", ctx), "\(ctx) delimiter"))
    case "Metaspace":
        let rep = try oneChar(try v.str("replacement", "\(ctx) Metaspace"), "\(ctx) Metaspace replacement")
        return .metaspace(replacement: rep, prepend: try prependScheme(v, "\(ctx) Metaspace"),
                          split: try v.optBool("split", ctx) ?? true)
    default:
        throw unsupported("pre-tokenizer type '\(t)' is not supported")
    }
}

private func parseDecoder(_ v: JSONValue, depth: Int = 0) throws -> HFDecoder? {
    if v.isNull { return nil }
    let ctx = "decoder"
    try checkStage(depth, ctx)
    let t = try v.typeTag(ctx)
    switch t {
    case "Sequence":
        let list = try v.arr("decoders", "\(ctx) Sequence")
        if list.count > Limits.maxTokenizerStages { throw fail("\(ctx) Sequence: \(list.count) decoders") }
        return .sequence(try list.compactMap { try parseDecoder($0, depth: depth + 1) })
    case "ByteLevel": return .byteLevel
    case "WordPiece":
        return .wordPiece(prefix: Array((try v.optStr("prefix", ctx) ?? "##").utf8), cleanup: try v.optBool("cleanup", ctx) ?? true)
    case "Metaspace":
        let rep = try oneChar(try v.str("replacement", "\(ctx) Metaspace"), "\(ctx) Metaspace replacement")
        return .metaspace(replacement: HFChar.utf8([rep]), prependScheme: try prependScheme(v, "\(ctx) Metaspace"))
    case "Replace":
        let content = try v.str("content", "\(ctx) Replace")
        return .replace(try textPattern(v["pattern"], "\(ctx) Replace"), HFChar.scalars(content))
    case "ByteFallback": return .byteFallback
    case "Fuse": return .fuse
    case "Strip":
        let c = try oneChar(try v.str("content", "\(ctx) Strip"), "\(ctx) Strip content")
        let start = try v.optInt("start", ctx) ?? 0, stop = try v.optInt("stop", ctx) ?? 0
        guard start >= 0, stop >= 0 else { throw fail("\(ctx) Strip: negative start/stop") }
        return .strip(content: c, start: Int(min(start, 1 << 20)), stop: Int(min(stop, 1 << 20)))
    case "BPEDecoder":
        return .bpe(suffix: Array((try v.optStr("suffix", ctx) ?? "</w>").utf8))
    case "CTC":
        return .ctc(pad: Array((try v.optStr("pad_token", ctx) ?? "<pad>").utf8),
                    delimiter: Array((try v.optStr("word_delimiter_token", ctx) ?? "|").utf8),
                    cleanup: try v.optBool("cleanup", ctx) ?? true)
    default:
        throw unsupported("decoder type '\(t)' is not supported")
    }
}

private func parsePostProcessor(_ v: JSONValue, find: (String) -> Int32?, depth: Int = 0) throws -> HFPostProcessor? {
    if v.isNull { return nil }
    let ctx = "post_processor"
    try checkStage(depth, ctx)
    let t = try v.typeTag(ctx)
    func pairToken(_ key: String) throws -> Int32 {
        let a = try v.arr(key, "\(ctx) \(t)")
        guard a.count == 2, a[0].string != nil, let id = a[1].int else { throw fail("\(ctx) \(t): '\(key)' must be [token, id]") }
        guard id >= 0 && id < Int64(Limits.maxVocab) else { throw fail("\(ctx) \(t): '\(key)' id \(id) is out of range") }
        return Int32(id)
    }
    switch t {
    case "Sequence":
        let list = try v.arr("processors", "\(ctx) Sequence")
        if list.count > Limits.maxTokenizerStages { throw fail("\(ctx) Sequence: \(list.count) processors") }
        return .sequence(try list.compactMap { try parsePostProcessor($0, find: find, depth: depth + 1) })
    case "ByteLevel": return .byteLevel
    case "BertProcessing": return .bert(cls: try pairToken("cls"), sep: try pairToken("sep"))
    case "RobertaProcessing": return .roberta(cls: try pairToken("cls"), sep: try pairToken("sep"))
    case "TemplateProcessing":
        var special: [String: [Int32]] = [:]
        if let st = v["special_tokens"], !st.isNull {
            guard let members = st.object else { throw fail("\(ctx) TemplateProcessing: 'special_tokens' is not an object") }
            if members.count > 65536 { throw fail("\(ctx) TemplateProcessing: too many special tokens") }
            for (k, e) in members {
                let idsV = try e.arr("ids", "\(ctx) special token \(k.debugDescription)")
                if idsV.count > 4096 { throw fail("\(ctx) special token \(k.debugDescription): too many ids") }
                var ids: [Int32] = []
                for x in idsV {
                    guard let i = x.int, i >= 0, i < Int64(Limits.maxVocab) else {
                        throw fail("\(ctx) special token \(k.debugDescription): an id is not a valid token id")
                    }
                    ids.append(Int32(i))
                }
                special[k] = ids
            }
        }
        func template(_ key: String) throws -> [HFTemplatePiece] {
            let list = try v.arr(key, "\(ctx) TemplateProcessing")
            if list.count > 4096 { throw fail("\(ctx) TemplateProcessing: '\(key)' is too long") }
            return try list.map { p in
                if let s = p["SpecialToken"] {
                    let id = try s.str("id", "\(ctx) \(key) SpecialToken")
                    guard special[id] != nil else {
                        throw fail("\(ctx) TemplateProcessing: special token \(id.debugDescription) is used but not defined in special_tokens")
                    }
                    let tid = try s.optInt("type_id", ctx) ?? 0
                    guard tid >= 0 && tid < 1 << 16 else { throw fail("\(ctx): type_id \(tid) out of range") }
                    return .special(id, type: Int32(tid))
                }
                if let s = p["Sequence"] {
                    let id = try s.str("id", "\(ctx) \(key) Sequence")
                    guard id == "A" || id == "B" else { throw fail("\(ctx) TemplateProcessing: sequence id '\(id)' is not A or B") }
                    let tid = try s.optInt("type_id", ctx) ?? 0
                    guard tid >= 0 && tid < 1 << 16 else { throw fail("\(ctx): type_id \(tid) out of range") }
                    return .sequence(id == "A" ? 0 : 1, type: Int32(tid))
                }
                throw fail("\(ctx) TemplateProcessing: a '\(key)' piece is neither SpecialToken nor Sequence")
            }
        }
        return .template(single: try template("single"), pair: try template("pair"), special: special)
    default:
        throw unsupported("post-processor type '\(t)' is not supported")
    }
}

// MARK: - the tokenizer

extension Tokenizer {
    /// Builds a tokenizer from the bytes of a Hugging Face `tokenizer.json` and, optionally, of its
    /// `tokenizer_config.json` (special tokens, add_bos_token/add_eos_token, chat template, ...).
    /// Encoding and decoding follow the `tokenizers` library. Padding and truncation settings of the
    /// file are ignored. Throws `.invalidFormat` for malformed files and `.unsupported` for components
    /// that are not implemented (e.g. an unknown pre-tokenizer regex).
    /// `chatTemplateFile`: the bytes of a separate `chat_template.jinja` (transformers 5 saves the
    /// template there); it takes precedence over tokenizer_config.json's chat_template.
    public static func fromHuggingFace(tokenizerJSON: [UInt8], tokenizerConfigJSON: [UInt8]?,
                                       chatTemplateFile: [UInt8]? = nil) throws -> Tokenizer {
        if tokenizerJSON.count > Limits.maxJSONBytes { throw fail("\(tokenizerJSON.count) bytes, above the limit") }
        // The model's vocabulary and merges (~100k strings) are read from the parsed document directly;
        // everything else as JSONValues.
        let doc = try JSONDocument.parse(tokenizerJSON, context: "tokenizer.json")
        guard doc.kind(doc.root) == .object else { throw fail("the document is a \(doc.typeName(doc.root)), not an object") }
        let root = doc.value(doc.root, omitting: ["model"])
        var config: JSONValue? = nil
        if let c = tokenizerConfigJSON {
            let v = try JSONValue.parse(c, context: "tokenizer_config.json")
            guard v.object != nil else { throw MIIError.format("tokenizer_config.json: the document is not an object") }
            config = v
        }

        // Model vocabulary.
        guard let modelNode = doc.member(doc.root, "model"), doc.kind(modelNode) == .object else {
            throw fail("'model' is missing or not an object")
        }
        let model = doc.value(modelNode, omitting: ["vocab", "merges"])
        let vocabNode = doc.member(modelNode, "vocab"), mergesNode = doc.member(modelNode, "merges")
        var modelType = try model.optStr("type", "model")
        if modelType == nil {
            // Old files have no type: infer it from the fields.
            if mergesNode != nil { modelType = "BPE" }
            else if model["continuing_subword_prefix"] != nil && model["max_input_chars_per_word"] != nil { modelType = "WordPiece" }
            else if let v = vocabNode, doc.kind(v) == .array { modelType = "Unigram" }
        }
        guard let mt = modelType else { throw fail("model has no 'type'") }
        var texts = HFTokenTexts(doc: doc)
        var scores: [Double] = []
        func place(_ id: Int64, _ t: HFTokenTexts.Text, _ what: String) throws {
            let length = texts.withBytes(of: t) { $0.count }
            guard id >= 0 && id < Int64(Limits.maxVocab) else {
                throw fail("\(what) \(texts.string(of: t).debugDescription) has id \(id), outside 0..<\(Limits.maxVocab)")
            }
            if length == 0 { throw fail("\(what) with id \(id) has an empty text") }
            if length > Limits.maxTokenTextBytes { throw unsupported("\(what) with id \(id) is longer than \(Limits.maxTokenTextBytes) bytes") }
            let i = Int(id)
            if i >= texts.count { texts.items.append(contentsOf: repeatElement(.missing, count: i + 1 - texts.count)) }
            if texts.isMissing(i) {
                texts.items[i] = t
            } else if !texts.withBytes(i, { old in texts.withBytes(of: t) { old.elementsEqual($0) } }) {
                throw fail("\(what) \(texts.string(of: t).debugDescription) has id \(id), already used by \(texts.string(of: texts.items[i]).debugDescription)")
            }
        }
        switch mt {
        case "BPE", "WordPiece", "WordLevel":
            if mt == "WordLevel" { throw unsupported("model type 'WordLevel' is not supported") }
            guard let vocab = vocabNode else { throw fail("model has no 'vocab'") }
            guard doc.kind(vocab) == .object else { throw fail("model 'vocab' is a \(doc.typeName(vocab)), not an object of token: id") }
            if doc.count(vocab) > Limits.maxVocab { throw fail("\(doc.count(vocab)) tokens, above the limit of \(Limits.maxVocab)") }
            // A repeated key is a second entry here (two ids for one text: an error below).
            texts.items.reserveCapacity(doc.count(vocab))
            try doc.forEachMember(vocab) { k, v in
                guard let id = doc.int(v) else {
                    throw fail("vocab entry \(doc.string(k)!.debugDescription) has a \(doc.typeName(v)) id, not an integer")
                }
                if id >= 0 && Int(id) < texts.count && !texts.isMissing(Int(id)) {
                    throw fail("vocab ids are not unique: \(doc.string(k)!.debugDescription) has id \(id) like another token")
                }
                try place(id, .node(k), "vocab token")
            }
        case "Unigram":
            guard let list = vocabNode else { throw fail("model: 'vocab' is missing") }
            guard doc.kind(list) == .array else { throw fail("model: 'vocab' is a \(doc.typeName(list)), not an array") }
            if doc.count(list) > Limits.maxVocab { throw fail("\(doc.count(list)) tokens, above the limit of \(Limits.maxVocab)") }
            var i = 0
            try doc.forEachElement(list) { e in
                guard doc.kind(e) == .array, doc.count(e) == 2, doc.kind(e + 1) == .string, let sc = doc.value(e + 2).double else {
                    throw fail("Unigram vocab entry \(i) is not [piece, score]")
                }
                guard sc.isFinite else { throw fail("Unigram vocab entry \(i) has a non-finite score") }
                try place(Int64(i), .node(e + 1), "Unigram piece")
                scores.append(sc)
                i += 1
            }
        default:
            throw unsupported("model type '\(mt)' is not supported (BPE, WordPiece and Unigram are)")
        }
        let modelCount = texts.count
        if modelCount == 0 { throw fail("the model vocabulary is empty") }
        for i in 0..<modelCount where texts.isMissing(i) {
            throw fail("the model vocabulary has no token with id \(i) (ids must be 0..<\(modelCount))")
        }

        // Added tokens.
        var added: [HFAddedToken] = []
        if let at = root["added_tokens"], !at.isNull {
            guard let list = at.array else { throw fail("'added_tokens' is not an array") }
            if list.count > Limits.maxVocab { throw fail("too many added tokens") }
            for (i, e) in list.enumerated() {
                let ctx = "added token \(i)"
                guard e.object != nil else { throw fail("\(ctx) is not an object") }
                guard let id = try e.optInt("id", ctx) else { throw fail("\(ctx) has no id") }
                let content = try e.str("content", ctx)
                if id >= 0 && Int(id) < modelCount, texts.bytes(Int(id)) != Array(content.utf8) {
                    throw fail("\(ctx) \(content.debugDescription) has id \(id), which the model gives to \(texts.string(of: texts.items[Int(id)]).debugDescription)")
                }
                try place(id, .own(Array(content.utf8)), ctx)
                let special = try e.optBool("special", ctx) ?? false
                added.append(HFAddedToken(id: Int32(id), content: HFChar.scalars(content), special: special,
                                          singleWord: try e.optBool("single_word", ctx) ?? false,
                                          lstrip: try e.optBool("lstrip", ctx) ?? false,
                                          rstrip: try e.optBool("rstrip", ctx) ?? false,
                                          normalized: try e.optBool("normalized", ctx) ?? !special))
            }
        }
        let n = texts.count
        for i in modelCount..<n where texts.isMissing(i) {
            throw fail("no token has id \(i) (added tokens leave a gap after the model vocabulary)")
        }
        // Parsed here already so that added tokens with normalized = true can be named by their
        // normalized content, as tokenizers' id_to_token does.
        let normalizer = try parseNormalizer(root["normalizer"] ?? .null)
        if let normalizer {
            var used = Set<[UInt8]>()
            for i in 0..<n { used.insert(texts.bytes(i)) }
            for t in added where t.normalized && Int(t.id) >= modelCount {
                let nb = HFChar.utf8(normalizer.apply(t.content))
                if !nb.isEmpty && !used.contains(nb) {
                    used.insert(nb)
                    texts.items[Int(t.id)] = .own(nb)
                }
            }
        }
        for i in 0..<n where !texts.withBytes(i, UTF8Util.isValid) {
            throw fail("token \(i) is not valid UTF-8")
        }
        let vocab = try TokenTextTable(texts: texts)
        var inModel = [Bool](repeating: false, count: n)
        for i in 0..<modelCount { inModel[i] = true }
        func find(_ s: String) -> Int32? { let id = vocab.find(s); return id >= 0 ? id : nil }
        func findModel(_ s: UnsafeBufferPointer<UInt8>) -> Int32 { let id = vocab.find(s); return id >= 0 && inModel[Int(id)] ? id : -1 }
        func findModel(_ s: [UInt8]) -> Int32 { s.withUnsafeBufferPointer { findModel($0) } }

        // Model.
        var byteTokens = [Int32](repeating: -1, count: 256)
        for b in 0..<256 { byteTokens[b] = findModel(hexByteToken(UInt8(b))) }
        let unkName = try model.optStr("unk_token", "model")
        var unkId: Int32? = nil
        let hfModel: HFModel
        let kind: Kind
        var byteFallback = false
        switch mt {
        case "BPE":
            kind = .bpe
            if let u = unkName {
                guard let id = find(u) else { throw fail("model unk_token \(u.debugDescription) is not in the vocabulary") }
                unkId = id
            }
            byteFallback = try model.optBool("byte_fallback", "model") ?? false
            if let d = model["dropout"], !d.isNull, let x = d.double, x > 0 {
                throw unsupported("BPE dropout is not supported")
            }
            let prefix = Array((try model.optStr("continuing_subword_prefix", "model") ?? "").utf8)
            let suffix = Array((try model.optStr("end_of_word_suffix", "model") ?? "").utf8)
            guard let merges = mergesNode else { throw fail("model: 'merges' is missing") }
            guard doc.kind(merges) == .array else { throw fail("model: 'merges' is a \(doc.typeName(merges)), not an array") }
            if doc.count(merges) > Limits.maxMerges { throw fail("\(doc.count(merges)) merges, above the limit") }
            var table = MergeTable(capacity: doc.count(merges))
            var rank = 0
            // One merge: the token texts a and b, read in place.
            func merge(_ a: UnsafeBufferPointer<UInt8>, _ b: UnsafeBufferPointer<UInt8>) throws {
                let ia = findModel(a), ib = findModel(b)
                if ia < 0 || ib < 0 {
                    throw fail("merge \(rank) refers to a token that is not in the vocabulary (\(String(decoding: ia < 0 ? a : b, as: UTF8.self).debugDescription))")
                }
                let tail = !prefix.isEmpty && b.starts(with: prefix) ? UnsafeBufferPointer(rebasing: b[prefix.count...]) : b
                var r = vocab.find(a, followedBy: tail)
                if r >= 0 && !inModel[Int(r)] { r = -1 }
                if r < 0 {
                    throw fail("merge \(rank): the merged token \(String(decoding: Array(a) + Array(tail), as: UTF8.self).debugDescription) is not in the vocabulary")
                }
                table.insertReplacing(ia, ib, rank: Int32(rank), result: r)
            }
            try doc.forEachElement(merges) { m in
                if doc.kind(m) == .string {
                    // "a b": tokenizers splits at every space and requires exactly two parts.
                    try doc.withStringBytes(m) { s in
                        guard let sp = s.firstIndex(of: 0x20), !s[(sp + 1)...].contains(0x20) else {
                            throw fail("merge \(rank) \(String(decoding: s, as: UTF8.self).debugDescription) is not two tokens separated by a space")
                        }
                        try merge(UnsafeBufferPointer(rebasing: s[..<sp]), UnsafeBufferPointer(rebasing: s[(sp + 1)...]))
                    }
                } else if doc.count(m) == 2 && doc.kind(m) == .array, doc.kind(m + 1) == .string, doc.kind(m + 2) == .string {
                    try doc.withStringBytes(m + 1) { a in try doc.withStringBytes(m + 2) { b in try merge(a, b) } }
                } else {
                    throw fail("merge \(rank) is neither \"a b\" nor [a, b]")
                }
                rank += 1
            }
            hfModel = .bpe(HFBPEModel(merges: table, unkId: unkId, fuseUnk: try model.optBool("fuse_unk", "model") ?? false,
                                      byteFallback: byteFallback, ignoreMerges: try model.optBool("ignore_merges", "model") ?? false,
                                      prefix: prefix, suffix: suffix, byteTokens: byteTokens))
        case "WordPiece":
            kind = .wordPiece
            let u = unkName ?? "[UNK]"
            guard let id = find(u) else { throw fail("model unk_token \(u.debugDescription) is not in the vocabulary") }
            unkId = id
            let maxChars = try model.optInt("max_input_chars_per_word", "model") ?? 100
            guard maxChars >= 0 else { throw fail("max_input_chars_per_word is negative") }
            hfModel = .wordPiece(WordPieceModel(unkId: id, prefix: Array((try model.optStr("continuing_subword_prefix", "model") ?? "##").utf8),
                                                maxInputChars: Int(min(maxChars, Int64(Int32.max))),
                                                tokens: (0..<modelCount).map { texts.bytes($0) }))
        default:  // Unigram
            kind = .unigram
            if let u = try model.optInt("unk_id", "model") {
                guard u >= 0 && u < Int64(modelCount) else { throw fail("Unigram unk_id \(u) is outside the vocabulary") }
                unkId = Int32(u)
            }
            byteFallback = try model.optBool("byte_fallback", "model") ?? false
            hfModel = .unigram(try UnigramModel(tokens: (0..<modelCount).map { texts.bytes($0) }, scores: scores, unkId: unkId,
                                                byteFallback: byteFallback, byteTokens: byteTokens))
        }

        // Pipeline stages.
        let pre = try parsePreTokenizer(root["pre_tokenizer"] ?? .null)
        var post = try parsePostProcessor(root["post_processor"] ?? .null, find: find)
        let decoder = try parseDecoder(root["decoder"] ?? .null)
        func checkIds(_ p: HFPostProcessor?) throws {
            guard let p else { return }
            switch p {
            case .bert(let c, let s), .roberta(let c, let s):
                if Int(c) >= n || Int(s) >= n { throw fail("post_processor: a special token id is outside the vocabulary") }
            case .template(_, _, let sp):
                for ids in sp.values where ids.contains(where: { Int($0) >= n }) {
                    throw fail("post_processor: a special token id is outside the vocabulary")
                }
            case .sequence(let l): for x in l { try checkIds(x) }
            case .byteLevel: break
            }
        }
        try checkIds(post)

        // tokenizer_config.json.
        func configToken(_ key: String) throws -> Int32?? {
            guard let c = config, let v = c[key], !v.isNull else { return .none }
            let text: String
            if let s = v.string { text = s }
            else if let s = v["content"]?.string { text = s }
            else { throw MIIError.format("tokenizer_config.json: '\(key)' is neither a string nor {\"content\": ...}") }
            guard let id = find(text) else {
                throw MIIError.format("tokenizer_config.json: \(key) \(text.debugDescription) is not in the vocabulary")
            }
            return .some(id)
        }
        func configBool(_ key: String) throws -> Bool? {
            guard let c = config, let v = c[key], !v.isNull else { return nil }
            guard let b = v.bool else { throw MIIError.format("tokenizer_config.json: '\(key)' is not a boolean") }
            return b
        }
        var ids = SpecialIds()
        ids.unk = unkId
        if let v = try configToken("unk_token") { ids.unk = v }
        // BOS/EOS: the config, else the first/last special token of the single template, else by text.
        var templateFirst: Int32? = nil, templateLast: Int32? = nil
        if let p = post {
            let probe = HFPostProcessor.run(p, a: [], b: nil, addSpecial: true).ids
            templateFirst = probe.first
            if probe.count > 1 || (probe.count == 1 && probe.first != nil) { templateLast = probe.last }
        }
        if let v = try configToken("bos_token") { ids.bos = v } else {
            ids.bos = templateFirst ?? ["<s>", "<|begin_of_text|>", "<bos>", "<|startoftext|>", "[CLS]"].lazy.compactMap(find).first
        }
        if let v = try configToken("eos_token") { ids.eos = v } else {
            ids.eos = (templateLast != templateFirst ? templateLast : nil)
                ?? ["</s>", "<|end_of_text|>", "<|endoftext|>", "<eos>", "[SEP]"].lazy.compactMap(find).first
        }
        if let v = try configToken("pad_token") { ids.pad = v } else {
            ids.pad = ["<pad>", "[PAD]", "<|pad|>"].lazy.compactMap(find).first
        }
        // add_bos_token / add_eos_token: transformers rebuilds the template from them (Llama-style).
        let addBOSConfig = try configBool("add_bos_token"), addEOSConfig = try configBool("add_eos_token")
        if addBOSConfig != nil || addEOSConfig != nil {
            var probe = post.map { HFPostProcessor.run($0, a: [], b: nil, addSpecial: true).ids } ?? []
            let wantBOS = addBOSConfig ?? (ids.bos != nil && probe.first == ids.bos)
            let wantEOS = addEOSConfig ?? (ids.eos != nil && probe.last == ids.eos)
            if wantBOS && ids.bos == nil { throw MIIError.format("tokenizer_config.json: add_bos_token is set but there is no bos_token") }
            if wantEOS && ids.eos == nil { throw MIIError.format("tokenizer_config.json: add_eos_token is set but there is no eos_token") }
            let hasBOS = ids.bos != nil && probe.first == ids.bos
            let hasEOS = ids.eos != nil && probe.last == ids.eos && probe.count > (hasBOS ? 1 : 0)
            if wantBOS != hasBOS || wantEOS != hasEOS {
                var special: [String: [Int32]] = [:]
                var single: [HFTemplatePiece] = [], pair: [HFTemplatePiece] = []
                if wantBOS, let b = ids.bos { special["bos"] = [b]; single.append(.special("bos", type: 0)); pair.append(.special("bos", type: 0)) }
                single.append(.sequence(0, type: 0)); pair.append(.sequence(0, type: 0))
                if wantEOS, let e = ids.eos { special["eos"] = [e]; single.append(.special("eos", type: 0)); pair.append(.special("eos", type: 0)) }
                if wantBOS { pair.append(.special("bos", type: 1)) }
                pair.append(.sequence(1, type: 1))
                if wantEOS { pair.append(.special("eos", type: 1)) }
                post = .template(single: single, pair: pair, special: special)
                probe = []
            }
        }
        var cleanSpaces = false
        if let v = try configBool("clean_up_tokenization_spaces") { cleanSpaces = v }
        var maxLength: Int? = nil
        if let c = config, let v = c["model_max_length"], let d = v.double, d.isFinite, d >= 1, d < 1e15 {
            maxLength = Int(d)
        }
        var chatTemplate: String? = nil
        if let c = config, let v = c["chat_template"], !v.isNull {
            if let s = v.string {
                chatTemplate = s
            } else if let list = v.array {
                for e in list where e["name"]?.string == "default" { chatTemplate = e["template"]?.string }
                if chatTemplate == nil { chatTemplate = list.first?["template"]?.string }
            } else {
                throw MIIError.format("tokenizer_config.json: 'chat_template' is neither a string nor a list of {name, template}")
            }
        }

        if let f = chatTemplateFile {
            let t = String(decoding: f, as: UTF8.self)
            if Array(t.utf8) != f { throw MIIError.format("chat_template.jinja is not valid UTF-8") }
            chatTemplate = t
        }

        // Attributes.
        var attrs = [UInt16](repeating: TokenAttr.normal, count: n)
        var specialAdded = Set<Int32>(), addedIds = Set<Int32>()
        if byteFallback { for id in byteTokens where id >= 0 { attrs[Int(id)] = TokenAttr.byte } }
        if let u = unkId { attrs[Int(u)] = TokenAttr.unknown }
        for t in added {
            addedIds.insert(t.id)
            if t.special { specialAdded.insert(t.id); attrs[Int(t.id)] = TokenAttr.control } else { attrs[Int(t.id)] = TokenAttr.userDefined }
        }

        // End of generation: EOS and the usual end-of-turn markers that exist.
        var eog = Set<Int32>()
        if let e = ids.eos { eog.insert(e) }
        for t in ["<|im_end|>", "<|eot_id|>", "<|endoftext|>", "</s>", "<|end_of_text|>", "<|end|>", "<end_of_turn>",
                  "<|eom_id|>", "<eos>", "<|return|>", "<end_of_utterance>"] {
            if let id = find(t), addedIds.contains(id) || t == "</s>" { eog.insert(id) }
        }
        for t in ["<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>"] {
            if ids.eot == nil, let id = find(t) { ids.eot = id }
        }

        // Added-token matchers: raw contents, and contents normalized by the normalizer.
        let rawList = added.filter { !$0.normalized }
        let normList = added.filter { $0.normalized }
        let rawAdded = HFAddedMatcher(rawList, patterns: rawList.map { $0.content })
        let normAdded = HFAddedMatcher(normList, patterns: normList.map { normalizer?.apply($0.content) ?? $0.content })

        let pipeline = HFPipeline(normalizer: normalizer, preTokenizer: pre, model: hfModel, postProcessor: post, decoder: decoder,
                                  rawAdded: rawAdded, normalizedAdded: normAdded, inModel: inModel,
                                  specialAdded: specialAdded, addedIds: addedIds)
        let probe = HFPostProcessor.run(post, a: [], b: nil, addSpecial: true).ids
        let addBOS = ids.bos != nil && probe.first == ids.bos
        let addEOS = ids.eos != nil && probe.last == ids.eos && probe.count > (addBOS ? 1 : 0)
        return Tokenizer(kind: kind, modelName: "hf-" + mt.lowercased(), preTokenizer: "tokenizer.json", vocab: vocab, attrs: attrs,
                         ids: ids, flags: (addBOS, addEOS, false, cleanSpaces), escapeWhitespace: false, eog: eog,
                         bpe: nil, spm: nil, hf: pipeline, chatTemplate: chatTemplate, modelMaxLength: maxLength)
    }
}
