// Byte-level BPE (GGUF tokenizer model "gpt2"), as llama.cpp's llm_tokenizer_bpe_session does it:
// the pre-tokenizer splits the text into pieces; every piece is turned into its bytes, each byte into
// the token of its GPT-2 byte character, and adjacent symbols are merged lowest merge rank first
// (ties: leftmost first) until no adjacent pair has a merge.

/// Merge candidate: the pair (left, right) of adjacent symbols, valid while both still hold the ids
/// they had when it was queued.
struct BPECandidate: HeapOrdered {
    var rank: Int32
    var left: Int32
    var right: Int32
    var leftId: Int32
    var rightId: Int32
    var result: Int32

    @inline(__always)
    static func before(_ a: BPECandidate, _ b: BPECandidate) -> Bool {
        a.rank != b.rank ? a.rank < b.rank : a.left < b.left
    }
}

/// The immutable BPE data of a vocabulary.
struct BPEModel: @unchecked Sendable {
    let merges: MergeTable
    /// Token of each byte's GPT-2 character, or -1 when the vocabulary lacks it.
    let byteTokens: [Int32]
    let pre: PreTokenizer
    /// Look whole pre-tokenizer pieces up in the vocabulary before merging (llama3-style vocabularies).
    let ignoreMerges: Bool

    /// Parses `tokenizer.ggml.merges` ("left right" per entry, rank = index).
    static func parseMerges(_ list: [String], vocab: TokenTextTable) throws -> MergeTable {
        var table = MergeTable(capacity: list.count)
        var joined: [UInt8] = []
        for (rank, m) in list.enumerated() {
            var m = m
            let r: (Int32, Int32, Int32)? = m.withUTF8 { b -> (Int32, Int32, Int32)? in
                // llama.cpp splits at the first space after the first byte.
                var sp = -1
                var i = 1
                while i < b.count { if b[i] == 0x20 { sp = i; break }; i += 1 }
                if sp < 0 || sp + 1 >= b.count { return nil }
                let left = vocab.find(UnsafeBufferPointer(rebasing: b[0..<sp]))
                let right = vocab.find(UnsafeBufferPointer(rebasing: b[(sp + 1)...]))
                joined.removeAll(keepingCapacity: true)
                joined.append(contentsOf: b[0..<sp])
                joined.append(contentsOf: b[(sp + 1)...])
                return (left, right, vocab.find(joined))
            }
            guard let (left, right, result) = r else {
                throw MIIError.format("tokenizer: merge \(rank) \(m.debugDescription) is not two tokens separated by a space")
            }
            if left < 0 || right < 0 || result < 0 {
                let which = left < 0 ? "its left part" : right < 0 ? "its right part" : "the merged token"
                throw MIIError.format("tokenizer: merge \(rank) \(m.debugDescription) references an unknown token (\(which) is not in the vocabulary)")
            }
            table.insert(left, right, rank: Int32(rank), result: result)
        }
        return table
    }

    /// Per-encode working memory, reused across pieces.
    struct Scratch {
        var scalars: [UInt32] = []
        var offsets: [Int] = []
        var flags: [UInt16] = []
        var pieces: [Range<Int>] = []
        var ids: [Int32] = []
        var prev: [Int32] = []
        var next: [Int32] = []
        var heap = MinHeap<BPECandidate>()
        var mapped: [UInt8] = []
    }

    /// Tokenizes one fragment of raw text (no special tokens in it) and appends the ids.
    func encode(_ bytes: UnsafeBufferPointer<UInt8>, vocab: TokenTextTable, into out: inout [Int32], scratch s: inout Scratch) {
        if bytes.isEmpty { return }
        UTF8Util.decode(bytes, scalars: &s.scalars, offsets: &s.offsets)
        s.flags.removeAll(keepingCapacity: true)
        for c in s.scalars { s.flags.append(CharFlags.of(c)) }
        s.pieces.removeAll(keepingCapacity: true)
        s.scalars.withUnsafeBufferPointer { sc in
            s.flags.withUnsafeBufferPointer { fl in
                pre.split(scalars: sc, flags: fl, range: 0..<sc.count, into: &s.pieces)
            }
        }
        for piece in s.pieces {
            let lo = s.offsets[piece.lowerBound], hi = s.offsets[piece.upperBound]
            encodePiece(UnsafeBufferPointer(rebasing: bytes[lo..<hi]), vocab: vocab, into: &out, scratch: &s)
        }
    }

    private func encodePiece(_ b: UnsafeBufferPointer<UInt8>, vocab: TokenTextTable, into out: inout [Int32], scratch s: inout Scratch) {
        let n = b.count
        if n == 1 {
            let id = byteTokens[Int(b[0])]
            if id >= 0 { out.append(id) }
            return
        }
        if ignoreMerges {
            s.mapped.removeAll(keepingCapacity: true)
            for x in b { s.mapped.append(contentsOf: ByteLevel.byteToUTF8[Int(x)]) }
            let id = vocab.find(s.mapped)
            if id >= 0 { out.append(id); return }
        }
        s.ids.removeAll(keepingCapacity: true)
        s.prev.removeAll(keepingCapacity: true)
        s.next.removeAll(keepingCapacity: true)
        for i in 0..<n {
            s.ids.append(byteTokens[Int(b[i])])
            s.prev.append(Int32(i - 1))
            s.next.append(i + 1 < n ? Int32(i + 1) : -1)
        }
        s.heap.removeAll()
        @inline(__always) func consider(_ l: Int32, _ r: Int32, _ s: inout Scratch) {
            if l < 0 || r < 0 { return }
            let a = s.ids[Int(l)], c = s.ids[Int(r)]
            if a < 0 || c < 0 { return }
            if let m = merges.find(a, c) {
                s.heap.push(BPECandidate(rank: m.rank, left: l, right: r, leftId: a, rightId: c, result: m.result))
            }
        }
        for i in 1..<n { consider(Int32(i - 1), Int32(i), &s) }
        // A merged-away symbol gets id -2 so stale candidates that mention it are dropped.
        while let c = s.heap.pop() {
            let l = Int(c.left), r = Int(c.right)
            if s.ids[l] != c.leftId || s.ids[r] != c.rightId || s.next[l] != c.right { continue }
            s.ids[l] = c.result
            s.ids[r] = -2
            let nr = s.next[r]
            s.next[l] = nr
            if nr >= 0 { s.prev[Int(nr)] = c.left }
            consider(s.prev[l], c.left, &s)
            consider(c.left, nr, &s)
        }
        var i: Int32 = 0
        while i >= 0 {
            let id = s.ids[Int(i)]
            // -1: a byte whose character is not in the vocabulary. llama.cpp then looks up the
            // character's UTF-8 bytes one by one, which never finds a token: the byte is dropped.
            if id >= 0 { out.append(id) }
            i = s.next[Int(i)]
        }
    }
}
