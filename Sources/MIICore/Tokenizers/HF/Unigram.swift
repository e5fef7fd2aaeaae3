// The Unigram model (SentencePiece unigram as in T5, XLM-R, ALBERT): the best segmentation of a word by
// the sum of token scores (Viterbi over a byte trie of the vocabulary). A character no token starts
// with is the unknown token, scored min_score - 10; consecutive unknowns are fused; with byte_fallback
// an unknown piece becomes its <0xXX> byte tokens (models/unigram/model.rs, encode_optimized).

struct UnigramModel {
    let scores: [Double]
    let unkId: Int32?
    let byteFallback: Bool
    let minScore: Double
    let trie: ByteTrie
    let byteTokens: [Int32]

    static let unknownPenalty = 10.0

    init(tokens: [[UInt8]], scores: [Double], unkId: Int32?, byteFallback: Bool, byteTokens: [Int32]) throws {
        self.trie = ByteTrie(tokens: tokens)
        self.scores = scores
        self.unkId = unkId
        self.byteFallback = byteFallback
        self.minScore = scores.min() ?? 0
        self.byteTokens = byteTokens
    }

    /// Unlike tokenizers, which fails when the model has no unk_id and the text needs it, such text is
    /// left out (encoding does not throw).
    func tokenize(_ w: [UInt8], lookup: (UnsafeBufferPointer<UInt8>) -> Int32, into out: inout [Int32]) {
        let n = w.count
        if n == 0 { return }
        let unkScore = minScore - UnigramModel.unknownPenalty
        var bestScore = [Double](repeating: 0, count: n + 1)
        var bestStart = [Int](repeating: -1, count: n + 1)
        var bestId = [Int32](repeating: -1, count: n + 1)
        var pos = 0
        while pos < n {
            let base = bestScore[pos]
            let lead = w[pos]
            let mblen = min(lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4, n - pos)
            var single = false
            var node = ByteTrie.root
            var j = pos
            while j < n, let c = trie.child(node, w[j]) {
                node = c
                j += 1
                let id = trie.token(node)
                if id < 0 { continue }
                let cand = scores[Int(id)] + base
                if bestStart[j] < 0 || cand > bestScore[j] {
                    bestScore[j] = cand
                    bestStart[j] = pos
                    bestId[j] = id
                }
                if j - pos == mblen { single = true }
            }
            if !single {
                let u = unkId ?? -1
                let e = pos + mblen
                let cand = unkScore + base
                if bestStart[e] < 0 || cand > bestScore[e] {
                    bestScore[e] = cand
                    bestStart[e] = pos
                    bestId[e] = u
                }
            }
            pos += mblen
        }
        // Backtrack, fusing consecutive unknowns; then each piece is looked up by its text.
        var pieces: [Range<Int>] = []
        var end = n
        var unkRun: Range<Int>? = nil
        while end > 0 {
            let s = bestStart[end]
            if s < 0 || s >= end { return }  // cannot happen: every character boundary is reached
            if bestId[end] == (unkId ?? -1) {
                unkRun = s..<(unkRun?.upperBound ?? end)
            } else {
                if let r = unkRun { pieces.append(r); unkRun = nil }
                pieces.append(s..<end)
            }
            end = s
        }
        if let r = unkRun { pieces.append(r) }
        for r in pieces.reversed() {
            let id = w.withUnsafeBufferPointer { lookup(UnsafeBufferPointer(rebasing: $0[r])) }
            if id >= 0 { out.append(id); continue }
            if byteFallback && w[r].allSatisfy({ byteTokens[Int($0)] >= 0 }) {
                for b in w[r] { out.append(byteTokens[Int(b)]) }
                continue
            }
            if let u = unkId { out.append(u) }
        }
    }
}
