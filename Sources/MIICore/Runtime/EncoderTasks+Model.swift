/// Encoder task heads on text, as transformers' pipelines compute them: fill-mask, text
/// classification, token classification (aggregation "none") and extractive question answering.
/// Character offsets are in Unicode scalars of the input (Python `str` indices), recovered by
/// aligning each token's text with the (case-folded) input.

/// One fill-mask candidate (transformers: score, token, token_str, sequence).
public struct FillMaskPrediction: Sendable, Equatable {
    public var score: Float
    public var token: Int32
    /// The token decoded alone.
    public var tokenString: String
    /// The input with the mask replaced, decoded without special tokens (with them when the input has
    /// several masks, as transformers).
    public var sequence: String
}

/// A label and its score.
public struct LabelScore: Sendable, Equatable {
    public var label: String
    public var score: Float
}

/// One token's best label (transformers token-classification, aggregation_strategy "none").
public struct TokenLabel: Sendable, Equatable {
    public var entity: String
    public var score: Float
    /// Position of the token in the encoded input (special tokens included, so the first word is 1 with [CLS]).
    public var index: Int
    /// The token's vocabulary text (e.g. "##ing").
    public var word: String
    /// Character span in the input, nil if the token could not be aligned.
    public var start: Int?
    public var end: Int?
}

/// One extractive QA answer.
public struct Answer: Sendable, Equatable {
    public var score: Float
    /// Character span of the answer in the context (Unicode scalar indices); nil if not aligned.
    public var start: Int?
    public var end: Int?
    /// Token positions of the answer in the encoded pair.
    public var tokenStart: Int
    public var tokenEnd: Int
    /// The context's characters start..<end, or the decoded tokens when offsets are unknown.
    public var text: String
}

extension Model {
    func requireEncoder(_ head: EncoderHead) throws -> EncoderNetwork {
        guard let enc = encoder else {
            throw MIIError.unsupported("'\(architecture)' is not an encoder model: \(head.rawValue) needs BERT, RoBERTa, XLM-R or DistilBERT with a \(head.rawValue) head")
        }
        guard enc.heads.contains(head) else {
            let have = enc.heads.sorted().map(\.rawValue)
            throw MIIError.unsupported("this \(architecture) checkpoint has no \(head.rawValue) head (its heads: \(have.isEmpty ? "none" : have.joined(separator: ", ")))")
        }
        return enc
    }

    private func pool(_ threads: Int) throws -> ThreadPool {
        try ThreadPool(threads: threads > 0 ? threads : defaultThreads)
    }

    private func checkLength(_ n: Int, _ enc: EncoderNetwork) throws {
        if n > enc.maxPositions {
            throw MIIError.argument("the input is \(n) tokens long; the model takes at most \(enc.maxPositions)")
        }
    }

    /// Fill-mask: the `topK` most probable tokens for each mask token of `text` (one list per mask).
    public func fillMask(_ text: String, topK: Int = 5, threads: Int = 0, mode: PrecisionMode? = nil) throws -> [[FillMaskPrediction]] {
        let enc = try requireEncoder(.maskedLM)
        let tok = try requireTokenizer()
        guard topK >= 1 else { throw MIIError.argument("top_k must be at least 1 (got \(topK))") }
        guard let maskId = tok.tokenId(forText: "[MASK]") ?? tok.tokenId(forText: "<mask>") else {
            throw MIIError.unsupported("the tokenizer has no mask token ([MASK] or <mask>)")
        }
        let (ids, types) = tok.encodeWithTypes(text, addSpecial: true, parseSpecial: true)
        try checkLength(ids.count, enc)
        let positions = ids.indices.filter { ids[$0] == maskId }
        if positions.isEmpty {
            throw MIIError.argument("no mask token (\(tok.tokenText(maskId))) in the input")
        }
        let p = try pool(threads)
        let m = mode ?? options.mode
        let hidden = try enc.hiddenStates(tokens: ids, typeIds: types, pool: p, mode: m)
        let h = enc.hiddenSize
        var rows: [Float] = []
        rows.reserveCapacity(positions.count * h)
        for i in positions { rows += hidden[(i * h)..<((i + 1) * h)] }
        let logits = try enc.maskedLMLogits(hidden: rows, pool: p, mode: m)
        let best = try EncoderTasks.fillMask(logits: logits, vocab: logits.count / positions.count, topK: topK)
        let single = positions.count == 1
        return zip(positions, best).map { pos, cands in
            cands.map { c in
                var filled = ids
                filled[pos] = c.token
                if let pad = tok.padId { filled.removeAll { $0 == pad } }
                return FillMaskPrediction(score: c.probability, token: c.token,
                                          tokenString: tok.decode([c.token], skipSpecial: false, cleanUpSpaces: tok.cleanSpacesByDefault),
                                          sequence: tok.decode(filled, skipSpecial: single, cleanUpSpaces: tok.cleanSpacesByDefault))
            }
        }
    }

    /// Text classification: labels with scores (the checkpoint's score function: softmax, sigmoid for
    /// multi-label or single-label heads, raw logits for regression), best first; `topK` 0: all.
    public func classify(_ text: String, topK: Int = 0, threads: Int = 0, mode: PrecisionMode? = nil) throws -> [LabelScore] {
        let enc = try requireEncoder(.sequenceClassification)
        let tok = try requireTokenizer()
        guard topK >= 0 else { throw MIIError.argument("top_k must not be negative (got \(topK))") }
        let (ids, types) = tok.encodeWithTypes(text, addSpecial: true, parseSpecial: false)
        try checkLength(ids.count, enc)
        let p = try pool(threads)
        let m = mode ?? options.mode
        let hidden = try enc.hiddenStates(tokens: ids, typeIds: types, pool: p, mode: m)
        let scores = enc.classificationScores.apply(try enc.sequenceClassificationLogits(hidden: hidden, pool: p, mode: m))
        let ranked = EncoderTasks.topK(scores, topK == 0 ? scores.count : topK)
        return ranked.map { LabelScore(label: labelName(enc, $0.index), score: $0.score) }
    }

    /// Token classification without aggregation: every non-special token with its best label and
    /// that label's softmax probability. Tokens labelled by one of `ignoreLabels` are left out
    /// (transformers' default ignores "O").
    public func classifyTokens(_ text: String, ignoreLabels: Set<String> = ["O"], threads: Int = 0,
                               mode: PrecisionMode? = nil) throws -> [TokenLabel] {
        let enc = try requireEncoder(.tokenClassification)
        let tok = try requireTokenizer()
        let (ids, types) = tok.encodeWithTypes(text, addSpecial: true, parseSpecial: false)
        try checkLength(ids.count, enc)
        let p = try pool(threads)
        let m = mode ?? options.mode
        let hidden = try enc.hiddenStates(tokens: ids, typeIds: types, pool: p, mode: m)
        let logits = try enc.tokenClassificationLogits(hidden: hidden, pool: p, mode: m)
        guard !ids.isEmpty, logits.count % ids.count == 0, logits.count > 0 else {
            throw MIIError.format("token classification returned \(logits.count) logits for \(ids.count) tokens")
        }
        let nLabels = logits.count / ids.count
        let special = ids.map { tok.isControl($0) && $0 != tok.unkId }  // [UNK] is a word, as in transformers
        let spans = TextAlignment.align(ids: ids, skip: special, text: text, tokenizer: tok)
        var out: [TokenLabel] = []
        for i in ids.indices where !special[i] {
            let probs = EncoderTasks.softmax(Array(logits[(i * nLabels)..<((i + 1) * nLabels)]))
            guard let best = EncoderTasks.topK(probs, 1).first else { continue }
            let label = labelName(enc, best.index)
            if ignoreLabels.contains(label) { continue }
            var word = tok.tokenText(ids[i])
            if ids[i] == tok.unkId, let s = spans[i] { word = TextAlignment.slice(text, s.start, s.end) }
            out.append(TokenLabel(entity: label, score: best.score, index: i, word: word,
                                  start: spans[i]?.start, end: spans[i]?.end))
        }
        return out
    }

    /// Extractive question answering over a context that fits the model (no document striding): the
    /// `topK` best spans of the context, scored as transformers' question-answering pipeline
    /// (p_start * p_end, softmax over the context tokens and [CLS], answers at most `maxAnswerLength` tokens).
    public func answer(question: String, context: String, topK: Int = 1, maxAnswerLength: Int = 15,
                       threads: Int = 0, mode: PrecisionMode? = nil) throws -> [Answer] {
        let enc = try requireEncoder(.questionAnswering)
        let tok = try requireTokenizer()
        guard topK >= 1 else { throw MIIError.argument("top_k must be at least 1 (got \(topK))") }
        let (ids, types) = tok.encodePair(question, context, addSpecial: true, parseSpecial: false)
        try checkLength(ids.count, enc)
        // Which tokens are the context: the non-special tokens after the question's.
        let nQuestion = tok.encodeWithTypes(question, addSpecial: false, parseSpecial: false).ids.count
        var allowed = [Bool](repeating: false, count: ids.count)
        var seen = 0
        for i in ids.indices where !tok.isControl(ids[i]) || ids[i] == tok.unkId {
            if seen >= nQuestion { allowed[i] = true }
            seen += 1
        }
        let p = try pool(threads)
        let m = mode ?? options.mode
        let hidden = try enc.hiddenStates(tokens: ids, typeIds: enc.typeVocabSize > 0 ? types : nil, pool: p, mode: m)
        let (start, end) = try enc.questionAnsweringLogits(hidden: hidden, pool: p, mode: m)
        let nullIndex = ids.first.map { tok.isControl($0) } == true ? 0 : nil
        let spans = try EncoderTasks.bestSpans(start: start, end: end, allowed: allowed, nullIndex: nullIndex,
                                               maxAnswerLength: maxAnswerLength, topK: topK)
        let offsets = TextAlignment.align(ids: ids, skip: allowed.map { !$0 }, text: context, tokenizer: tok)
        return spans.map { s in
            if let a = offsets[s.start], let b = offsets[s.end] {
                return Answer(score: s.score, start: a.start, end: b.end, tokenStart: s.start, tokenEnd: s.end,
                              text: TextAlignment.slice(context, a.start, b.end))
            }
            return Answer(score: s.score, start: nil, end: nil, tokenStart: s.start, tokenEnd: s.end,
                          text: tok.decode(Array(ids[s.start...s.end]), skipSpecial: true, cleanUpSpaces: tok.cleanSpacesByDefault))
        }
    }

    private func labelName(_ enc: EncoderNetwork, _ i: Int) -> String {
        i < enc.labels.count ? enc.labels[i] : "LABEL_\(i)"
    }
}

/// Recovers character offsets of tokens by matching each token's text (WordPiece "##", byte-level
/// "Ġ" and SentencePiece "▁" markers removed) against the input, case-insensitively, left to right.
/// Tokens that do not match (unknown tokens, normalised characters) get the gap up to the next match.
enum TextAlignment {
    static func fold(_ s: Unicode.Scalar) -> Unicode.Scalar {
        let l = s.properties.lowercaseMapping.unicodeScalars
        return l.count == 1 ? l.first! : s
    }

    static func slice(_ text: String, _ a: Int, _ b: Int) -> String {
        let sc = Array(text.unicodeScalars)
        let lo = max(0, min(a, sc.count)), hi = max(lo, min(b, sc.count))
        var s = String.UnicodeScalarView()
        s.append(contentsOf: sc[lo..<hi])
        return String(s)
    }

    static func isSpace(_ s: Unicode.Scalar) -> Bool { s.properties.isWhitespace }

    static func align(ids: [Int32], skip: [Bool], text: String, tokenizer tok: Tokenizer) -> [(start: Int, end: Int)?] {
        let chars = text.unicodeScalars.map(fold)
        var out = [(start: Int, end: Int)?](repeating: nil, count: ids.count)
        var cursor = 0
        var pending: [Int] = []   // unmatched tokens waiting for the next match
        func settle(until limit: Int) {
            guard !pending.isEmpty else { return }
            var a = cursor
            while a < limit && isSpace(chars[a]) { a += 1 }
            var b = limit
            while b > a && isSpace(chars[b - 1]) { b -= 1 }
            if b > a { for i in pending { out[i] = (a, b) } }
            pending.removeAll()
        }
        for i in ids.indices where !skip[i] {
            var piece = Array(tok.tokenText(ids[i]).unicodeScalars)
            if piece.count > 2 && piece[0] == "#" && piece[1] == "#" { piece.removeFirst(2) }
            if let f = piece.first, f == "\u{0120}" || f == "\u{2581}" { piece.removeFirst() }
            piece = piece.map(fold)
            var found: Int? = nil
            if !piece.isEmpty && ids[i] != tok.unkId && cursor + piece.count <= chars.count {
                var s = cursor
                while s + piece.count <= chars.count {
                    if chars[s] == piece[0] && Array(chars[s..<(s + piece.count)]) == piece { found = s; break }
                    // only skip over characters no token covers yet (spaces, or what pending tokens hold)
                    if pending.isEmpty && !isSpace(chars[s]) { break }
                    s += 1
                }
            }
            if let s = found {
                settle(until: s)
                out[i] = (s, s + piece.count)
                cursor = s + piece.count
            } else {
                pending.append(i)
            }
        }
        settle(until: chars.count)
        return out
    }
}
