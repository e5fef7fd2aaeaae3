// Splitting special-token texts out of the input before the model tokenizer runs (llama.cpp's
// tokenizer_st_partition).
//
// llama.cpp takes the special tokens (control, user-defined and unknown types) longest text first and,
// for each one, cuts every occurrence out of the text fragments that are still raw. An occurrence is
// therefore taken if it lies entirely in text not yet claimed by a longer (or earlier, for equal lengths)
// special token or by an earlier occurrence of the same token. That is what `partition` computes, with
// one pass over the text to find all occurrences (a byte trie) instead of one pass per special token.
// Tokens with the lstrip/rstrip attribute also swallow the whitespace next to them.

/// A piece of input after special-token splitting: raw text (a byte range) or a special token.
enum TextFragment: Equatable {
    case text(Range<Int>)
    case token(Int32)
}

struct SpecialTokenSplitter {
    private struct Hit {
        var priority: Int32
        var start: Int32
        var end: Int32
    }

    /// Special token ids by priority: longest text first, then lowest id.
    private let ordered: [Int32]
    /// Whether each priority slot is matched when parse_special is off (user-defined tokens only).
    private let alwaysSplit: [Bool]
    private let lstrip: [Bool]
    private let rstrip: [Bool]
    /// Trie over the token texts: children keyed by (node << 8 | byte), terminal node -> priority.
    private let children: [UInt64: Int32]
    private let terminal: [Int32]
    private let firstByte: [Bool]

    var isEmpty: Bool { ordered.isEmpty }

    init(vocab: TokenTextTable, attrs: [UInt16]) {
        var ids: [Int32] = []
        for id in 0..<attrs.count where attrs[id] & (TokenAttr.control | TokenAttr.userDefined | TokenAttr.unknown) != 0 {
            ids.append(Int32(id))
        }
        ids.sort { a, b in
            let la = vocab.length(Int(a)), lb = vocab.length(Int(b))
            return la != lb ? la > lb : a < b
        }
        ordered = ids
        alwaysSplit = ids.map { attrs[Int($0)] & (TokenAttr.control | TokenAttr.unknown) == 0 }
        lstrip = ids.map { attrs[Int($0)] & TokenAttr.lstrip != 0 }
        rstrip = ids.map { attrs[Int($0)] & TokenAttr.rstrip != 0 }
        var children: [UInt64: Int32] = [:]
        var terminal: [Int32] = [-1]
        var first = [Bool](repeating: false, count: 256)
        for (prio, id) in ids.enumerated() {
            let text = vocab.text(Int(id))
            guard let b0 = text.first else { continue }
            first[Int(b0)] = true
            var node: Int32 = 0
            for b in text {
                let key = UInt64(UInt32(node)) << 8 | UInt64(b)
                if let c = children[key] {
                    node = c
                } else {
                    terminal.append(-1)
                    let c = Int32(terminal.count - 1)
                    children[key] = c
                    node = c
                }
            }
            terminal[Int(node)] = Int32(prio)
        }
        self.children = children
        self.terminal = terminal
        self.firstByte = first
    }

    /// Splits `bytes` into raw text and special tokens. With `parseSpecial` false only user-defined
    /// tokens are split out (as in llama.cpp and Hugging Face tokenizers).
    func partition(_ bytes: UnsafeBufferPointer<UInt8>, parseSpecial: Bool) -> [TextFragment] {
        let n = bytes.count
        if n == 0 { return [] }
        if ordered.isEmpty { return [.text(0..<n)] }
        var hits: [Hit] = []
        for start in 0..<n where firstByte[Int(bytes[start])] {
            var node: Int32 = 0
            var j = start
            while j < n, let c = children[UInt64(UInt32(node)) << 8 | UInt64(bytes[j])] {
                node = c
                j += 1
                let prio = terminal[Int(node)]
                if prio >= 0 && (parseSpecial || alwaysSplit[Int(prio)]) {
                    hits.append(Hit(priority: prio, start: Int32(start), end: Int32(j)))
                }
            }
        }
        if hits.isEmpty { return [.text(0..<n)] }
        hits.sort { $0.priority != $1.priority ? $0.priority < $1.priority : $0.start < $1.start }

        // 0 = raw text, 1 = removed whitespace, 2 = inside a token; tokenAt[start] = (priority, end).
        var state = [UInt8](repeating: 0, count: n)
        var tokenAt: [Int: (Int32, Int)] = [:]
        @inline(__always) func isSpace(_ b: UInt8) -> Bool { b == 0x20 || (b >= 0x09 && b <= 0x0D) }
        for h in hits {
            let s = Int(h.start), e = Int(h.end)
            var free = true
            for k in s..<e where state[k] != 0 { free = false; break }
            if !free { continue }
            for k in s..<e { state[k] = 2 }
            tokenAt[s] = (h.priority, e)
            if lstrip[Int(h.priority)] {
                var k = s - 1
                while k >= 0 && state[k] == 0 && isSpace(bytes[k]) { state[k] = 1; k -= 1 }
            }
            if rstrip[Int(h.priority)] {
                var k = e
                while k < n && state[k] == 0 && isSpace(bytes[k]) { state[k] = 1; k += 1 }
            }
        }
        var out: [TextFragment] = []
        var i = 0
        while i < n {
            switch state[i] {
            case 0:
                var j = i + 1
                while j < n && state[j] == 0 { j += 1 }
                out.append(.text(i..<j))
                i = j
            case 1:
                i += 1
            default:
                guard let (prio, end) = tokenAt[i] else { i += 1; continue }
                out.append(.token(ordered[Int(prio)]))
                i = end
            }
        }
        return out
    }
}
