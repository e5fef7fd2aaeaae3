// The encode/decode pipeline of a tokenizer loaded from a Hugging Face tokenizer.json, in the order of
// tokenizers' Tokenizer::encode: added tokens split out of the raw text, normalizer, added tokens
// split out of the normalized text, pre-tokenizer, model, post-processor.

enum HFModel {
    case bpe(HFBPEModel)
    case wordPiece(WordPieceModel)
    case unigram(UnigramModel)
}

struct HFPipeline: @unchecked Sendable {
    let normalizer: HFNormalizer?
    let preTokenizer: HFPreTokenizer?
    let model: HFModel
    let postProcessor: HFPostProcessor?
    let decoder: HFDecoder?
    /// Added tokens matched in the raw text (normalized = false) and in the normalized text.
    let rawAdded: HFAddedMatcher
    let normalizedAdded: HFAddedMatcher
    /// Ids that belong to the model's vocabulary (added-only tokens are not looked up by the model).
    let inModel: [Bool]
    /// Ids of added tokens marked special (left out by decode with skipSpecial).
    let specialAdded: Set<Int32>
    let addedIds: Set<Int32>

    // MARK: - encoding

    func encode(_ bytes: UnsafeBufferPointer<UInt8>, pair: UnsafeBufferPointer<UInt8>?, addSpecial: Bool,
                parseSpecial: Bool, vocab: TokenTextTable) -> HFEncoding {
        let a = encodeSequence(bytes, parseSpecial: parseSpecial, vocab: vocab)
        let b = pair.map { encodeSequence($0, parseSpecial: parseSpecial, vocab: vocab) }
        return HFPostProcessor.run(postProcessor, a: a, b: b, addSpecial: addSpecial)
    }

    /// One sequence without post-processing.
    func encodeSequence(_ bytes: UnsafeBufferPointer<UInt8>, parseSpecial: Bool, vocab: TokenTextTable) -> [Int32] {
        var words: [Int]? = nil
        return encodeSequence(bytes, parseSpecial: parseSpecial, vocab: vocab, words: &words)
    }

    /// One sequence without post-processing; with `words` non-nil, also the word of each token: the
    /// index of the pre-tokenizer piece (or added token) it came from, as tokenizers' word ids.
    func encodeSequence(_ bytes: UnsafeBufferPointer<UInt8>, parseSpecial: Bool, vocab: TokenTextTable,
                        words: inout [Int]?) -> [Int32] {
        var scalars: [UInt32] = [], offsets: [Int] = []
        UTF8Util.decode(bytes, scalars: &scalars, offsets: &offsets)
        var out: [Int32] = []
        out.reserveCapacity(bytes.count / 3 + 4)
        var bpeScratch = HFBPEModel.Scratch()
        var word = 0
        func mark() {
            if words != nil {
                while words!.count < out.count { words!.append(word) }
                word += 1
            }
        }
        for (r, tok) in rawAdded.split(scalars, parseSpecial: parseSpecial) {
            if let tok { out.append(tok); mark(); continue }
            var text = Array(scalars[r])
            if let normalizer { text = normalizer.apply(text) }
            for (r2, tok2) in normalizedAdded.split(text, parseSpecial: parseSpecial) {
                if let tok2 { out.append(tok2); mark(); continue }
                var pieces = [HFPiece(s: Array(text[r2]), first: r.lowerBound == 0 && r2.lowerBound == 0)]
                if let preTokenizer { pieces = preTokenizer.run(pieces) }
                for p in pieces where !p.s.isEmpty {
                    runModel(HFChar.utf8(p.s), vocab: vocab, into: &out, bpeScratch: &bpeScratch)
                    mark()
                }
            }
        }
        return out
    }

    private func runModel(_ w: [UInt8], vocab: TokenTextTable, into out: inout [Int32], bpeScratch: inout HFBPEModel.Scratch) {
        let inModel = self.inModel
        let lookup: (UnsafeBufferPointer<UInt8>) -> Int32 = { b in
            let id = vocab.find(b)
            return id >= 0 && inModel[Int(id)] ? id : -1
        }
        switch model {
        case .bpe(let m): m.tokenize(w, lookup: lookup, into: &out, scratch: &bpeScratch)
        case .wordPiece(let m): m.tokenize(w, into: &out)
        case .unigram(let m): m.tokenize(w, lookup: lookup, into: &out)
        }
    }

    func preTokenizeForDiagnostics(_ text: String) -> [String] {
        var t = HFChar.scalars(text)
        if let normalizer { t = normalizer.apply(t) }
        var pieces = t.isEmpty ? [] : [HFPiece(s: t, first: true)]
        if let preTokenizer { pieces = preTokenizer.run(pieces) }
        return pieces.map { String(decoding: HFChar.utf8($0.s), as: UTF8.self) }
    }

    // MARK: - decoding

    func decode(_ ids: [Int32], skipSpecial: Bool, vocab: TokenTextTable, attrs: [UInt16]) -> [UInt8] {
        var tokens: [[UInt8]] = []
        tokens.reserveCapacity(ids.count)
        for id in ids where id >= 0 && Int(id) < vocab.count {
            if skipSpecial && specialAdded.contains(id) { continue }
            tokens.append(Array(vocab.text(Int(id))))
        }
        return decodeTokens(tokens)
    }

    /// Token strings to text through the decoder chain (transformers' convert_tokens_to_string of a
    /// fast tokenizer); joined by spaces without a decoder.
    func decodeTokens(_ tokens: [[UInt8]]) -> [UInt8] {
        guard let decoder else {
            var out: [UInt8] = []
            for (i, t) in tokens.enumerated() {
                if i > 0 { out.append(0x20) }
                out.append(contentsOf: t)
            }
            return out
        }
        return decoder.decodeChain(tokens).flatMap { $0 }
    }

    /// The model's continuing_subword_prefix ("##" for WordPiece; empty when the model has none).
    var continuingSubwordPrefix: [UInt8] {
        switch model {
        case .bpe(let m): return m.prefix
        case .wordPiece(let m): return m.prefix
        case .unigram: return []
        }
    }

    /// The bytes of every token in a stream (added tokens as their text, others as the decoder renders
    /// them on their own), one after another into `out`, with each token's end appended to `starts`.
    func renderPieces(vocab: TokenTextTable, into out: inout [UInt8], starts: inout [Int]) {
        for id in 0..<vocab.count {
            let text = vocab.text(id)
            if addedIds.contains(Int32(id)) || decoder == nil {
                out.append(contentsOf: text)
            } else if case .byteLevel? = decoder {
                HFDecoder.unmapByteLevel(text, into: &out)
            } else if let decoder {
                out.append(contentsOf: decoder.renderPiece(Array(text)))
            }
            starts.append(out.count)
        }
    }

    /// transformers' clean_up_tokenization.
    static func cleanUpTokenization(_ t: inout [UInt8]) {
        for (a, b) in [(" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"), (" 'm", "'m"),
                       (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")] {
            t = HFDecoder.replaceBytes(t, Array(a.utf8), with: Array(b.utf8))
        }
    }
}

extension Tokenizer {
    /// Encodes a pair of texts (e.g. question and context for extractive QA) with the post-processor's
    /// pair template. Returns the ids and the token type ids.
    public func encodePair(_ a: String, _ b: String, addSpecial: Bool, parseSpecial: Bool = true) -> (ids: [Int32], typeIds: [Int32]) {
        var a = a, b = b
        if let hf {
            let e = a.withUTF8 { pa in
                b.withUTF8 { pb in hf.encode(pa, pair: pb, addSpecial: addSpecial, parseSpecial: parseSpecial, vocab: vocab) }
            }
            return (e.ids, e.types)
        }
        // GGUF vocabularies: the two sequences one after the other (BOS/EOS as for single texts).
        let ia = a.withUTF8 { encode(bytes: $0, addSpecial: addSpecial, parseSpecial: parseSpecial) }
        let ib = b.withUTF8 { encode(bytes: $0, addSpecial: false, parseSpecial: parseSpecial) }
        return (ia + ib, [Int32](repeating: 0, count: ia.count) + [Int32](repeating: 1, count: ib.count))
    }

    /// Encodes one text and returns its token type ids too (all 0 except where the post-processor's
    /// single template says otherwise).
    public func encodeWithTypes(_ text: String, addSpecial: Bool, parseSpecial: Bool = true) -> (ids: [Int32], typeIds: [Int32]) {
        var text = text
        if let hf {
            let e = text.withUTF8 { hf.encode($0, pair: nil, addSpecial: addSpecial, parseSpecial: parseSpecial, vocab: vocab) }
            return (e.ids, e.types)
        }
        let ids = text.withUTF8 { encode(bytes: $0, addSpecial: addSpecial, parseSpecial: parseSpecial) }
        return (ids, [Int32](repeating: 0, count: ids.count))
    }
}

/// Which of the two sequences of a pair a position of the encoded pair holds (nil: a special token).
public struct PairSource: Sendable, Equatable {
    public var sequence: Int
    public var index: Int
}

extension Tokenizer {
    /// One text's tokens without special tokens, with the word each token belongs to (tokenizers'
    /// word ids: the pre-tokenizer piece, or added token, it came from; numbered from 0). GGUF
    /// vocabularies: every token is its own word.
    public func encodeWords(_ text: String, parseSpecial: Bool = false) -> (ids: [Int32], words: [Int]) {
        var text = text
        if let hf {
            var words: [Int]? = []
            let ids = text.withUTF8 { hf.encodeSequence($0, parseSpecial: parseSpecial, vocab: vocab, words: &words) }
            return (ids, words ?? Array(ids.indices))
        }
        let ids = text.withUTF8 { encode(bytes: $0, addSpecial: false, parseSpecial: parseSpecial) }
        return (ids, Array(ids.indices))
    }

    /// The pair template (special tokens, type ids) applied to two already tokenized sequences, as
    /// tokenizers does for each window of a truncated pair. `source[i]` tells which sequence and
    /// which of its tokens position i holds (nil for added special tokens).
    public func applyPairTemplate(_ a: [Int32], _ b: [Int32], addSpecial: Bool = true)
        -> (ids: [Int32], typeIds: [Int32], source: [PairSource?]) {
        applyTemplate(a, b, addSpecial: addSpecial)
    }

    /// The single-sequence template applied to already tokenized text (one window of a long text, as
    /// tokenizers' truncation with return_overflowing_tokens); `source` as for pairs (sequence 0).
    public func applySingleTemplate(_ a: [Int32], addSpecial: Bool = true)
        -> (ids: [Int32], typeIds: [Int32], source: [PairSource?]) {
        applyTemplate(a, nil, addSpecial: addSpecial)
    }

    private func applyTemplate(_ a: [Int32], _ b: [Int32]?, addSpecial: Bool)
        -> (ids: [Int32], typeIds: [Int32], source: [PairSource?]) {
        // Mark the sequences' tokens with out-of-vocabulary ids (the post-processors copy them).
        let markA = (0..<a.count).map { Int32(-2 - $0) }
        let markB = b.map { b in (0..<b.count).map { Int32(-2 - a.count - $0) } }
        let ids: [Int32], types: [Int32]
        if let hf {
            let e = HFPostProcessor.run(hf.postProcessor, a: markA, b: markB, addSpecial: addSpecial)
            (ids, types) = (e.ids, e.types)
        } else {
            let bos = addSpecial && addBOS ? bosId.map { [$0] } ?? [] : []
            ids = bos + markA + (markB ?? [])
            types = [Int32](repeating: 0, count: bos.count + a.count) + [Int32](repeating: 1, count: markB?.count ?? 0)
        }
        let second = b ?? []
        var out: [Int32] = [], source: [PairSource?] = []
        out.reserveCapacity(ids.count)
        for m in ids {
            if m <= -2 {
                let k = Int(-2 - m)
                if k < a.count { out.append(a[k]); source.append(PairSource(sequence: 0, index: k)) }
                else { out.append(second[k - a.count]); source.append(PairSource(sequence: 1, index: k - a.count)) }
            } else {
                out.append(m)
                source.append(nil)
            }
        }
        return (out, types, source)
    }
}
