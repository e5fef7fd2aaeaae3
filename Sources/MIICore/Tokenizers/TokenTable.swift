// Byte-exact lookup tables for the tokenizers (no String hashing: Swift String equality is canonical
// equivalence, and building Strings per lookup would dominate the encode time).

/// The vocabulary's token texts, stored contiguously, with an open-addressing hash from text bytes to id.
struct TokenTextTable {
    private(set) var bytes: [UInt8] = []
    private(set) var starts: [Int] = [0]
    private var slots: [Int32] = []
    private var mask: Int = 0

    var count: Int { starts.count - 1 }

    /// Builds the table; throws on duplicate texts (llama.cpp aborts on them too).
    init<L: ByteStringList>(texts: L) throws {
        starts.reserveCapacity(texts.count + 1)
        for i in 0..<texts.count {
            texts.withBytes(i) { bytes.append(contentsOf: $0) }
            starts.append(bytes.count)
        }
        var cap = 16
        while cap < texts.count * 2 { cap <<= 1 }
        slots = [Int32](repeating: -1, count: cap)
        mask = cap - 1
        for id in 0..<texts.count {
            let dup: Int32 = bytes.withUnsafeBufferPointer { all in
                let s = UnsafeBufferPointer(rebasing: all[starts[id]..<starts[id + 1]])
                var h = TokenTextTable.hash(s) & mask
                while true {
                    let other = slots[h]
                    if other < 0 { slots[h] = Int32(id); return -1 }
                    if equal(Int(other), s, UnsafeBufferPointer(start: nil, count: 0), all) { return other }
                    h = (h + 1) & mask
                }
            }
            if dup >= 0 {
                let text = texts.withBytes(id) { String(decoding: $0, as: UTF8.self) }
                throw MIIError.format("tokenizer: tokens \(dup) and \(id) have the same text \(text.debugDescription)")
            }
        }
    }

    /// FNV-1a over the bytes (it streams: hashing a then b equals hashing their concatenation),
    /// with the high bits folded into the low ones that index the table.
    static let hashSeed: UInt64 = 0xcbf2_9ce4_8422_2325

    @inline(__always)
    static func hashMix(_ h: UInt64, _ s: UnsafeBufferPointer<UInt8>) -> UInt64 {
        var h = h
        for b in s {
            h ^= UInt64(b)
            h = h &* 0x0000_0100_0000_01B3
        }
        return h
    }

    @inline(__always)
    static func hashFinish(_ h: UInt64) -> Int { Int(truncatingIfNeeded: h ^ (h >> 29)) }

    @inline(__always)
    static func hash(_ s: UnsafeBufferPointer<UInt8>) -> Int { hashFinish(hashMix(hashSeed, s)) }

    /// Whether token `id`'s text is `a` followed by `b`.
    @inline(__always)
    private func equal(_ id: Int, _ a: UnsafeBufferPointer<UInt8>, _ b: UnsafeBufferPointer<UInt8>,
                       _ all: UnsafeBufferPointer<UInt8>) -> Bool {
        let start = starts[id]
        if starts[id + 1] - start != a.count + b.count { return false }
        var i = 0
        while i < a.count {
            if all[start + i] != a[i] { return false }
            i += 1
        }
        let mid = start + a.count
        i = 0
        while i < b.count {
            if all[mid + i] != b[i] { return false }
            i += 1
        }
        return true
    }

    /// Id of the token whose text is `a` followed by `b`, or -1 (without joining them first).
    @inline(__always)
    func find(_ a: UnsafeBufferPointer<UInt8>, followedBy b: UnsafeBufferPointer<UInt8>) -> Int32 {
        if slots.isEmpty { return -1 }
        let h = TokenTextTable.hashFinish(TokenTextTable.hashMix(TokenTextTable.hashMix(TokenTextTable.hashSeed, a), b))
        return bytes.withUnsafeBufferPointer { all in
            var slot = h & mask
            while true {
                let id = slots[slot]
                if id < 0 { return -1 }
                if equal(Int(id), a, b, all) { return id }
                slot = (slot + 1) & mask
            }
        }
    }

    /// Id of the token whose text is exactly `s`, or -1.
    @inline(__always)
    func find(_ s: UnsafeBufferPointer<UInt8>) -> Int32 {
        find(s, followedBy: UnsafeBufferPointer(start: nil, count: 0))
    }

    func find(_ s: [UInt8]) -> Int32 {
        s.withUnsafeBufferPointer { find($0) }
    }

    func find(_ s: String) -> Int32 {
        var s = s
        return s.withUTF8 { find($0) }
    }

    /// The bytes of token `id` (which must be in range).
    func text(_ id: Int) -> ArraySlice<UInt8> { bytes[starts[id]..<starts[id + 1]] }

    func length(_ id: Int) -> Int { starts[id + 1] - starts[id] }
}

/// Open-addressing map from a pair of token ids to a BPE merge (rank and resulting token).
struct MergeTable {
    private var keys: [UInt64]
    private var values: [UInt64]
    private let mask: Int
    private(set) var count = 0

    init(capacity: Int) {
        var cap = 16
        while cap < capacity * 2 { cap <<= 1 }
        keys = [UInt64](repeating: .max, count: cap)
        values = [UInt64](repeating: 0, count: cap)
        mask = cap - 1
    }

    @inline(__always)
    private static func key(_ a: Int32, _ b: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: a)) << 32 | UInt64(UInt32(bitPattern: b))
    }

    @inline(__always)
    private static func slot(_ k: UInt64) -> Int {
        var h = k &* 0x9E37_79B9_7F4A_7C15
        h ^= h >> 31
        return Int(truncatingIfNeeded: h)
    }

    /// Inserts unless the pair is already present (the first, lowest-rank merge wins, like llama.cpp).
    mutating func insert(_ a: Int32, _ b: Int32, rank: Int32, result: Int32) {
        let k = MergeTable.key(a, b)
        var h = MergeTable.slot(k) & mask
        while true {
            if keys[h] == .max {
                keys[h] = k
                values[h] = UInt64(UInt32(bitPattern: rank)) << 32 | UInt64(UInt32(bitPattern: result))
                count += 1
                return
            }
            if keys[h] == k { return }
            h = (h + 1) & mask
        }
    }

    /// Inserts or replaces (a later duplicate wins, as in Hugging Face tokenizers' merge map).
    mutating func insertReplacing(_ a: Int32, _ b: Int32, rank: Int32, result: Int32) {
        let k = MergeTable.key(a, b)
        var h = MergeTable.slot(k) & mask
        while true {
            if keys[h] == .max { count += 1; keys[h] = k }
            if keys[h] == k {
                values[h] = UInt64(UInt32(bitPattern: rank)) << 32 | UInt64(UInt32(bitPattern: result))
                return
            }
            h = (h + 1) & mask
        }
    }

    /// (rank, merged token) for the pair, or nil.
    @inline(__always)
    func find(_ a: Int32, _ b: Int32) -> (rank: Int32, result: Int32)? {
        let k = MergeTable.key(a, b)
        var h = MergeTable.slot(k) & mask
        while true {
            let kk = keys[h]
            if kk == k {
                let v = values[h]
                return (Int32(truncatingIfNeeded: v >> 32), Int32(truncatingIfNeeded: v & 0xFFFF_FFFF))
            }
            if kk == .max { return nil }
            h = (h + 1) & mask
        }
    }
}

/// Ordering for `MinHeap`: `before(a, b)` is true when `a` must come out first.
protocol HeapOrdered {
    static func before(_ a: Self, _ b: Self) -> Bool
}

/// A binary min-heap kept as a plain array.
struct MinHeap<Element: HeapOrdered> {
    private(set) var items: [Element] = []

    var isEmpty: Bool { items.isEmpty }

    mutating func removeAll() { items.removeAll(keepingCapacity: true) }

    mutating func push(_ e: Element) {
        items.append(e)
        items.withUnsafeMutableBufferPointer { h in
            var i = h.count - 1
            let x = h[i]
            while i > 0 {
                let p = (i - 1) >> 1
                if !Element.before(x, h[p]) { break }
                h[i] = h[p]
                i = p
            }
            h[i] = x
        }
    }

    mutating func pop() -> Element? {
        guard let last = items.popLast() else { return nil }
        if items.isEmpty { return last }
        return items.withUnsafeMutableBufferPointer { h in
            let top = h[0]
            let n = h.count
            var i = 0
            while true {
                let l = 2 * i + 1
                if l >= n { break }
                var m = l
                if l + 1 < n && Element.before(h[l + 1], h[l]) { m = l + 1 }
                if !Element.before(h[m], last) { break }
                h[i] = h[m]
                i = m
            }
            h[i] = last
            return top
        }
    }
}

/// A byte trie over token texts: (node, byte) -> child in a `MergeTable`, `terminal[node]` = token id
/// or -1. Walks cost one hash probe per byte; their length is bounded by the longest token.
struct ByteTrie {
    private var children: MergeTable
    private var terminal: [Int32] = [-1]

    /// `include(id)` selects the tokens to insert; with duplicate texts the later id wins.
    init(tokens: [[UInt8]], include: (Int) -> Bool = { _ in true }) {
        var total = 0
        for t in tokens { total += t.count }
        children = MergeTable(capacity: total + 1)
        terminal.reserveCapacity(total + 1)
        for (id, t) in tokens.enumerated() where !t.isEmpty && include(id) {
            var node: Int32 = 0
            for b in t {
                if let c = children.find(node, Int32(b)) {
                    node = c.result
                } else {
                    terminal.append(-1)
                    let c = Int32(terminal.count - 1)
                    children.insert(node, Int32(b), rank: 0, result: c)
                    node = c
                }
            }
            terminal[Int(node)] = Int32(id)
        }
    }

    static let root: Int32 = 0

    /// The child of `node` for byte `b`, or nil.
    @inline(__always)
    func child(_ node: Int32, _ b: UInt8) -> Int32? { children.find(node, Int32(b))?.result }

    /// The token ending at `node`, or -1.
    @inline(__always)
    func token(_ node: Int32) -> Int32 { terminal[Int(node)] }

    /// The node reached from the root by `bytes`, or nil.
    func walk(_ bytes: [UInt8]) -> Int32? {
        var node = ByteTrie.root
        for b in bytes {
            guard let c = child(node, b) else { return nil }
            node = c
        }
        return node
    }
}
