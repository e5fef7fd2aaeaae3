// SentencePiece BPE (GGUF tokenizer model "llama"), as llama.cpp's llm_tokenizer_spm_session does it:
// the text (spaces already escaped as U+2581, dummy prefix already added) is split into UTF-8
// characters; adjacent symbols whose concatenation is a vocabulary token are merged, highest token
// score first (ties: leftmost first); what remains that is not a token is emitted as byte tokens
// (<0xXX>).

struct SPMCandidate: HeapOrdered {
    var score: Float
    var left: Int32
    var right: Int32
    var size: Int32

    @inline(__always)
    static func before(_ a: SPMCandidate, _ b: SPMCandidate) -> Bool {
        a.score != b.score ? a.score > b.score : a.left < b.left
    }
}

struct SPMModel: @unchecked Sendable {
    let scores: [Float]
    /// Tokens that merges may produce. Unlike llama.cpp, control, unknown and byte tokens are left out
    /// (SentencePiece itself never produces them from text; llama.cpp would turn the literal text
    /// "<s>" into the BOS token if its pieces merged that far).
    let mergeable: [Bool]
    /// Byte fallback: the <0xXX> token of each byte (or the one-character token, as llama.cpp falls
    /// back to), -1 if neither exists.
    let byteTokens: [Int32]
    let unkId: Int32?
    /// Characters that some mergeable token has immediately before a U+2581. Everywhere else the
    /// text can be cut in front of a U+2581 without changing the result (no token, so no merge, can
    /// span the cut), which keeps the merge queue per word instead of per text.
    let joinsSpace: Set<UInt32>

    /// The characters that precede U+2581 inside mergeable tokens.
    static func charsBeforeSpace(vocab: TokenTextTable, mergeable: [Bool]) -> Set<UInt32> {
        var set = Set<UInt32>()
        vocab.bytes.withUnsafeBufferPointer { all in
            for id in 0..<vocab.count where mergeable[id] {
                let t = UnsafeBufferPointer(rebasing: all[vocab.starts[id]..<vocab.starts[id + 1]])
                var i = 0
                var prev: UInt32? = nil
                while i < t.count {
                    let (c, len) = UTF8Util.decodeOne(t, at: i)
                    if c == 0x2581, let p = prev { set.insert(p) }
                    prev = c
                    i += len
                }
            }
        }
        return set
    }

    /// Tokenizes escaped text (spaces already U+2581), cutting it into independent words first.
    func encodeText(_ b: UnsafeBufferPointer<UInt8>, vocab: TokenTextTable, into out: inout [Int32], scratch s: inout Scratch) {
        // Step through the characters the way `encode` splits them (by lead byte), so cuts fall on
        // its symbol boundaries even for invalid UTF-8.
        var segStart = 0
        var i = 0
        var prevOK = false  // the previous character decoded cleanly and may precede a cut
        let n = b.count
        while i < n {
            let lead = b[i]
            let len = min(lead < 0xC0 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4, n - i)
            let isSpace = len == 3 && lead == 0xE2 && b[i + 1] == 0x96 && b[i + 2] == 0x81
            if isSpace && prevOK && i > segStart {
                encode(UnsafeBufferPointer(rebasing: b[segStart..<i]), vocab: vocab, into: &out, scratch: &s)
                segStart = i
            }
            let (c, clen) = UTF8Util.decodeOne(b, at: i)
            prevOK = clen == len && !(c == 0xFFFD && len == 1 && lead >= 0x80) && !joinsSpace.contains(c)
            i += len
        }
        encode(UnsafeBufferPointer(rebasing: b[segStart..<n]), vocab: vocab, into: &out, scratch: &s)
    }

    struct Scratch {
        var start: [Int32] = []
        var len: [Int32] = []
        var prev: [Int32] = []
        var next: [Int32] = []
        var heap = MinHeap<SPMCandidate>()
    }

    func encode(_ b: UnsafeBufferPointer<UInt8>, vocab: TokenTextTable, into out: inout [Int32], scratch s: inout Scratch) {
        let n = b.count
        if n == 0 { return }
        s.start.removeAll(keepingCapacity: true)
        s.len.removeAll(keepingCapacity: true)
        s.prev.removeAll(keepingCapacity: true)
        s.next.removeAll(keepingCapacity: true)
        var off = 0
        while off < n {
            let lead = b[off]
            let l = lead < 0xC0 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4  // llama.cpp's unicode_len_utf8
            let len = min(l, n - off)
            let idx = Int32(s.start.count)
            s.start.append(Int32(off))
            s.len.append(Int32(len))
            s.prev.append(idx - 1)
            off += len
            s.next.append(off == n ? -1 : idx + 1)
        }
        s.heap.removeAll()
        @inline(__always) func consider(_ l: Int32, _ r: Int32, _ s: inout Scratch) {
            if l < 0 || r < 0 { return }
            let a = Int(s.start[Int(l)])
            let size = Int(s.len[Int(l)] + s.len[Int(r)])
            let id = vocab.find(UnsafeBufferPointer(rebasing: b[a..<(a + size)]))
            if id < 0 || !mergeable[Int(id)] { return }
            s.heap.push(SPMCandidate(score: scores[Int(id)], left: l, right: r, size: Int32(size)))
        }
        for i in 1..<s.start.count { consider(Int32(i - 1), Int32(i), &s) }
        while let c = s.heap.pop() {
            let l = Int(c.left), r = Int(c.right)
            if s.len[l] == 0 || s.len[r] == 0 || s.len[l] + s.len[r] != c.size { continue }
            s.len[l] += s.len[r]
            s.len[r] = 0
            let nr = s.next[r]
            s.next[l] = nr
            if nr >= 0 { s.prev[Int(nr)] = c.left }
            consider(s.prev[l], c.left, &s)
            consider(c.left, nr, &s)
        }
        var i: Int32 = 0
        while i >= 0 {
            let a = Int(s.start[Int(i)]), e = a + Int(s.len[Int(i)])
            let id = vocab.find(UnsafeBufferPointer(rebasing: b[a..<e]))
            if id >= 0 {
                out.append(id)
            } else {
                for k in a..<e {
                    let t = byteTokens[Int(b[k])]
                    if t >= 0 {
                        out.append(t)
                    } else if let u = unkId {
                        out.append(u)  // llama.cpp throws here (no byte token); SentencePiece emits <unk>
                    }
                }
            }
            i = s.next[Int(i)]
        }
    }
}
