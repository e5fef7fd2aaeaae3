// Added tokens of a Hugging Face tokenizer.json ("added_tokens"): found in the text before the model
// runs, leftmost-longest, as tokenizers' AddedVocabulary does. Tokens with normalized = false are
// matched in the raw text, those with normalized = true in the normalized text (against their
// normalized content). single_word, lstrip and rstrip are applied to each match.

struct HFAddedToken {
    var id: Int32
    var content: [UInt32]
    var special: Bool
    var singleWord: Bool
    var lstrip: Bool
    var rstrip: Bool
    var normalized: Bool
}

/// A scalar trie over added-token contents with leftmost-longest matching.
struct HFAddedMatcher {
    private var children: [UInt64: Int32] = [:]
    private var terminal: [Int32] = [-1]  // index into `tokens`
    let tokens: [HFAddedToken]

    var isEmpty: Bool { tokens.isEmpty }

    init(_ tokens: [HFAddedToken], patterns: [[UInt32]]) {
        self.tokens = tokens
        for (k, p) in patterns.enumerated() where !p.isEmpty {
            var node: Int32 = 0
            for c in p {
                let key = UInt64(UInt32(node)) << 21 | UInt64(c & 0x1F_FFFF)
                if let n = children[key] {
                    node = n
                } else {
                    terminal.append(-1)
                    let n = Int32(terminal.count - 1)
                    children[key] = n
                    node = n
                }
            }
            if terminal[Int(node)] < 0 { terminal[Int(node)] = Int32(k) }
        }
    }

    /// Splits `s` into text ranges (token nil) and added tokens.
    func split(_ s: [UInt32], parseSpecial: Bool) -> [(Range<Int>, Int32?)] {
        if s.isEmpty { return [] }
        if tokens.isEmpty { return [(0..<s.count, nil)] }
        var out: [(Range<Int>, Int32?)] = []
        var startOffset = 0
        var i = 0
        let n = s.count
        while i < n {
            // Longest token starting at i.
            var node: Int32 = 0
            var j = i
            var best = -1, bestEnd = -1
            while j < n, let c = children[UInt64(UInt32(node)) << 21 | UInt64(s[j] & 0x1F_FFFF)] {
                node = c
                j += 1
                let t = terminal[Int(node)]
                if t >= 0 { best = Int(t); bestEnd = j }
            }
            if best < 0 { i += 1; continue }
            let tok = tokens[best]
            var start = i, stop = bestEnd
            i = bestEnd  // the automaton moves past the match even when it is rejected below
            if tok.special && !parseSpecial { continue }
            if tok.singleWord {
                let startSpace = start == 0 || !HFChar.isWord(s[start - 1])
                let stopSpace = stop == n || !HFChar.isWord(s[stop])
                if !startSpace || !stopSpace { continue }
            }
            if tok.lstrip {
                var k = start
                while k > 0 && HFChar.isWhitespace(s[k - 1]) { k -= 1 }
                start = max(k, startOffset)
            }
            if tok.rstrip {
                while stop < n && HFChar.isWhitespace(s[stop]) { stop += 1 }
                i = max(i, stop)
            }
            if startOffset < start { out.append((startOffset..<start, nil)) }
            out.append((start..<stop, tok.id))
            startOffset = stop
        }
        if startOffset < n { out.append((startOffset..<n, nil)) }
        return out
    }
}
