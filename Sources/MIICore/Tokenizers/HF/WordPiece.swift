// WordPiece (BERT): greedy longest-match-first over a pre-tokenized word; pieces after the first carry
// the continuing_subword_prefix ("##"). A word longer than max_input_chars_per_word characters, or
// with a part that matches nothing, becomes the unknown token (models/wordpiece/mod.rs).

struct WordPieceModel {
    let unkId: Int32
    let prefix: [UInt8]
    let maxInputChars: Int
    /// Longest vocabulary entry, in bytes: longer candidates cannot match, so the search is bounded.
    let maxTokenBytes: Int

    func tokenize(_ w: [UInt8], lookup: (UnsafeBufferPointer<UInt8>) -> Int32, into out: inout [Int32]) {
        if w.isEmpty { return }
        var chars = 0
        for b in w where b & 0xC0 != 0x80 { chars += 1 }
        if chars > maxInputChars { out.append(unkId); return }
        let mark = out.count
        var key: [UInt8] = []
        var start = 0
        let n = w.count
        while start < n {
            var end = min(n, start + maxTokenBytes)
            // Never cut inside a character.
            while end > start && end < n && w[end] & 0xC0 == 0x80 { end -= 1 }
            var found: Int32 = -1
            while start < end {
                key.removeAll(keepingCapacity: true)
                if start > 0 { key.append(contentsOf: prefix) }
                key.append(contentsOf: w[start..<end])
                let id = key.withUnsafeBufferPointer { lookup($0) }
                if id >= 0 { found = id; break }
                end -= 1
                while end > start && w[end] & 0xC0 == 0x80 { end -= 1 }
            }
            if found < 0 {
                out.removeSubrange(mark...)
                out.append(unkId)
                return
            }
            out.append(found)
            start = end
        }
    }
}
