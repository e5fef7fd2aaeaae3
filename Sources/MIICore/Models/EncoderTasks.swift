#if canImport(Glibc)
import Glibc
#endif

/// Turning head logits into what the transformers pipelines return (fill-mask, text-classification,
/// token-classification, question-answering), so every binding shares one implementation.
public enum ScoreFunction: String, Sendable {
    case softmax
    case sigmoid
    /// Raw logits (regression heads).
    case none

    /// transformers' text-classification rule: `problem_type` regression -> none; multi-label or a
    /// single label -> sigmoid; otherwise softmax.
    public static func forClassification(problemType: String?, labels: Int) -> ScoreFunction {
        switch problemType {
        case "regression": return .none
        case "multi_label_classification": return .sigmoid
        default: return labels == 1 ? .sigmoid : .softmax
        }
    }

    public func apply(_ logits: [Float]) -> [Float] {
        switch self {
        case .none: return logits
        case .sigmoid: return logits.map { 1 / (1 + expf(-$0)) }
        case .softmax: return EncoderTasks.softmax(logits)
        }
    }
}

public enum EncoderTasks {
    /// Numerically stable softmax (computed in Double).
    public static func softmax(_ x: [Float]) -> [Float] {
        guard let mx = x.max() else { return [] }
        var sum = 0.0
        let e = x.map { v -> Double in let t = exp(Double(v - mx)); sum += t; return t }
        return e.map { Float($0 / sum) }
    }

    /// The `k` largest values of `scores` with their indices, best first (ties: lower index first).
    public static func topK(_ scores: [Float], _ k: Int) -> [(index: Int, score: Float)] {
        guard k > 0 else { return [] }
        var best: [(index: Int, score: Float)] = []
        best.reserveCapacity(min(k, scores.count) + 1)
        for (i, s) in scores.enumerated() {
            if best.count == k, let last = best.last, !(s > last.score) { continue }
            var j = best.count
            while j > 0 && s > best[j - 1].score { j -= 1 }
            best.insert((i, s), at: j)
            if best.count > k { best.removeLast() }
        }
        return best
    }

    /// Fill-mask: the `k` most probable tokens at each masked row of `logits` (`[rows, vocab]`,
    /// e.g. from `maskedLMLogits` on the mask positions' hidden states), with softmax probabilities.
    public static func fillMask(logits: [Float], vocab: Int, topK k: Int) throws -> [[(token: Int32, probability: Float)]] {
        guard vocab > 0, !logits.isEmpty, logits.count % vocab == 0 else {
            throw MIIError.argument("logits hold \(logits.count) values, not a positive multiple of the vocabulary \(vocab)")
        }
        return (0..<(logits.count / vocab)).map { r in
            let p = softmax(Array(logits[(r * vocab)..<((r + 1) * vocab)]))
            return topK(p, k).map { (Int32($0.index), $0.score) }
        }
    }

    /// An answer span of extractive QA: token positions [start, end] and its score p_start * p_end.
    public struct Span: Sendable, Equatable {
        public var start: Int
        public var end: Int
        public var score: Float
        public init(start: Int, end: Int, score: Float) {
            self.start = start
            self.end = end
            self.score = score
        }
    }

    /// The best answer spans, as transformers' question-answering pipeline scores them: start and end
    /// logits are turned into probabilities by a softmax over the allowed (context) tokens and the
    /// `nullIndex` token ([CLS], which transformers keeps in the normalisation but never answers
    /// with), a span's score is p_start * p_end, with start <= end < start + maxAnswerLength;
    /// `allowed` says which token positions may be part of an answer (the context, not the question
    /// or special tokens).
    public static func bestSpans(start: [Float], end: [Float], allowed: [Bool], nullIndex: Int? = 0,
                                 maxAnswerLength: Int = 15, topK k: Int = 1) throws -> [Span] {
        try scoreSpans(start: start, end: end, allowed: allowed, nullIndex: nullIndex,
                       maxAnswerLength: maxAnswerLength, topK: k).spans
    }

    /// `bestSpans`, with the null score too: p_start * p_end of position 0 (the [CLS] token; 0 when
    /// position 0 is neither allowed nor `nullIndex`), which transformers' handle_impossible_answer
    /// turns into the empty answer.
    public static func scoreSpans(start: [Float], end: [Float], allowed: [Bool], nullIndex: Int? = 0,
                                  maxAnswerLength: Int = 15, topK k: Int = 1) throws -> (spans: [Span], null: Float) {
        let n = start.count
        guard end.count == n, allowed.count == n else {
            throw MIIError.argument("start (\(start.count)), end (\(end.count)) and allowed (\(allowed.count)) differ in length")
        }
        guard maxAnswerLength >= 1, k >= 1 else {
            throw MIIError.argument("maxAnswerLength and topK must be at least 1")
        }
        if !allowed.contains(true) { return ([], 0) }
        let idx = (0..<n).filter { allowed[$0] || $0 == nullIndex }
        let ps = softmax(idx.map { start[$0] }), pe = softmax(idx.map { end[$0] })
        var pStart = [Float](repeating: 0, count: n), pEnd = [Float](repeating: 0, count: n)
        for (j, i) in idx.enumerated() { pStart[i] = ps[j]; pEnd[i] = pe[j] }
        var spans: [Span] = []
        for s in idx where allowed[s] {
            for e in s..<min(n, s + maxAnswerLength) where allowed[e] {
                spans.append(Span(start: s, end: e, score: pStart[s] * pEnd[e]))
            }
        }
        spans.sort { $0.score != $1.score ? $0.score > $1.score : ($0.start, $0.end) < ($1.start, $1.end) }
        return (Array(spans.prefix(k)), n > 0 ? pStart[0] * pEnd[0] : 0)
    }
}
