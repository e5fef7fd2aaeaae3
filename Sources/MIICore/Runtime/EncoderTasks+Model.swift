/// Encoder task heads on text, as transformers' pipelines compute them: fill-mask, text
/// classification, token classification (with transformers' aggregation strategies) and extractive
/// question answering.
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
        let windows = try scoredTokenWindows(text, stride: nil, threads: threads, mode: mode)
        var out: [TokenLabel] = []
        for t in windows.flatMap({ $0 }) {
            let i = TokenAggregator.argmax(t.scores)
            let label = labelName(enc, i)
            if ignoreLabels.contains(label) { continue }
            out.append(TokenLabel(entity: label, score: t.scores.isEmpty ? 0 : t.scores[i], index: t.index, word: t.word,
                                  start: t.start, end: t.end))
        }
        return out
    }

    /// Token classification with an aggregation strategy other than "none" (transformers'
    /// aggregation_strategy): entity groups of adjacent tokens ("simple") or whole words ("first",
    /// "average", "max"; a token continues a word when the tokenizer marks it so, e.g. WordPiece
    /// "##", or else when no space precedes it) that share an entity type, each with the mean score
    /// of its members. Groups whose type is in `ignoreLabels` are left out. A text longer than the
    /// model is split, when `stride` is given, into windows of the model's length (special tokens
    /// included) that share `stride` tokens, as tokenizers' return_overflowing_tokens; of the
    /// entities of different windows that overlap, the longer (then the higher-scoring) is kept.
    public func groupEntities(_ text: String, aggregation: TokenAggregation = .simple, ignoreLabels: Set<String> = ["O"],
                              stride: Int? = nil, threads: Int = 0, mode: PrecisionMode? = nil) throws -> [EntityGroup] {
        let enc = try requireEncoder(.tokenClassification)
        guard aggregation != .none else {
            throw MIIError.argument("aggregation \"none\" gives tokens, not entity groups (use classifyTokens)")
        }
        let tok = try requireTokenizer()
        let windows = try scoredTokenWindows(text, stride: stride, threads: threads, mode: mode)
        var all: [EntityGroup] = []
        for w in windows {
            all += TokenAggregator.groups(w, strategy: aggregation, label: { labelName(enc, $0) },
                                          join: { tok.tokensToString($0) })
                .filter { !ignoreLabels.contains($0.entityGroup) }
        }
        return windows.count > 1 ? TokenAggregator.resolveOverlaps(all) : all
    }

    /// The label probabilities of every non-special token of `text`, per window: one window, or with
    /// `stride` overlapping windows of at most min(model_max_length, the model's positions) tokens.
    func scoredTokenWindows(_ text: String, stride: Int?, threads: Int, mode: PrecisionMode?) throws -> [[ScoredToken]] {
        let enc = try requireEncoder(.tokenClassification)
        let tok = try requireTokenizer()
        let c = tok.encodeWords(text, parseSpecial: false)
        let n = c.ids.count
        let nSpecial = tok.applySingleTemplate([]).ids.count
        let maxLen = min(tok.modelMaxLength ?? enc.maxPositions, enc.maxPositions)
        var windows: [Range<Int>] = []
        if let stride {
            let per = maxLen - nSpecial
            guard stride >= 0 else { throw MIIError.argument("stride must not be negative (got \(stride))") }
            guard per > 0, stride < per else {
                throw MIIError.argument("stride (\(stride)) must be less than the \(max(per, 0)) tokens of a window (the model's \(maxLen) positions minus \(nSpecial) special tokens)")
            }
            var lo = 0
            while true {
                let hi = min(lo + per, n)
                windows.append(lo..<hi)
                if hi == n { break }
                lo += per - stride
            }
        } else {
            guard n + nSpecial <= enc.maxPositions else {
                throw MIIError.argument("the input is \(n + nSpecial) tokens long; the model takes at most \(enc.maxPositions) (give a stride to split it into overlapping windows)")
            }
            windows = [0..<n]
        }
        let spans = TextAlignment.align(ids: c.ids, skip: [Bool](repeating: false, count: n), text: text, tokenizer: tok)
        let chars = Array(text.unicodeScalars)
        let wordAware = tok.marksSubwordContinuations
        let p = try pool(threads)
        let m = mode ?? options.mode
        var out: [[ScoredToken]] = []
        for w in windows {
            let (ids, types, source) = tok.applySingleTemplate(Array(c.ids[w]))
            try checkLength(ids.count, enc)
            let hidden = try enc.hiddenStates(tokens: ids, typeIds: enc.typeVocabSize > 0 ? types : nil, pool: p, mode: m)
            let logits = try enc.tokenClassificationLogits(hidden: hidden, pool: p, mode: m)
            guard !ids.isEmpty, logits.count % ids.count == 0, logits.count > 0 else {
                throw MIIError.format("token classification returned \(logits.count) logits for \(ids.count) tokens")
            }
            let nLabels = logits.count / ids.count
            var row: [ScoredToken] = []
            for i in ids.indices {
                guard let src = source[i] else { continue }  // the template's special tokens
                let k = w.lowerBound + src.index
                let scores = EncoderTasks.softmax(Array(logits[(i * nLabels)..<((i + 1) * nLabels)]))
                var word = tok.tokenText(ids[i])
                var isSubword = false
                let span = spans[k]
                if let s = span {
                    if wordAware {
                        isSubword = word.unicodeScalars.count != s.end - s.start
                    } else {
                        // No space just before the token nor at its start.
                        let before = s.start > 0 && s.start - 1 < chars.count ? chars[s.start - 1] : nil
                        let first = s.start < chars.count ? chars[s.start] : nil
                        isSubword = s.start > 0 && before != " " && first != " "
                    }
                    if ids[i] == tok.unkId {
                        let lo = max(0, min(s.start, chars.count)), hi = max(lo, min(s.end, chars.count))
                        word = String(String.UnicodeScalarView(chars[lo..<hi]))
                        isSubword = false
                    }
                }
                row.append(ScoredToken(index: i, word: word, scores: scores, start: span?.start, end: span?.end,
                                       isSubword: isSubword))
            }
            out.append(row)
        }
        return out
    }

    /// Extractive question answering, as transformers' question-answering pipeline (v4, fast
    /// tokenizer): the question with overlapping windows of the context when the pair is longer than
    /// `maxSeqLen` (tokens per window, special tokens included; default min(384, the tokenizer's
    /// model_max_length, the model's positions)); consecutive windows share `docStride` context
    /// tokens (default min(maxSeqLen / 2, 128)), as tokenizers' truncation "only_second" with
    /// return_overflowing_tokens and stride. Each window's spans are scored as `EncoderTasks.bestSpans`
    /// (softmax over the window's context tokens and [CLS], p_start * p_end, at most
    /// `maxAnswerLength` tokens, its `topK` best), answers are widened to whole words of the window
    /// (tokenizers' token_to_word / word_to_chars), and all windows' answers sorted by score (ties:
    /// window order), the `topK` best kept. `handleImpossibleAnswer` adds the empty answer (start =
    /// end = 0) scored by the smallest [CLS] p_start * p_end over the windows. `maxQuestionLen`
    /// keeps only the question's first tokens (transformers' fast path ignores it: default nil).
    public func answer(question: String, context: String, topK: Int = 1, maxAnswerLength: Int = 15,
                       maxSeqLen: Int? = nil, docStride: Int? = nil, maxQuestionLen: Int? = nil,
                       handleImpossibleAnswer: Bool = false, alignToWords: Bool = true,
                       threads: Int = 0, mode: PrecisionMode? = nil) throws -> [Answer] {
        let enc = try requireEncoder(.questionAnswering)
        let tok = try requireTokenizer()
        guard topK >= 1 else { throw MIIError.argument("top_k must be at least 1 (got \(topK))") }
        guard maxAnswerLength >= 1 else { throw MIIError.argument("max_answer_len must be at least 1 (got \(maxAnswerLength))") }
        var q = tok.encodeWords(question, parseSpecial: false)
        if let mq = maxQuestionLen {
            guard mq >= 1 else { throw MIIError.argument("max_question_len must be at least 1 (got \(mq))") }
            q.ids = Array(q.ids.prefix(mq))
        }
        let c = tok.encodeWords(context, parseSpecial: false)
        let nSpecial = tok.applyPairTemplate([], []).ids.count
        let seqLen: Int
        if let m = maxSeqLen {
            guard m >= 1 else { throw MIIError.argument("max_seq_len must be at least 1 (got \(m))") }
            guard m <= enc.maxPositions else {
                throw MIIError.argument("max_seq_len \(m) is more than the \(enc.maxPositions) positions of this model")
            }
            seqLen = m
        } else {
            seqLen = min(384, tok.modelMaxLength ?? Int.max, enc.maxPositions)
        }
        let stride = docStride ?? min(seqLen / 2, 128)
        guard stride >= 0, stride <= seqLen else {
            throw MIIError.argument("doc_stride (\(stride)) is larger than max_seq_len (\(seqLen))")
        }
        // The context windows [lo, hi) in context tokens.
        var windows: [(lo: Int, hi: Int)] = []
        if q.ids.count + c.ids.count + nSpecial <= seqLen {
            windows = [(0, c.ids.count)]
        } else {
            let per = seqLen - nSpecial - q.ids.count
            guard per > 0 else {
                throw MIIError.argument("the question is \(q.ids.count) tokens long: with \(nSpecial) special tokens no context fits in max_seq_len \(seqLen)")
            }
            guard stride < per else {
                throw MIIError.argument("doc_stride (\(stride)) must be less than the \(per) context tokens of a window (max_seq_len \(seqLen) minus the question and special tokens)")
            }
            var lo = 0
            while true {
                let hi = min(lo + per, c.ids.count)
                windows.append((lo, hi))
                if hi == c.ids.count { break }
                lo += per - stride
            }
        }
        let offsets = TextAlignment.align(ids: c.ids, skip: c.ids.map { _ in false }, text: context, tokenizer: tok)
        let p = try pool(threads)
        let m = mode ?? options.mode
        var answers: [Answer] = []
        var minNull = Float(1_000_000)
        for w in windows {
            let (ids, types, source) = tok.applyPairTemplate(q.ids, Array(c.ids[w.lo..<w.hi]))
            try checkLength(ids.count, enc)
            let allowed = source.map { $0?.sequence == 1 }
            let hidden = try enc.hiddenStates(tokens: ids, typeIds: enc.typeVocabSize > 0 ? types : nil, pool: p, mode: m)
            let (start, end) = try enc.questionAnsweringLogits(hidden: hidden, pool: p, mode: m)
            let nullIndex = ids.first.map { tok.isControl($0) } == true ? 0 : nil
            let (spans, null) = try EncoderTasks.scoreSpans(start: start, end: end, allowed: allowed, nullIndex: nullIndex,
                                                            maxAnswerLength: maxAnswerLength, topK: topK)
            minNull = min(minNull, null)
            for s in spans {
                guard let i0 = source[s.start]?.index, let i1 = source[s.end]?.index else { continue }
                let cs = w.lo + i0, ce = w.lo + i1   // context token indices
                // Whole words of this window (tokenizers' word_to_chars on the window's encoding).
                var a = cs, b = ce
                if alignToWords {
                    while a > w.lo && c.words[a - 1] == c.words[cs] { a -= 1 }
                    while b + 1 < w.hi && c.words[b + 1] == c.words[ce] { b += 1 }
                }
                if let x = offsets[a], let y = offsets[b] {
                    answers.append(Answer(score: s.score, start: x.start, end: y.end, tokenStart: s.start, tokenEnd: s.end,
                                          text: TextAlignment.slice(context, x.start, y.end)))
                } else {
                    answers.append(Answer(score: s.score, start: nil, end: nil, tokenStart: s.start, tokenEnd: s.end,
                                          text: tok.decode(Array(c.ids[a...b]), skipSpecial: true, cleanUpSpaces: tok.cleanSpacesByDefault)))
                }
            }
        }
        if handleImpossibleAnswer {
            answers.append(Answer(score: minNull, start: 0, end: 0, tokenStart: 0, tokenEnd: 0, text: ""))
        }
        // Stable: equal scores keep window order.
        let ranked = answers.enumerated().sorted { $0.element.score != $1.element.score ? $0.element.score > $1.element.score : $0.offset < $1.offset }
        return ranked.prefix(topK).map(\.element)
    }

    private func labelName(_ enc: EncoderNetwork, _ i: Int) -> String {
        i < enc.labels.count ? enc.labels[i] : "LABEL_\(i)"
    }
}

/// Recovers character offsets of tokens as tokenizers' offset mapping gives them, by matching each
/// token's surface bytes (`Tokenizer.piece`: byte-level characters as bytes, "▁" as a space, WordPiece
/// "##" removed) against the input normalised character by character with the tokenizer's own
/// normalizer (lowercasing, accent stripping, NFKC, ...), left to right. Offsets are Unicode scalar
/// indices of the input (Python `str` indices). A token holding part of a multi-byte character gets the
/// whole character, as in tokenizers. Spaces: WordPiece offsets never include them; byte-level BPE
/// tokens ("Ġ") are trimmed (RoBERTa's trim_offsets: a lone "Ġ" is the empty span after its space);
/// SentencePiece-style tokens ("▁") include the space they stand for, or share the next character's
/// offsets when the space was prepended. WordPiece's unknown token spans its word. Other tokens that
/// do not match (unknown tokens, characters the normaliser changes in context) get the gap up to the
/// next match, or the empty span after it when it holds only whitespace (as tokenizers' Unigram does
/// for an unknown tab).
enum TextAlignment {
    enum Mode { case wordPiece, byteLevel, metaspace }

    static func mode(_ tok: Tokenizer) -> Mode {
        func find(_ d: HFDecoder) -> Mode? {
            switch d {
            case .wordPiece: return .wordPiece
            case .byteLevel: return .byteLevel
            case .metaspace: return .metaspace
            case .sequence(let list):
                for x in list { if let m = find(x) { return m } }
                return nil
            default: return nil
            }
        }
        if let hf = tok.hf, let d = hf.decoder, let m = find(d) { return m }
        switch tok.kind {
        case .wordPiece: return .wordPiece
        case .bpe: return .byteLevel
        case .spm, .unigram: return .metaspace
        }
    }

    static func slice(_ text: String, _ a: Int, _ b: Int) -> String {
        let sc = Array(text.unicodeScalars)
        let lo = max(0, min(a, sc.count)), hi = max(lo, min(b, sc.count))
        var s = String.UnicodeScalarView()
        s.append(contentsOf: sc[lo..<hi])
        return String(s)
    }

    static func isSpaceByte(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D }

    /// The input as the tokenizer sees it: each character normalised on its own, as UTF-8 bytes, with
    /// the character each byte comes from. Whitespace becomes a space; "▁" too.
    static func haystack(_ text: String, _ tok: Tokenizer) -> (bytes: [UInt8], char: [Int], scalar: [Unicode.Scalar]) {
        let norm = tok.hf?.normalizer
        let collapse = norm.map { n in n.perChar([0x20, 0x20]).count == 1 } ?? false
        var bytes: [UInt8] = [], char: [Int] = [], scalar: [Unicode.Scalar] = []
        bytes.reserveCapacity(text.utf8.count)
        char.reserveCapacity(text.utf8.count)
        let scalars = Array(text.unicodeScalars)
        for (i, c) in scalars.enumerated() {
            let n: [UInt32] = norm.map { $0.perChar([c.value]) } ?? [c.value]
            if collapse, c == " ", i + 1 < scalars.count, scalars[i + 1] == " " { continue }  // "  " -> " " keeps the last
            for v in n {
                guard let sc = Unicode.Scalar(v == 0x2581 ? 0x20 : v) else { continue }
                for b in String(sc).utf8 { bytes.append(b); char.append(i); scalar.append(sc) }
            }
        }
        return (bytes, char, scalar)
    }

    /// BERT's punctuation (each such character is a word of its own).
    static func isPunctuation(_ c: Unicode.Scalar) -> Bool {
        let v = c.value
        if (33...47).contains(v) || (58...64).contains(v) || (91...96).contains(v) || (123...126).contains(v) { return true }
        switch c.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation, .initialPunctuation,
             .finalPunctuation, .otherPunctuation: return true
        default: return false
        }
    }

    static func align(ids: [Int32], skip: [Bool], text: String, tokenizer tok: Tokenizer) -> [(start: Int, end: Int)?] {
        let mode = self.mode(tok)
        let (hay, charOf, scalarOf) = haystack(text, tok)
        let nChars = text.unicodeScalars.count
        let foldCase = tok.hf?.normalizer == nil && mode == .wordPiece
        var out = [(start: Int, end: Int)?](repeating: nil, count: ids.count)
        var cursor = 0            // next haystack byte
        var pending: [Int] = []   // unmatched tokens waiting for the next match
        func charStart(_ b: Int) -> Int { b < hay.count ? charOf[b] : nChars }
        func settle(until limit: Int) {
            guard !pending.isEmpty else { return }
            var a = cursor
            while a < limit && isSpaceByte(hay[a]) { a += 1 }
            var b = limit
            while b > a && isSpaceByte(hay[b - 1]) { b -= 1 }
            if b > a {
                for i in pending { out[i] = (charOf[a], charOf[b - 1] + 1) }
            } else if limit > cursor {
                // Only whitespace between the neighbours (e.g. an unknown tab): the empty span after it.
                let at = a < hay.count ? charOf[a] : nChars
                for i in pending { out[i] = (at, at) }
            }
            pending.removeAll()
        }
        func lower(_ b: UInt8) -> UInt8 { foldCase && b >= 0x41 && b <= 0x5A ? b + 32 : b }
        func matches(_ needle: [UInt8], at s: Int) -> Bool {
            guard s + needle.count <= hay.count else { return false }
            for k in needle.indices where lower(hay[s + k]) != lower(needle[k]) { return false }
            return true
        }
        /// The first position from the cursor where `needle` matches, skipping only spaces (or
        /// anything while tokens are pending).
        func search(_ needle: [UInt8]) -> Int? {
            var s = cursor
            while s + needle.count <= hay.count {
                if matches(needle, at: s) { return s }
                if pending.isEmpty && !isSpaceByte(hay[s]) { return nil }
                s += 1
            }
            return nil
        }
        for i in ids.indices where !skip[i] {
            var piece = tok.piece(ids[i])
            if mode == .wordPiece {
                let t = Array(tok.tokenText(ids[i]).utf8)
                piece = t.count > 2 && t[0] == 0x23 && t[1] == 0x23 ? Array(t[2...]) : t
            }
            var core = piece[...]
            while let f = core.first, f == 0x20 { core.removeFirst() }
            let lead = piece.count - core.count
            if ids[i] == tok.unkId && mode == .wordPiece {
                // WordPiece's unknown token is a whole word: a punctuation character, or the run up to
                // the next space or punctuation (CJK characters are spaced out by the normalizer).
                var p = cursor
                while p < hay.count && isSpaceByte(hay[p]) { p += 1 }
                if p < hay.count {
                    settle(until: p)
                    var e = p
                    if isPunctuation(scalarOf[p]) {
                        while e < hay.count && charOf[e] == charOf[p] && scalarOf[e] == scalarOf[p] { e += 1 }
                    } else {
                        while e < hay.count && !isSpaceByte(hay[e]) && !isPunctuation(scalarOf[e]) { e += 1 }
                    }
                    out[i] = (charOf[p], charOf[e - 1] + 1)
                    cursor = e
                    continue
                }
            }
            if ids[i] == tok.unkId || (core.isEmpty && lead == 0) {
                pending.append(i)
                continue
            }
            if mode != .wordPiece && lead > 0, let s = search(piece) {
                // The token's spaces are in the input: byte-level trims them, SentencePiece keeps them.
                settle(until: s)
                let e = s + piece.count
                if core.isEmpty {
                    out[i] = mode == .byteLevel ? (charOf[e - 1] + 1, charOf[e - 1] + 1) : (charOf[s], charOf[e - 1] + 1)
                } else {
                    out[i] = (charOf[mode == .byteLevel ? s + lead : s], charOf[e - 1] + 1)
                }
                cursor = e
                continue
            }
            if core.isEmpty {
                // A space the tokenizer prepended: the offsets of the next character.
                var p = cursor
                while p < hay.count && isSpaceByte(hay[p]) { p += 1 }
                out[i] = mode == .byteLevel ? (charStart(p), charStart(p)) : (charStart(p), min(nChars, charStart(p) + 1))
                continue
            }
            if let s = search(Array(core)) {
                settle(until: s)
                out[i] = (charOf[s], charOf[s + core.count - 1] + 1)
                cursor = s + core.count
            } else {
                pending.append(i)
            }
        }
        settle(until: hay.count)
        return out
    }
}
