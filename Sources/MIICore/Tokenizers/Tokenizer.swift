// The tokenizer of a GGUF model, built from its `tokenizer.ggml.*` metadata the way llama.cpp's
// llama_vocab::load does it (src/llama-vocab.cpp), for these vocabulary types:
//   "gpt2"   byte-level BPE with merge ranks and a pre-tokenizer chosen by `tokenizer.ggml.pre`
//   "llama"  SentencePiece BPE with token scores, a dummy space prefix, U+2581 for spaces and byte fallback
//   "gemma4" BPE with merge ranks over UTF-8 characters, U+2581 for spaces and byte fallback
//   "bert"   WordPiece (llama.cpp's WPM): word-start pieces carry U+2581, [CLS] ... [SEP] around the text
// Deliberate differences from llama.cpp are marked "Unlike llama.cpp" where they are made.
//
// It can also be built from a Hugging Face tokenizer.json (`fromHuggingFace`, Tokenizers/HF/): then
// encoding, decoding, special tokens and pairs follow the `tokenizers` library (BPE, WordPiece and
// Unigram models with their normalizers, pre-tokenizers, post-processors and decoders).

/// Token attributes (the same bits as llama.cpp's llama_token_attr).
enum TokenAttr {
    static let undefined: UInt16 = 0
    static let unknown: UInt16 = 1 << 0
    static let unused: UInt16 = 1 << 1
    static let normal: UInt16 = 1 << 2
    static let control: UInt16 = 1 << 3
    static let userDefined: UInt16 = 1 << 4
    static let byte: UInt16 = 1 << 5
    static let lstrip: UInt16 = 1 << 7
    static let rstrip: UInt16 = 1 << 8

    /// From a GGUF `tokenizer.ggml.token_type` value.
    static func from(tokenType t: Int64) -> UInt16 {
        switch t {
        case 1: return normal
        case 2: return unknown
        case 3: return control
        case 4: return userDefined
        case 5: return unused
        case 6: return byte
        default: return undefined
        }
    }
}

public final class Tokenizer: @unchecked Sendable {
    public enum Kind: String, Sendable {
        /// BPE with merge ranks (GGUF `tokenizer.ggml.model` = "gpt2", byte-level, or "gemma4").
        case bpe
        /// SentencePiece BPE (GGUF `tokenizer.ggml.model` = "llama").
        case spm
        /// WordPiece (a Hugging Face tokenizer.json with a "WordPiece" model, e.g. BERT, or GGUF
        /// `tokenizer.ggml.model` = "bert").
        case wordPiece
        /// Unigram (a Hugging Face tokenizer.json with a "Unigram" model, e.g. T5, XLM-R).
        case unigram
    }

    public let kind: Kind
    /// "BPE" or "SPM", as llama.cpp prints the vocabulary type.
    public var kindName: String {
        switch kind {
        case .bpe: return "BPE"
        case .spm: return "SPM"
        case .wordPiece: return "WPM"
        case .unigram: return "UGM"
        }
    }
    /// `tokenizer.ggml.model`.
    public let modelName: String
    /// The pre-tokenizer: `tokenizer.ggml.pre`, "default" when absent (SentencePiece has none), "gemma4"
    /// for Gemma 4 vocabularies.
    public let preTokenizer: String
    public let vocabSize: Int
    public let bosId: Int32?
    public let eosId: Int32?
    public let eotId: Int32?
    public let eomId: Int32?
    public let padId: Int32?
    public let unkId: Int32?
    /// The separator appended after the text (GGUF WordPiece vocabularies: [SEP]).
    public let sepId: Int32?
    public let addBOS: Bool
    public let addEOS: Bool
    /// SentencePiece: a space is put in front of the text (and of text after a special token).
    public let addSpacePrefix: Bool
    /// Whether llama.cpp would tidy spaces before punctuation when detokenizing this vocabulary
    /// (`decode(_:skipSpecial:cleanUpSpaces:)` does it only on request).
    public let cleanSpacesByDefault: Bool
    /// Spaces are U+2581 in the vocabulary (SentencePiece, and SentencePiece-style BPE like Gemma 4).
    let escapeWhitespace: Bool

    let vocab: TokenTextTable
    let attrs: [UInt16]
    let eogIds: Set<Int32>
    let splitter: SpecialTokenSplitter
    let bpe: BPEModel?
    let spm: SPMModel?
    let wpm: GGUFWordPiece?
    /// The bytes each token stands for, with special tokens rendered as their text.
    let pieceBytes: [UInt8]
    let pieceStarts: [Int]
    /// The pipeline of a tokenizer loaded from a Hugging Face tokenizer.json (nil for GGUF vocabularies).
    let hf: HFPipeline?
    /// tokenizer_config.json's chat_template (the "default" one when it lists several), if any.
    public let chatTemplate: String?
    /// tokenizer_config.json's model_max_length, when it is a real limit.
    public let modelMaxLength: Int?

    init(kind: Kind, modelName: String, preTokenizer: String, vocab: TokenTextTable, attrs: [UInt16],
         ids: SpecialIds, flags: (addBOS: Bool, addEOS: Bool, addSpacePrefix: Bool, cleanSpaces: Bool),
         escapeWhitespace: Bool, eog: Set<Int32>, bpe: BPEModel?, spm: SPMModel?, wpm: GGUFWordPiece? = nil,
         hf: HFPipeline? = nil, chatTemplate: String? = nil, modelMaxLength: Int? = nil) {
        self.hf = hf
        self.chatTemplate = chatTemplate
        self.modelMaxLength = modelMaxLength
        self.kind = kind
        self.modelName = modelName
        self.preTokenizer = preTokenizer
        self.vocab = vocab
        self.vocabSize = vocab.count
        self.attrs = attrs
        self.bosId = ids.bos
        self.eosId = ids.eos
        self.eotId = ids.eot
        self.eomId = ids.eom
        self.padId = ids.pad
        self.unkId = ids.unk
        self.sepId = ids.sep
        self.addBOS = flags.addBOS
        self.addEOS = flags.addEOS
        self.addSpacePrefix = flags.addSpacePrefix
        self.cleanSpacesByDefault = flags.cleanSpaces
        self.escapeWhitespace = escapeWhitespace
        self.eogIds = eog
        self.bpe = bpe
        self.spm = spm
        self.wpm = wpm
        self.splitter = hf != nil ? SpecialTokenSplitter(vocab: vocab, attrs: []) : SpecialTokenSplitter(vocab: vocab, attrs: attrs)
        var bytes: [UInt8] = []
        var starts: [Int] = [0]
        starts.reserveCapacity(vocab.count + 1)
        if let hf {
            hf.renderPieces(vocab: vocab, into: &bytes, starts: &starts)
        } else {
            for id in 0..<vocab.count {
                Tokenizer.renderPiece(id: id, byteLevel: !escapeWhitespace, vocab: vocab, attr: attrs[id], into: &bytes)
                starts.append(bytes.count)
            }
        }
        self.pieceBytes = bytes
        self.pieceStarts = starts
    }

    // MARK: - loading

    struct SpecialIds {
        var bos: Int32?
        var eos: Int32?
        var eot: Int32?
        var eom: Int32?
        var unk: Int32?
        var pad: Int32?
        var sep: Int32?
        var fimPre: Int32?
        var fimSuf: Int32?
        var fimMid: Int32?
        var fimPad: Int32?
        var fimRep: Int32?
        var fimSep: Int32?
    }

    /// Builds the tokenizer from a GGUF file's `tokenizer.ggml.*` metadata. Throws `.invalidFormat` for
    /// missing or inconsistent metadata and `.unsupported` for vocabulary types or pre-tokenizers that
    /// are not implemented.
    public static func fromGGUF(_ g: GGUFFile) throws -> Tokenizer {
        guard let model = try g.string("tokenizer.ggml.model") else {
            throw MIIError.format("tokenizer: metadata 'tokenizer.ggml.model' is missing")
        }
        let kind: Kind
        switch model {
        case "gpt2", "gemma4": kind = .bpe
        case "llama": kind = .spm
        case "bert": kind = .wordPiece
        case "t5", "rwkv", "plamo2", "hybriddna", "whitespace", "test":
            throw MIIError.unsupported("tokenizer: vocabulary type '\(model)' is not supported (only 'gpt2' byte-level BPE, 'llama' SentencePiece, 'gemma4' and 'bert' WordPiece)")
        case "no_vocab", "none":
            throw MIIError.unsupported("tokenizer: the model has no vocabulary ('\(model)')")
        default:
            throw MIIError.format("tokenizer: unknown vocabulary type '\(model)'")
        }

        guard let tokens = try g.stringArray("tokenizer.ggml.tokens") else {
            throw MIIError.format("tokenizer: metadata 'tokenizer.ggml.tokens' is missing")
        }
        let n = tokens.count
        if n == 0 { throw MIIError.format("tokenizer: the vocabulary is empty") }
        if n > Limits.maxVocab || n > Int(Int32.max) {
            throw MIIError.format("tokenizer: \(n) tokens, above the limit of \(Limits.maxVocab)")
        }
        for i in 0..<n where tokens.byteCount(i) == 0 {
            // Unlike llama.cpp, which renames empty tokens "[EMPTY_<id>]".
            throw MIIError.format("tokenizer: token \(i) has an empty text")
        }
        var scores = [Float](repeating: 0, count: n)
        if let s = try g.floatArray("tokenizer.ggml.scores") {
            if s.count != n {
                throw MIIError.format("tokenizer: \(s.count) scores for \(n) tokens")
            }
            scores = s
        }
        var attrs = [UInt16](repeating: TokenAttr.normal, count: n)
        if let types = try g.intArray("tokenizer.ggml.token_type") {
            if types.count != n {
                throw MIIError.format("tokenizer: \(types.count) token types for \(n) tokens")
            }
            for i in 0..<n { attrs[i] = TokenAttr.from(tokenType: types[i]) }
        }
        let vocab = try TokenTextTable(texts: tokens)
        for i in 0..<n where attrs[i] & TokenAttr.byte != 0 {
            if byteValue(vocab.text(i)) == nil {
                throw MIIError.format("tokenizer: byte token \(i) \(tokens[i].debugDescription) is not of the form <0xXX>")
            }
        }

        // Vocabulary-type defaults, as llama.cpp sets them.
        var ids = SpecialIds()
        var addBOS = false, addEOS = false, addSpacePrefix = false, cleanSpaces = false
        var preName = try g.string("tokenizer.ggml.pre") ?? ""
        var family: PreTokenizerFamily? = nil
        switch kind {
        case .spm:
            ids.bos = 1; ids.eos = 2; ids.unk = 0
            addBOS = true; addSpacePrefix = true
            if preName.isEmpty { preName = "default" }
        case .bpe:
            if model == "gemma4" {
                preName = "gemma4"  // llama.cpp ignores tokenizer.ggml.pre for this model type
            } else {
                ids.bos = 11; ids.eos = 11  // llama.cpp's defaults (Falcon's), used only without metadata
            }
            if preName.isEmpty { preName = "default" }
            // Unlike llama.cpp, "gpt2" is accepted as a spelling of "gpt-2".
            guard let f = PreTokenizers.family(preName == "gpt2" ? "gpt-2" : preName) else {
                throw MIIError.unsupported("tokenizer: pre-tokenizer '\(preName)' is not supported")
            }
            family = f
            addBOS = f.addBOS
            cleanSpaces = f.cleanSpaces
            if f.clearBOS { ids.bos = nil }
        case .wordPiece:
            // llama.cpp's WPM defaults (the ids of bert-base-uncased's vocabulary); the pre-tokenizer
            // name is not used.
            ids.bos = 101; ids.unk = 100; ids.sep = 102; ids.pad = 0
            addBOS = true; cleanSpaces = true
            if preName.isEmpty { preName = "default" }
        case .unigram:
            break  // not produced from GGUF metadata
        }
        if let v = try g.bool("tokenizer.ggml.add_space_prefix") { addSpacePrefix = v }
        // Defaults outside the vocabulary are dropped (llama.cpp does the same).
        func inRange(_ v: Int32?) -> Int32? { v.flatMap { $0 >= 0 && Int($0) < n ? $0 : nil } }
        ids.bos = inRange(ids.bos); ids.eos = inRange(ids.eos); ids.unk = inRange(ids.unk)
        ids.sep = inRange(ids.sep); ids.pad = inRange(ids.pad)

        func readId(_ key: String, strict: Bool) throws -> Int32?? {
            guard let v = try g.int(key) else { return .none }
            if v < 0 { return .some(nil) }  // -1 and the like: "not set"
            if v >= n {
                if strict { throw MIIError.format("tokenizer: '\(key)' = \(v) is outside the vocabulary (\(n) tokens)") }
                return .none  // llama.cpp ignores it and keeps the default
            }
            return .some(Int32(v))
        }
        if let v = try readId("tokenizer.ggml.bos_token_id", strict: true) { ids.bos = v }
        if let v = try readId("tokenizer.ggml.eos_token_id", strict: true) { ids.eos = v }
        if let v = try readId("tokenizer.ggml.eot_token_id", strict: true) { ids.eot = v }
        if let v = try readId("tokenizer.ggml.eom_token_id", strict: true) { ids.eom = v }
        if let v = try readId("tokenizer.ggml.unknown_token_id", strict: true) { ids.unk = v }
        if let v = try readId("tokenizer.ggml.padding_token_id", strict: false) { ids.pad = v }
        if let v = try readId("tokenizer.ggml.seperator_token_id", strict: true) { ids.sep = v }
        let fimKeys: [(String, WritableKeyPath<SpecialIds, Int32?>)] = [
                          ("tokenizer.ggml.fim_pre_token_id", \.fimPre), ("tokenizer.ggml.prefix_token_id", \.fimPre),
                          ("tokenizer.ggml.fim_suf_token_id", \.fimSuf), ("tokenizer.ggml.suffix_token_id", \.fimSuf),
                          ("tokenizer.ggml.fim_mid_token_id", \.fimMid), ("tokenizer.ggml.middle_token_id", \.fimMid),
                          ("tokenizer.ggml.fim_pad_token_id", \.fimPad), ("tokenizer.ggml.fim_rep_token_id", \.fimRep),
                          ("tokenizer.ggml.fim_sep_token_id", \.fimSep)]
        for (key, kp) in fimKeys {
            if let v = try readId(key, strict: false) { ids[keyPath: kp] = v }
        }
        if let v = try g.bool("tokenizer.ggml.add_bos_token") { addBOS = v }
        if let v = try g.bool("tokenizer.ggml.add_eos_token") { addEOS = v }
        if family?.gemma4 == true { addBOS = true }  // llama.cpp's Gemma 4 workaround
        if kind == .wordPiece {
            // llama.cpp's WPM tokenizer puts BOS ([CLS]) before and SEP after the text whenever special
            // tokens are added, whatever add_bos_token / add_eos_token say.
            addBOS = true; addEOS = false
            if ids.sep == nil {
                throw MIIError.format("tokenizer: the WordPiece vocabulary has no separator token ([SEP])")
            }
            if ids.unk == nil {
                throw MIIError.format("tokenizer: the WordPiece vocabulary has no unknown token ([UNK])")
            }
        }
        if addBOS && ids.bos == nil {
            throw MIIError.format("tokenizer: add_bos_token is set but the vocabulary has no BOS token")
        }
        if addEOS && ids.eos == nil {
            throw MIIError.format("tokenizer: add_eos_token is set but the vocabulary has no EOS token")
        }

        // Special tokens recognised by their text, as llama.cpp does.
        let eog = detectSpecialTokens(vocab: vocab, attrs: &attrs, ids: &ids)

        // Per-model attributes llama.cpp sets by name.
        let name = (try g.string("general.name") ?? "").lowercased()
        let arch = try g.string("general.architecture") ?? ""
        if ["jina-v2-de", "jina-v2-es", "jina-v2-code"].contains(where: { preName.contains($0) })
            || ["nomic-bert-moe", "jina-bert-v3"].contains(where: { arch.contains($0) }) {
            let m = vocab.find("<mask>")
            if m >= 0 { attrs[Int(m)] |= TokenAttr.lstrip }
        } else if name.contains("phi-3") || name.contains("phi3") {
            for i in 0..<n where attrs[i] & (TokenAttr.control | TokenAttr.userDefined | TokenAttr.unknown) != 0 {
                attrs[i] |= TokenAttr.rstrip
            }
            let s = vocab.find("</s>")
            if s >= 0 { attrs[Int(s)] |= TokenAttr.rstrip }
            for t in ["<unk>", "<s>", "<|endoftext|>"] {
                let id = vocab.find(t)
                if id >= 0 { attrs[Int(id)] &= ~TokenAttr.rstrip }
            }
        }

        var bpe: BPEModel? = nil
        var spm: SPMModel? = nil
        var wpm: GGUFWordPiece? = nil
        switch kind {
        case .bpe:
            guard let list = try g.stringArray("tokenizer.ggml.merges") else {
                throw MIIError.format("tokenizer: metadata 'tokenizer.ggml.merges' is missing")
            }
            let merges = try BPEModel.parseMerges(list, vocab: vocab)
            let f = family!
            var byteTokens = [Int32](repeating: -1, count: 256)
            for b in 0..<256 {
                byteTokens[b] = f.byteEncode ? vocab.find(ByteLevel.byteToUTF8[b]) : vocab.find(hexByteToken(UInt8(b)))
            }
            bpe = BPEModel(merges: merges, byteTokens: byteTokens, pre: PreTokenizer(passes: f.passes()),
                           ignoreMerges: f.ignoreMerges, byteEncode: f.byteEncode, newlineRunsWhole: f.gemma4)
        case .spm:
            var byteTokens = [Int32](repeating: -1, count: 256)
            for b in 0..<256 {
                var id = vocab.find(hexByteToken(UInt8(b)))
                if id < 0 && b < 0x80 { id = vocab.find([UInt8(b)]) }
                byteTokens[b] = id
            }
            let mergeable = attrs.map { $0 & (TokenAttr.control | TokenAttr.unknown | TokenAttr.byte) == 0 }
            spm = SPMModel(scores: scores, mergeable: mergeable, byteTokens: byteTokens, unkId: ids.unk,
                           joinsSpace: SPMModel.charsBeforeSpace(vocab: vocab, mergeable: mergeable))
        case .wordPiece:
            let lowercase = try g.bool("tokenizer.ggml.normalizer.lowercase") ?? true
            let stripAccents = try g.bool("tokenizer.ggml.normalizer.strip_accents") ?? lowercase
            wpm = GGUFWordPiece(vocab: vocab, unkId: ids.unk!, lowercase: lowercase, stripAccents: stripAccents)
        case .unigram:
            break
        }
        return Tokenizer(kind: kind, modelName: model, preTokenizer: preName, vocab: vocab, attrs: attrs, ids: ids,
                         flags: (addBOS, addEOS, addSpacePrefix, cleanSpaces),
                         escapeWhitespace: kind == .spm || kind == .wordPiece || family?.escapeWhitespace == true,
                         eog: eog, bpe: bpe, spm: spm, wpm: wpm)
    }

    /// "<0xXX>" (upper-case hex) for a byte.
    static func hexByteToken(_ b: UInt8) -> [UInt8] {
        let hex = Array("0123456789ABCDEF".utf8)
        return [0x3C, 0x30, 0x78, hex[Int(b >> 4)], hex[Int(b & 15)], 0x3E]
    }

    /// "<0xXX>" -> XX
    static func byteValue(_ t: ArraySlice<UInt8>) -> UInt8? {
        guard t.count == 6 else { return nil }
        let a = Array(t)
        guard a[0] == 0x3C, a[1] == 0x30, a[2] == 0x78, a[5] == 0x3E else { return nil }
        func hex(_ c: UInt8) -> UInt8? {
            switch c {
            case 0x30...0x39: return c - 0x30
            case 0x41...0x46: return c - 0x41 + 10
            case 0x61...0x66: return c - 0x61 + 10
            default: return nil
            }
        }
        guard let h = hex(a[3]), let l = hex(a[4]) else { return nil }
        return h << 4 | l
    }

    /// llama.cpp's text-based detection of end-of-turn, end-of-message and fill-in-the-middle tokens,
    /// the tokens that end generation, and its fixes of token types. Returns the end-of-generation set.
    private static func detectSpecialTokens(vocab: TokenTextTable, attrs: inout [UInt16], ids: inout SpecialIds) -> Set<Int32> {
        func markControl(_ id: Int32) { attrs[Int(id)] |= TokenAttr.control }
        func detect(_ kp: WritableKeyPath<SpecialIds, Int32?>, _ texts: [String]) {
            if ids[keyPath: kp] != nil { return }
            for t in texts {
                let id = vocab.find(t)
                if id >= 0 {
                    ids[keyPath: kp] = id
                    markControl(id)
                    return
                }
            }
        }
        detect(\.eot, ["<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>",
                       "<EOT>", "_<EOT>", "[EOT]", "<｜end▁of▁sentence｜>", "<end_of_utterance>"])
        detect(\.eom, ["<|eom_id|>"])
        detect(\.fimPre, ["<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>", "▁<PRE>",
                          "<|code_prefix|>", "<|prefix|>"])
        detect(\.fimSuf, ["<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>", "▁<SUF>",
                          "<|code_suffix|>", "<|suffix|>"])
        detect(\.fimMid, ["<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>", "▁<MID>",
                          "<|code_middle|>", "<|middle|>"])
        detect(\.fimPad, ["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"])
        detect(\.fimRep, ["<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"])
        detect(\.fimSep, ["<|file_sep|>"])

        // Control tokens whose text says "unused".
        let unusedWord = Array("unused".utf8)
        for i in 0..<attrs.count where attrs[i] & TokenAttr.control != 0 && attrs[i] & TokenAttr.unused == 0 {
            let t = vocab.text(i)
            if t.count >= unusedWord.count && containsBytes(t, unusedWord) { attrs[i] |= TokenAttr.unused }
        }

        var eog = Set<Int32>()
        for id in [ids.fimPad, ids.fimRep, ids.fimSep] { if let id { eog.insert(id) } }
        for t in ["<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>",
                  "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]",
                  "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
                  "<｜end▁of▁sentence｜>", "[e~["] {
            let id = vocab.find(t)
            if id >= 0 {
                eog.insert(id)
                markControl(id)
            }
        }
        // gpt-oss: these are always rendered.
        for t in ["<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"] {
            let id = vocab.find(t)
            if id >= 0 { attrs[Int(id)] = TokenAttr.userDefined }
        }
        for id in [ids.eos, ids.eot, ids.eom] { if let id { eog.insert(id) } }
        // o200k_harmony / solar-open: "<|end|>" does not end generation when "<|return|>"/"<|call|>"
        // (or "<|calls|>"/"<|flush|>") exist.
        func eogHas(_ t: String) -> Int32? {
            let id = vocab.find(t)
            return id >= 0 && eog.contains(id) ? id : nil
        }
        if let end = eogHas("<|end|>") {
            let hasCall = eogHas("<|call|>") != nil || eogHas("<|calls|>") != nil
            if (eogHas("<|return|>") != nil && hasCall) || (hasCall && eogHas("<|flush|>") != nil) {
                eog.remove(end)
                attrs[Int(end)] = TokenAttr.userDefined
            }
        }
        // Gemma 4 / PLaMo: "</s>" is a normal token there.
        if let s = eogHas("</s>"), eogHas("<|tool_response>") != nil || eogHas("<|plamo:eos|>") != nil {
            eog.remove(s)
            attrs[Int(s)] = TokenAttr.normal
        }
        return eog
    }

    private static func containsBytes(_ hay: ArraySlice<UInt8>, _ needle: [UInt8]) -> Bool {
        let h = Array(hay)
        if needle.count > h.count { return false }
        for i in 0...(h.count - needle.count) where Array(h[i..<(i + needle.count)]) == needle { return true }
        return false
    }

    /// The bytes of a token as llama.cpp's token_to_piece renders it with special = true.
    private static func renderPiece(id: Int, byteLevel: Bool, vocab: TokenTextTable, attr: UInt16, into out: inout [UInt8]) {
        let text = vocab.text(id)
        if attr & (TokenAttr.unknown | TokenAttr.control | TokenAttr.userDefined) != 0 {
            out.append(contentsOf: text)
        } else if attr & TokenAttr.normal != 0 {
            if !byteLevel {
                // U+2581 -> space
                var i = text.startIndex
                while i < text.endIndex {
                    if text[i] == 0xE2 && i + 2 < text.endIndex && text[i + 1] == 0x96 && text[i + 2] == 0x81 {
                        out.append(0x20)
                        i += 3
                    } else {
                        out.append(text[i])
                        i += 1
                    }
                }
            } else {
                // Undo the GPT-2 byte mapping. Unlike llama.cpp (which writes "[UNK_BYTE_0x...]"), a token
                // with characters outside the mapping is rendered as its UTF-8 text, like Hugging Face.
                HFDecoder.unmapByteLevel(text, into: &out)
            }
        } else if attr & TokenAttr.byte != 0 {
            if let v = byteValue(text) { out.append(v) }
        }
        // unused or undefined tokens render as nothing (as in llama.cpp)
    }

    // MARK: - queries

    @inline(__always)
    private func valid(_ id: Int32) -> Bool { id >= 0 && Int(id) < vocabSize }

    /// Control tokens (including those llama.cpp promotes to control by their text).
    public func isControl(_ id: Int32) -> Bool { valid(id) && attrs[Int(id)] & TokenAttr.control != 0 }

    /// Tokens that end generation: EOS, EOT, EOM and the texts llama.cpp treats as such
    /// (<|im_end|>, <|endoftext|>, <|eot_id|>, <end_of_turn>, ...).
    public func isEndOfGeneration(_ id: Int32) -> Bool { eogIds.contains(id) }

    /// All end-of-generation tokens, sorted.
    public var endOfGenerationIds: [Int32] { eogIds.sorted() }

    /// The vocabulary text of a token ("" for ids outside the vocabulary).
    public func tokenText(_ id: Int32) -> String {
        guard valid(id) else { return "" }
        return String(decoding: vocab.text(Int(id)), as: UTF8.self)
    }

    /// The token whose vocabulary text is exactly `text` (byte-exact), if any.
    public func tokenId(forText text: String) -> Int32? {
        let id = vocab.find(text)
        return id >= 0 ? id : nil
    }

    /// The raw bytes a token stands for: byte-level BPE characters mapped back to bytes, SentencePiece
    /// U+2581 as a space and <0xXX> as that byte, special tokens as their text. Empty for invalid ids.
    public func piece(_ id: Int32) -> [UInt8] {
        guard valid(id) else { return [] }
        return Array(pieceBytes[pieceStarts[Int(id)]..<pieceStarts[Int(id) + 1]])
    }

    /// Appends the bytes of a token; control and unknown tokens only when `special`.
    @inline(__always)
    func appendPiece(_ id: Int32, special: Bool, to out: inout [UInt8]) {
        guard valid(id) else { return }
        if !special && attrs[Int(id)] & (TokenAttr.control | TokenAttr.unknown) != 0 { return }
        out.append(contentsOf: pieceBytes[pieceStarts[Int(id)]..<pieceStarts[Int(id) + 1]])
    }

    // MARK: - encoding

    /// Tokenizes `text`. With `parseSpecial`, the texts of control tokens (e.g. "<|im_start|>") become
    /// those tokens; user-defined tokens are always matched as wholes. With `addSpecial`, BOS/EOS are
    /// added as the vocabulary asks (`addBOS`, `addEOS`).
    public func encode(_ text: String, addSpecial: Bool, parseSpecial: Bool) throws -> [Int32] {
        var text = text
        return text.withUTF8 { encode(bytes: $0, addSpecial: addSpecial, parseSpecial: parseSpecial) }
    }

    /// Tokenizes UTF-8 bytes (invalid sequences are treated as U+FFFD by the pre-tokenizer; their bytes
    /// are kept).
    public func encode(bytes: UnsafeBufferPointer<UInt8>, addSpecial: Bool, parseSpecial: Bool) -> [Int32] {
        if let hf {
            return hf.encode(bytes, pair: nil, addSpecial: addSpecial, parseSpecial: parseSpecial, vocab: vocab).ids
        }
        var out: [Int32] = []
        out.reserveCapacity(bytes.count / 3 + 4)
        if addSpecial && addBOS, let b = bosId { out.append(b) }
        let fragments = splitter.partition(bytes, parseSpecial: parseSpecial)
        switch kind {
        case .bpe:
            let model = bpe!
            var scratch = BPEModel.Scratch()
            var escaped: [UInt8] = []
            for f in fragments {
                switch f {
                case .token(let id): out.append(id)
                case .text(let r):
                    if escapeWhitespace {
                        escaped.removeAll(keepingCapacity: true)
                        for b in bytes[r] {
                            if b == 0x20 { escaped.append(contentsOf: [0xE2, 0x96, 0x81]) } else { escaped.append(b) }
                        }
                        escaped.withUnsafeBufferPointer { model.encode($0, vocab: vocab, into: &out, scratch: &scratch) }
                    } else {
                        model.encode(UnsafeBufferPointer(rebasing: bytes[r]), vocab: vocab, into: &out, scratch: &scratch)
                    }
                }
            }
        case .spm:
            let model = spm!
            var scratch = SPMModel.Scratch()
            var escaped: [UInt8] = []
            var prevSpecial = true
            for f in fragments {
                switch f {
                case .token(let id):
                    out.append(id)
                    prevSpecial = true
                case .text(let r):
                    escaped.removeAll(keepingCapacity: true)
                    if addSpacePrefix && prevSpecial { escaped.append(contentsOf: [0xE2, 0x96, 0x81]) }
                    for b in bytes[r] {
                        if b == 0x20 { escaped.append(contentsOf: [0xE2, 0x96, 0x81]) } else { escaped.append(b) }
                    }
                    escaped.withUnsafeBufferPointer { model.encodeText($0, vocab: vocab, into: &out, scratch: &scratch) }
                    prevSpecial = false
                }
            }
        case .wordPiece:
            guard let model = wpm else { break }
            for f in fragments {
                switch f {
                case .token(let id): out.append(id)
                case .text(let r): model.encode(UnsafeBufferPointer(rebasing: bytes[r]), into: &out)
                }
            }
            if addSpecial, let s = sepId { out.append(s) }
        case .unigram:
            break  // tokenizer.json vocabularies go through `hf` above
        }
        if addSpecial && addEOS, let e = eosId { out.append(e) }
        return out
    }

    /// The pieces the pre-tokenizer splits `text` into (byte-level BPE; a SentencePiece vocabulary has
    /// no pre-tokenizer and returns the text whole). Special tokens are not split out. For diagnostics.
    public func preTokenize(_ text: String) -> [String] {
        if let hf { return hf.preTokenizeForDiagnostics(text) }
        guard let bpe else { return text.isEmpty ? [] : [text] }
        return Tokenizer.split(text, with: bpe.pre)
    }

    /// The pieces a named pre-tokenizer (a `tokenizer.ggml.pre` value) splits `text` into.
    public static func preTokenize(_ text: String, preTokenizer name: String) throws -> [String] {
        guard let f = PreTokenizers.family(name == "gpt2" ? "gpt-2" : name) else {
            throw MIIError.unsupported("tokenizer: pre-tokenizer '\(name)' is not supported")
        }
        return split(text, with: PreTokenizer(passes: f.passes()))
    }

    private static func split(_ text: String, with pre: PreTokenizer) -> [String] {
        let bytes = Array(text.utf8)
        var scalars: [UInt32] = [], offsets: [Int] = []
        bytes.withUnsafeBufferPointer { UTF8Util.decode($0, scalars: &scalars, offsets: &offsets) }
        let flags = scalars.map { CharFlags.of($0) }
        var pieces: [Range<Int>] = []
        scalars.withUnsafeBufferPointer { sc in
            flags.withUnsafeBufferPointer { fl in pre.split(scalars: sc, flags: fl, range: 0..<sc.count, into: &pieces) }
        }
        return pieces.map { String(decoding: bytes[offsets[$0.lowerBound]..<offsets[$0.upperBound]], as: UTF8.self) }
    }

    // MARK: - decoding

    /// Detokenizes like llama.cpp's llama_detokenize: the pieces concatenated, control and unknown
    /// tokens left out when `skipSpecial`, and for SentencePiece vocabularies one leading space of the
    /// first token removed (the dummy prefix). Ids outside the vocabulary are ignored. Unlike
    /// llama.cpp, the punctuation-space clean-up (llama.cpp's clean_spaces) is only done when
    /// `cleanUpSpaces` is true, so that decoding agrees with streaming. Bytes that are not valid UTF-8
    /// become U+FFFD.
    public func decode(_ ids: [Int32], skipSpecial: Bool, cleanUpSpaces: Bool = false) -> String {
        String(decoding: decodeBytes(ids, skipSpecial: skipSpecial, cleanUpSpaces: cleanUpSpaces), as: UTF8.self)
    }

    /// `decode` without the UTF-8 conversion.
    public func decodeBytes(_ ids: [Int32], skipSpecial: Bool, cleanUpSpaces: Bool = false) -> [UInt8] {
        if let hf {
            var out = hf.decode(ids, skipSpecial: skipSpecial, vocab: vocab, attrs: attrs)
            if cleanUpSpaces { HFPipeline.cleanUpTokenization(&out) }
            return out
        }
        var out: [UInt8] = []
        var removeSpace = addSpacePrefix
        for id in ids {
            let mark = out.count
            appendPiece(id, special: !skipSpecial, to: &out)
            if removeSpace && out.count > mark && out[mark] == 0x20 { out.remove(at: mark) }
            removeSpace = false
        }
        if cleanUpSpaces { Tokenizer.cleanSpaces(&out) }
        return out
    }

    /// Token strings (vocabulary texts such as "##ing" or "Ġword", or plain text) joined into text as
    /// transformers' `convert_tokens_to_string` does for a fast tokenizer: through the decoder chain.
    /// GGUF vocabularies: known token texts are decoded as their ids, other strings kept as they are.
    public func tokensToString(_ tokens: [String]) -> String {
        if let hf {
            return String(decoding: hf.decodeTokens(tokens.map { Array($0.utf8) }), as: UTF8.self)
        }
        var out = ""
        for t in tokens {
            if let id = tokenId(forText: t) { out += decode([id], skipSpecial: false) } else { out += t }
        }
        return out
    }

    /// Whether the tokenizer marks word continuations (a continuing_subword_prefix such as WordPiece's
    /// "##"), so that a token whose text differs in length from its span of the input continues a word.
    public var marksSubwordContinuations: Bool {
        if let hf { return !hf.continuingSubwordPrefix.isEmpty }
        return kind == .wordPiece
    }

    /// llama.cpp's clean_spaces passes: " ?", " !", " .", " ," lose the space; " ' " loses both spaces;
    /// " 's", " 'm", " 're", " 've" lose the space.
    static func cleanSpaces(_ t: inout [UInt8]) {
        if t.count < 2 { return }
        var out: [UInt8] = [t[0]]
        for i in 1..<t.count {
            let x = t[i]
            if t[i - 1] == 0x20 && (x == 0x3F || x == 0x21 || x == 0x2E || x == 0x2C) { out.removeLast() }
            out.append(x)
        }
        t = out
        if t.count < 2 { return }
        out = [t[0]]
        var i = 1
        var prevRemoved = false  // llama.cpp blanks the removed space in place: it no longer counts as a space
        while i < t.count {
            let x = t[i]
            let prevIsSpace = t[i - 1] == 0x20 && !prevRemoved
            prevRemoved = false
            if x == 0x27 && i + 1 < t.count && prevIsSpace && t[i + 1] == 0x20 {
                out.removeLast()
                out.append(x)
                i += 2  // the space after the apostrophe goes too
                prevRemoved = true
                continue
            }
            out.append(x)
            i += 1
        }
        t = out
        if t.count < 2 { return }
        out = [t[0]]
        for i in 1..<t.count {
            let x = t[i]
            if t[i - 1] == 0x20 && x == 0x27 && i + 1 < t.count {
                let x1 = t[i + 1]
                if x1 == 0x73 || x1 == 0x6D {
                    out.removeLast()  // " 's", " 'm"
                } else if i + 2 < t.count {
                    let x2 = t[i + 2]
                    if (x1 == 0x72 && x2 == 0x65) || (x1 == 0x76 && x2 == 0x65) { out.removeLast() }  // " 're", " 've"
                }
            }
            out.append(x)
        }
        t = out
    }
}

/// Turns generated tokens into text as they arrive, returning only complete UTF-8 characters: bytes
/// of a character split across tokens are held back until the rest arrives. Bytes that can never form
/// a valid character become U+FFFD; `flush` returns what is left (an incomplete tail as U+FFFD).
/// Unlike `Tokenizer.decode`, no leading space is removed: the text continues a prompt.
public struct StreamingDetokenizer: Sendable {
    public let tokenizer: Tokenizer
    /// Leave out control and unknown tokens (default: render them, as `decode(skipSpecial: false)`).
    public var skipSpecial: Bool
    private var pending: [UInt8] = []

    public init(tokenizer: Tokenizer, skipSpecial: Bool = false) {
        self.tokenizer = tokenizer
        self.skipSpecial = skipSpecial
    }

    /// Adds a token; returns the text that is now complete (possibly empty).
    public mutating func push(_ id: Int32) -> String {
        tokenizer.appendPiece(id, special: !skipSpecial, to: &pending)
        let k = UTF8Util.completePrefixLength(pending)
        if k == 0 { return "" }
        let s = String(decoding: pending[0..<k], as: UTF8.self)
        pending.removeFirst(k)
        return s
    }

    /// Returns everything still held back and resets.
    public mutating func flush() -> String {
        defer { pending.removeAll() }
        return String(decoding: pending, as: UTF8.self)
    }
}
