// BPE with merge ranks (GGUF tokenizer models "gpt2" and "gemma4"), as llama.cpp's
// llm_tokenizer_bpe_session does it: the pre-tokenizer splits the text into pieces; every piece is
// turned into symbols (byte-level BPE: each byte becomes the token of its GPT-2 byte character;
// Gemma 4: each UTF-8 character), and adjacent symbols are merged lowest merge rank first (ties:
// leftmost first) until no adjacent pair has a merge.

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
    /// GPT-2 byte-to-character mapping (false for SentencePiece-style BPE such as Gemma 4, which works
    /// on UTF-8 characters, has U+2581 for spaces and <0xXX> byte tokens; `byteTokens` are those).
    var byteEncode = true
    /// Gemma 4: a piece made only of newlines is looked up whole first.
    var newlineRunsWhole = false

    /// Parses `tokenizer.ggml.merges` ("left right" per entry, rank = index). The vocabulary lookups
    /// (three per merge, each a few cache misses: ~7 ms of a 50k-merge model's load) are split between
    /// two threads; the table is then filled in rank order on the calling thread.
    static func parseMerges<L: ByteStringList>(_ list: L, vocab: TokenTextTable) throws -> MergeTable {
        let n = list.count
        // (left, right, merged) per rank, -1 for a part not in the vocabulary; nil: no space to split at.
        let found = UnsafeMutablePointer<(Int32, Int32, Int32)?>.allocate(capacity: max(n, 1))
        defer { found.deallocate() }
        func resolve(_ ranks: Range<Int>) {
            for rank in ranks {
                let entry = list.withBytes(rank) { b -> (Int32, Int32, Int32)? in
                    // llama.cpp splits at the first space after the first byte.
                    var sp = -1
                    var i = 1
                    while i < b.count { if b[i] == 0x20 { sp = i; break }; i += 1 }
                    if sp < 0 || sp + 1 >= b.count { return nil }
                    let l = UnsafeBufferPointer(rebasing: b[0..<sp]), r = UnsafeBufferPointer(rebasing: b[(sp + 1)...])
                    let left = vocab.find(l), right = vocab.find(r)
                    if left < 0 || right < 0 { return (left, right, 0) }
                    return (left, right, vocab.find(l, followedBy: r))
                }
                (found + rank).initialize(to: entry)
            }
        }
        if n >= parallelMergesMin, let pool = try? ThreadPool(threads: 2) {
            pool.run { ith, nth in resolve(ThreadPool.chunk(n, ith, nth)) }
        } else {
            resolve(0..<n)
        }
        var table = MergeTable(capacity: n)
        for rank in 0..<n {
            guard let (left, right, result) = found[rank] else {
                let m = list.withBytes(rank) { String(decoding: $0, as: UTF8.self) }
                throw MIIError.format("tokenizer: merge \(rank) \(m.debugDescription) is not two tokens separated by a space")
            }
            if left < 0 || right < 0 || result < 0 {
                let m = list.withBytes(rank) { String(decoding: $0, as: UTF8.self) }
                let which = left < 0 ? "its left part" : right < 0 ? "its right part" : "the merged token"
                throw MIIError.format("tokenizer: merge \(rank) \(m.debugDescription) references an unknown token (\(which) is not in the vocabulary)")
            }
            table.insert(left, right, rank: Int32(rank), result: result)
        }
        return table
    }

    /// From this many merges on, `parseMerges` looks them up on two threads (starting them costs ~0.1 ms).
    static let parallelMergesMin = 8192

    /// Per-encode working memory, reused across pieces.
    struct Scratch {
        var scalars: [UInt32] = []
        var offsets: [Int] = []
        var flags: [UInt16] = []
        var pieces: [Range<Int>] = []
        var ids: [Int32] = []
        var prev: [Int32] = []
        var next: [Int32] = []
        var starts: [Int32] = []
        var heap = MinHeap<BPECandidate>()
        var mapped: [UInt8] = []
        var cache = PieceCache()
    }

    /// Results of pieces already tokenized during this encode call (text repeats words a lot).
    struct PieceCache {
        static let maxEntries = 1 << 15
        static let maxPieceBytes = 48
        private var slots: [Int32] = []  // grows on demand, so short texts pay nothing
        private var keyBytes: [UInt8] = []
        private var keyStart: [Int32] = [0]
        private var ids: [Int32] = []
        private var idStart: [Int32] = [0]

        private var count: Int { keyStart.count - 1 }

        /// Appends the cached ids of `piece` to `out`; false if not cached.
        func lookup(_ piece: UnsafeBufferPointer<UInt8>, into out: inout [Int32]) -> Bool {
            if piece.count > PieceCache.maxPieceBytes || count == 0 { return false }
            let mask = slots.count - 1
            var h = TokenTextTable.hash(piece) & mask
            while true {
                let e = slots[h]
                if e < 0 { return false }
                if keyEquals(Int(e), piece) {
                    out.append(contentsOf: ids[Int(idStart[Int(e)])..<Int(idStart[Int(e) + 1])])
                    return true
                }
                h = (h + 1) & mask
            }
        }

        private func keyEquals(_ e: Int, _ piece: UnsafeBufferPointer<UInt8>) -> Bool {
            let a = Int(keyStart[e]), b = Int(keyStart[e + 1])
            if b - a != piece.count { return false }
            var k = 0
            while k < piece.count {
                if keyBytes[a + k] != piece[k] { return false }
                k += 1
            }
            return true
        }

        private mutating func place(_ e: Int32, hash: Int) {
            let mask = slots.count - 1
            var h = hash & mask
            while slots[h] >= 0 { h = (h + 1) & mask }
            slots[h] = e
        }

        mutating func insert(_ piece: UnsafeBufferPointer<UInt8>, _ result: ArraySlice<Int32>) {
            if piece.count > PieceCache.maxPieceBytes || count >= PieceCache.maxEntries { return }
            if (count + 1) * 2 > slots.count {
                slots = [Int32](repeating: -1, count: max(256, slots.count * 2))
                keyBytes.withUnsafeBufferPointer { kb in
                    for e in 0..<count {
                        let k = UnsafeBufferPointer(rebasing: kb[Int(keyStart[e])..<Int(keyStart[e + 1])])
                        place(Int32(e), hash: TokenTextTable.hash(k))
                    }
                }
            }
            place(Int32(count), hash: TokenTextTable.hash(piece))
            keyBytes.append(contentsOf: piece)
            keyStart.append(Int32(keyBytes.count))
            ids.append(contentsOf: result)
            idStart.append(Int32(ids.count))
        }
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
            let pb = UnsafeBufferPointer(rebasing: bytes[lo..<hi])
            if pb.count < 2 {
                encodePiece(pb, vocab: vocab, into: &out, scratch: &s)
                continue
            }
            if s.cache.lookup(pb, into: &out) { continue }
            let mark = out.count
            encodePiece(pb, vocab: vocab, into: &out, scratch: &s)
            s.cache.insert(pb, out[mark...])
        }
    }

    private func encodePiece(_ b: UnsafeBufferPointer<UInt8>, vocab: TokenTextTable, into out: inout [Int32], scratch s: inout Scratch) {
        let n = b.count
        if byteEncode && n == 1 {
            let id = byteTokens[Int(b[0])]
            if id >= 0 { out.append(id) }
            return
        }
        if ignoreMerges {
            let id: Int32
            if byteEncode {
                s.mapped.removeAll(keepingCapacity: true)
                for x in b { s.mapped.append(contentsOf: ByteLevel.byteToUTF8[Int(x)]) }
                id = vocab.find(s.mapped)
            } else {
                id = vocab.find(b)
            }
            if id >= 0 { out.append(id); return }
        } else if newlineRunsWhole && !b.contains(where: { $0 != 0x0A }) {
            let id = vocab.find(b)
            if id >= 0 { out.append(id); return }
        }
        // Symbols: one per byte (byte-level) or per UTF-8 character (split by lead byte, as llama.cpp).
        s.ids.removeAll(keepingCapacity: true)
        s.prev.removeAll(keepingCapacity: true)
        s.next.removeAll(keepingCapacity: true)
        s.starts.removeAll(keepingCapacity: true)
        var off = 0
        while off < n {
            let len: Int
            if byteEncode {
                len = 1
                s.ids.append(byteTokens[Int(b[off])])
            } else {
                let lead = b[off]
                len = min(lead < 0xC0 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4, n - off)
                s.ids.append(vocab.find(UnsafeBufferPointer(rebasing: b[off..<(off + len)])))
            }
            let idx = Int32(s.starts.count)
            s.starts.append(Int32(off))
            s.prev.append(idx - 1)
            off += len
            s.next.append(off < n ? idx + 1 : -1)
        }
        s.starts.append(Int32(n))
        let count = s.ids.count
        s.heap.removeAll()
        @inline(__always) func consider(_ l: Int32, _ r: Int32, _ s: inout Scratch) {
            if l < 0 || r < 0 { return }
            let a = s.ids[Int(l)], c = s.ids[Int(r)]
            if a < 0 || c < 0 { return }
            if let m = merges.find(a, c) {
                s.heap.push(BPECandidate(rank: m.rank, left: l, right: r, leftId: a, rightId: c, result: m.result))
            }
        }
        if count > 1 {
            for i in 1..<count { consider(Int32(i - 1), Int32(i), &s) }
        }
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
            if id >= 0 {
                out.append(id)
            } else if !byteEncode {
                // A character missing from the vocabulary: its bytes as <0xXX> tokens.
                for k in Int(s.starts[Int(i)])..<Int(s.starts[Int(i) + 1]) {
                    let t = byteTokens[Int(b[k])]
                    if t >= 0 { out.append(t) }
                }
            }
            // Byte-level: -1 is a byte whose character is not in the vocabulary. llama.cpp then looks
            // up the character's UTF-8 bytes one by one, which never finds a token: the byte is dropped.
            i = s.next[Int(i)]
        }
    }
}
