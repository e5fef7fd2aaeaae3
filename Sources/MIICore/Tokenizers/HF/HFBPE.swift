// The BPE model of Hugging Face tokenizer.json files: a pre-tokenized word is split into characters
// (with continuing_subword_prefix / end_of_word_suffix), each looked up in the vocabulary (missing
// ones become <0xXX> byte tokens with byte_fallback, else the unknown token, fused with fuse_unk),
// then adjacent symbols are merged lowest rank first, leftmost on ties (models/bpe/word.rs).

struct HFBPEModel {
    let merges: MergeTable
    let unkId: Int32?
    let fuseUnk: Bool
    let byteFallback: Bool
    let ignoreMerges: Bool
    let prefix: [UInt8]
    let suffix: [UInt8]
    /// <0xXX> token of each byte (model vocabulary), -1 if absent.
    let byteTokens: [Int32]

    struct Scratch {
        var ids: [Int32] = []
        var prev: [Int32] = []
        var next: [Int32] = []
        var heap = MinHeap<BPECandidate>()
        var key: [UInt8] = []
        var cache = BPEModel.PieceCache()
    }

    func tokenize(_ w: [UInt8], lookup: (UnsafeBufferPointer<UInt8>) -> Int32, into out: inout [Int32], scratch s: inout Scratch) {
        if w.isEmpty { return }
        if ignoreMerges {
            let id = w.withUnsafeBufferPointer { lookup($0) }
            if id >= 0 { out.append(id); return }
        }
        if w.withUnsafeBufferPointer({ s.cache.lookup($0, into: &out) }) { return }
        let mark = out.count
        merge(w, lookup: lookup, into: &out, scratch: &s)
        w.withUnsafeBufferPointer { s.cache.insert($0, out[mark...]) }
    }

    private func merge(_ w: [UInt8], lookup: (UnsafeBufferPointer<UInt8>) -> Int32, into out: inout [Int32], scratch s: inout Scratch) {
        s.ids.removeAll(keepingCapacity: true)
        var unk: Int32? = nil  // a pending unknown symbol (fused while fuse_unk)
        var i = 0
        let n = w.count
        while i < n {
            let lead = w[i]
            let len = min(lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4, n - i)
            let isFirst = i == 0, isLast = i + len == n
            s.key.removeAll(keepingCapacity: true)
            if !isFirst { s.key.append(contentsOf: prefix) }
            s.key.append(contentsOf: w[i..<(i + len)])
            if isLast { s.key.append(contentsOf: suffix) }
            let id = s.key.withUnsafeBufferPointer { lookup($0) }
            if id >= 0 {
                if let u = unk { s.ids.append(u); unk = nil }
                s.ids.append(id)
            } else {
                var handled = false
                if byteFallback {
                    var all = true
                    for b in s.key where byteTokens[Int(b)] < 0 { all = false; break }
                    if all {
                        // tokenizers adds the byte tokens without flushing a pending unknown first.
                        for b in s.key { s.ids.append(byteTokens[Int(b)]) }
                        handled = true
                    }
                }
                if !handled, let u = unkId {
                    if unk != nil && !fuseUnk { s.ids.append(u) }
                    unk = u
                }
            }
            i += len
        }
        if let u = unk { s.ids.append(u) }
        let count = s.ids.count
        s.prev.removeAll(keepingCapacity: true)
        s.next.removeAll(keepingCapacity: true)
        for k in 0..<count {
            s.prev.append(Int32(k - 1))
            s.next.append(k + 1 < count ? Int32(k + 1) : -1)
        }
        s.heap.removeAll()
        if count > 1 {
            for k in 1..<count {
                if let m = merges.find(s.ids[k - 1], s.ids[k]) {
                    s.heap.push(BPECandidate(rank: m.rank, left: Int32(k - 1), right: Int32(k), leftId: s.ids[k - 1], rightId: s.ids[k], result: m.result))
                }
            }
        }
        while let c = s.heap.pop() {
            let l = Int(c.left), r = Int(c.right)
            if s.ids[l] != c.leftId || s.ids[r] != c.rightId || s.next[l] != c.right { continue }
            s.ids[l] = c.result
            s.ids[r] = -2
            let nr = s.next[r]
            s.next[l] = nr
            if nr >= 0 { s.prev[Int(nr)] = c.left }
            let p = s.prev[l]
            if p >= 0, let m = merges.find(s.ids[Int(p)], c.result) {
                s.heap.push(BPECandidate(rank: m.rank, left: p, right: c.left, leftId: s.ids[Int(p)], rightId: c.result, result: m.result))
            }
            if nr >= 0, let m = merges.find(c.result, s.ids[Int(nr)]) {
                s.heap.push(BPECandidate(rank: m.rank, left: c.left, right: nr, leftId: c.result, rightId: s.ids[Int(nr)], result: m.result))
            }
        }
        var k: Int32 = count > 0 ? 0 : -1
        while k >= 0 {
            out.append(s.ids[Int(k)])
            k = s.next[Int(k)]
        }
    }
}
