/// Token-classification aggregation, as transformers' TokenClassificationPipeline post-processes
/// per-token label probabilities: per word ("first", "average", "max") and then into entity groups
/// of adjacent tokens or words that share an entity type (B-/I- tags), and, for texts split into
/// overlapping windows, the choice between entities of different windows that cover the same text.

/// How token labels are combined (transformers' aggregation_strategy).
public enum TokenAggregation: String, Sendable, CaseIterable {
    /// Every token with its best label.
    case none
    /// Adjacent tokens with the same entity type grouped, token by token.
    case simple
    /// Tokens of a word take the label of the word's first token, then words are grouped.
    case first
    /// Tokens of a word take the label with the best average probability over the word.
    case average
    /// Tokens of a word take the label of the word's most confident token.
    case max
}

/// An entity: adjacent tokens (or words) of one entity type.
public struct EntityGroup: Sendable, Equatable {
    /// The entity type: the label without its "B-" / "I-" prefix (transformers' entity_group).
    public var entityGroup: String
    /// The mean of the members' scores.
    public var score: Float
    /// The members' text, joined by the tokenizer's decoder.
    public var word: String
    /// Character span in the input (Unicode scalar indices), nil if a token could not be aligned.
    public var start: Int?
    public var end: Int?
}

/// One token of an encoded window with all its label probabilities (transformers' "pre-entity").
struct ScoredToken {
    /// Position in its window's encoded input (special tokens included).
    var index: Int
    /// The token's vocabulary text, or for an unknown token the text it stands for.
    var word: String
    /// Softmax probabilities of every label.
    var scores: [Float]
    var start: Int?
    var end: Int?
    /// Continues the word of the previous token.
    var isSubword: Bool
}

enum TokenAggregator {
    /// A token or word with its chosen label, before grouping.
    struct Labelled {
        var entity: String
        var score: Float
        var word: String
        var start: Int?
        var end: Int?
    }

    /// Index of the largest value (the first one on ties, as numpy's argmax).
    static func argmax(_ x: [Float]) -> Int {
        var best = 0
        for i in x.indices where x[i] > x[best] { best = i }
        return best
    }

    /// The entity groups of one window's tokens. `label` names a label index; `join` joins token
    /// strings into text (the tokenizer's convert_tokens_to_string).
    static func groups(_ tokens: [ScoredToken], strategy: TokenAggregation, label: (Int) -> String,
                       join: ([String]) -> String) -> [EntityGroup] {
        var labelled: [Labelled] = []
        switch strategy {
        case .none, .simple:
            labelled = tokens.map { t in
                let i = argmax(t.scores)
                return Labelled(entity: label(i), score: t.scores.isEmpty ? 0 : t.scores[i], word: t.word,
                                start: t.start, end: t.end)
            }
        case .first, .average, .max:
            var word: [ScoredToken] = []
            for t in tokens {
                if !word.isEmpty && !t.isSubword {
                    labelled.append(aggregateWord(word, strategy, label: label, join: join))
                    word = []
                }
                word.append(t)
            }
            if !word.isEmpty { labelled.append(aggregateWord(word, strategy, label: label, join: join)) }
        }
        return group(labelled, join: join)
    }

    /// One word's label from its tokens.
    static func aggregateWord(_ tokens: [ScoredToken], _ strategy: TokenAggregation, label: (Int) -> String,
                              join: ([String]) -> String) -> Labelled {
        let scores: [Float]
        switch strategy {
        case .max:
            // The first token whose best probability is the largest.
            var best = tokens[0]
            for t in tokens.dropFirst() where (t.scores.max() ?? 0) > (best.scores.max() ?? 0) { best = t }
            scores = best.scores
        case .average:
            let n = tokens[0].scores.count
            var sum = [Double](repeating: 0, count: n)
            for t in tokens { for j in 0..<min(n, t.scores.count) { sum[j] += Double(t.scores[j]) } }
            scores = sum.map { Float($0 / Double(tokens.count)) }
        default:
            scores = tokens[0].scores
        }
        let i = argmax(scores)
        return Labelled(entity: label(i), score: scores.isEmpty ? 0 : scores[i], word: join(tokens.map(\.word)),
                        start: tokens[0].start, end: tokens[tokens.count - 1].end)
    }

    /// "B-PER" -> ("B", "PER"), "I-PER" -> ("I", "PER"); labels without a B-/I- prefix continue (I).
    static func tag(_ entity: String) -> (begins: Bool, type: String) {
        if entity.hasPrefix("B-") { return (true, String(entity.dropFirst(2))) }
        if entity.hasPrefix("I-") { return (false, String(entity.dropFirst(2))) }
        return (false, entity)
    }

    /// Adjacent members of one type form a group; a "B-" member starts a new one.
    static func group(_ items: [Labelled], join: ([String]) -> String) -> [EntityGroup] {
        var out: [EntityGroup] = []
        var run: [Labelled] = []
        func flush() {
            guard let first = run.first, let last = run.last else { return }
            // The type is the first member's label after its first "-" (transformers' split("-", 1)[-1]).
            let type = first.entity.firstIndex(of: "-").map { String(first.entity[first.entity.index(after: $0)...]) } ?? first.entity
            let mean = run.reduce(0.0) { $0 + Double($1.score) } / Double(run.count)
            out.append(EntityGroup(entityGroup: type, score: Float(mean), word: join(run.map(\.word)),
                                   start: first.start, end: last.end))
            run = []
        }
        for item in items {
            if let prev = run.last {
                let (b, t) = tag(item.entity)
                if !(t == tag(prev.entity).type && !b) { flush() }
            }
            run.append(item)
        }
        flush()
        return out
    }

    /// Entities of overlapping windows: sorted by start, and of entities that start inside the
    /// previous kept one, the longer (or, equally long, the higher-scoring) is kept.
    static func resolveOverlaps(_ entities: [EntityGroup]) -> [EntityGroup] {
        guard !entities.isEmpty else { return [] }
        let sorted = entities.enumerated().sorted {
            let a = $0.element.start ?? 0, b = $1.element.start ?? 0
            return a != b ? a < b : $0.offset < $1.offset
        }.map(\.element)
        var out: [EntityGroup] = []
        var prev = sorted[0]
        for e in sorted {
            let ps = prev.start ?? 0, pe = prev.end ?? 0, es = e.start ?? 0
            if ps <= es && es < pe {
                let len = (e.end ?? 0) - es, prevLen = pe - ps
                if len > prevLen || (len == prevLen && e.score > prev.score) { prev = e }
            } else {
                out.append(prev)
                prev = e
            }
        }
        out.append(prev)
        return out
    }
}
