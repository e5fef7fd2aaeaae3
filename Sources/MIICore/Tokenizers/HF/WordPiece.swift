// WordPiece (BERT): greedy longest-match-first over a pre-tokenized word; pieces after the first carry
// the continuing_subword_prefix ("##"). A word longer than max_input_chars_per_word characters, or
// with a part that matches nothing, becomes the unknown token (models/wordpiece/mod.rs).
// GGUF `bert` vocabularies (llama.cpp's WPM) mark the other end instead: the first piece of a word
// carries a word prefix (U+2581, "phantom space") and continuation pieces carry nothing; that is
// `wordPrefix` with an empty `prefix`.

struct WordPieceModel {
    let unkId: Int32
    let prefix: [UInt8]
    let maxInputChars: Int
    /// The model vocabulary as a trie; `prefixNode` is the node of the continuing-subword prefix.
    let trie: ByteTrie
    let prefixNode: Int32?
    /// The node of the word-start prefix (the root without one).
    let startNode: Int32?

    init(unkId: Int32, prefix: [UInt8], maxInputChars: Int, tokens: [[UInt8]], wordPrefix: [UInt8] = []) {
        self.unkId = unkId
        self.prefix = prefix
        self.maxInputChars = maxInputChars
        self.trie = ByteTrie(tokens: tokens)
        self.prefixNode = trie.walk(prefix)
        self.startNode = trie.walk(wordPrefix)
    }

    /// Greedy longest match: the longest vocabulary entry that is a prefix of w[start...] (with the
    /// continuing prefix in front when start > 0), found with one trie walk.
    func tokenize(_ w: [UInt8], into out: inout [Int32]) {
        if w.isEmpty { return }
        var chars = 0
        for b in w where b & 0xC0 != 0x80 { chars += 1 }
        if chars > maxInputChars { out.append(unkId); return }
        let mark = out.count
        var start = 0
        let n = w.count
        while start < n {
            var found: Int32 = -1, foundEnd = start
            if let first = start == 0 ? startNode : prefixNode {
                var node = first
                var j = start
                while j < n, let c = trie.child(node, w[j]) {
                    node = c
                    j += 1
                    let id = trie.token(node)
                    // Only ends on character boundaries count (vocabulary texts are valid UTF-8 anyway).
                    if id >= 0 && (j == n || w[j] & 0xC0 != 0x80) { found = id; foundEnd = j }
                }
            }
            if found < 0 {
                out.removeSubrange(mark...)
                out.append(unkId)
                return
            }
            out.append(found)
            start = foundEnd
        }
    }
}
