// The normalizers of Hugging Face tokenizer.json files ("normalizer" key), applied to an array of
// Unicode scalar values. Only the text matters here (no offset alignment is kept).

/// Character predicates shared by the Hugging Face stages, following the Rust definitions the
/// `tokenizers` crate uses (char::is_whitespace, char::is_alphanumeric, unicode categories).
enum HFChar {
    /// Rust char::is_whitespace: the White_Space property.
    @inline(__always)
    static func isWhitespace(_ c: UInt32) -> Bool { CharFlags.isWhitespace(c) }

    static func category(_ c: UInt32) -> Unicode.GeneralCategory? {
        Unicode.Scalar(c)?.properties.generalCategory
    }

    /// Rust char::is_numeric: general categories Nd, Nl, No.
    static func isNumeric(_ c: UInt32) -> Bool {
        if c < 0x80 { return c >= 0x30 && c <= 0x39 }
        return CharFlags.of(c) & CharFlags.number != 0
    }

    /// Regex \d (Unicode): general category Nd.
    static func isDecimalDigit(_ c: UInt32) -> Bool {
        if c < 0x80 { return c >= 0x30 && c <= 0x39 }
        return Unicode.Scalar(c)?.properties.generalCategory == .decimalNumber
    }

    /// Rust char::is_alphabetic (the Alphabetic property).
    static func isAlphabetic(_ c: UInt32) -> Bool {
        if c < 0x80 { return (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) }
        return Unicode.Scalar(c)?.properties.isAlphabetic ?? false
    }

    /// Regex \w (Unicode): Alphabetic, marks, decimal digits, connector punctuation, join controls, as
    /// the tokenizers library's regex tables have it.
    static func isWord(_ c: UInt32) -> Bool {
        if c < 0x80 {
            return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x5F
        }
        return HFCategoryTables.word.contains(c)
    }

    /// Marks (Mn, Mc, Me): what StripAccents removes.
    @inline(__always)
    static func isMark(_ c: UInt32) -> Bool { c >= 0x300 && HFCategoryTables.marks.contains(c) }

    /// BERT's punctuation: ASCII punctuation and symbols, and the Unicode P categories.
    static func isBertPunctuation(_ c: UInt32) -> Bool {
        if c < 0x80 {
            return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60) || (c >= 0x7B && c <= 0x7E)
        }
        return HFCategoryTables.punctuation.contains(c)
    }

    /// What BertNormalizer's clean_text removes besides NUL and U+FFFD (control and format characters).
    static func isBertControl(_ c: UInt32) -> Bool {
        if c < 0x80 { return (c < 0x20 && c != 0x09 && c != 0x0A && c != 0x0D) || c == 0x7F }
        return HFCategoryTables.bertControl.contains(c)
    }

    static func isChinese(_ c: UInt32) -> Bool {
        switch c {
        case 0x4E00...0x9FFF, 0x3400...0x4DBF, 0x20000...0x2A6DF, 0x2A700...0x2B73F, 0x2B740...0x2B81F,
             0x2B920...0x2CEAF, 0xF900...0xFAFF, 0x2F800...0x2FA1F:
            return true
        default:
            return false
        }
    }

    /// The full lowercase mapping of each character on its own (tokenizers maps character by
    /// character with char::to_lowercase: no final-sigma rule).
    static func lowercase(_ s: [UInt32]) -> [UInt32] {
        var out: [UInt32] = []
        out.reserveCapacity(s.count)
        for c in s {
            if c < 0x80 {
                out.append(c >= 0x41 && c <= 0x5A ? c + 0x20 : c)
                continue
            }
            guard let sc = Unicode.Scalar(c) else { out.append(c); continue }
            for u in sc.properties.lowercaseMapping.unicodeScalars { out.append(u.value) }
        }
        return out
    }

    static func utf8(_ s: [UInt32]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(s.count)
        for c in s { appendUTF8(c, to: &out) }
        return out
    }

    @inline(__always)
    static func appendUTF8(_ c: UInt32, to out: inout [UInt8]) {
        if c < 0x80 {
            out.append(UInt8(c))
        } else if c < 0x800 {
            out.append(UInt8(0xC0 | (c >> 6))); out.append(UInt8(0x80 | (c & 0x3F)))
        } else if c < 0x10000 {
            out.append(UInt8(0xE0 | (c >> 12))); out.append(UInt8(0x80 | ((c >> 6) & 0x3F))); out.append(UInt8(0x80 | (c & 0x3F)))
        } else {
            out.append(UInt8(0xF0 | (c >> 18))); out.append(UInt8(0x80 | ((c >> 12) & 0x3F)))
            out.append(UInt8(0x80 | ((c >> 6) & 0x3F))); out.append(UInt8(0x80 | (c & 0x3F)))
        }
    }

    static func scalars(_ bytes: [UInt8]) -> [UInt32] {
        var sc: [UInt32] = [], off: [Int] = []
        bytes.withUnsafeBufferPointer { UTF8Util.decode($0, scalars: &sc, offsets: &off) }
        return sc
    }

    static func scalars(_ s: String) -> [UInt32] { s.unicodeScalars.map { $0.value } }
}

/// A pattern for Replace and Split: a literal string, or a regex of the small supported subset.
struct HFTextPattern {
    /// A sequence of atoms: a set of characters with a repeat count.
    struct Atom {
        var chars: [UInt32]      // empty with `whitespace`/`digit` or a negation handled by `test`
        var whitespace = false
        var digit = false
        var min = 1
        var max = 1
        func test(_ c: UInt32) -> Bool {
            (whitespace && HFChar.isWhitespace(c)) || (digit && HFChar.isDecimalDigit(c)) || chars.contains(c)
        }
    }
    var atoms: [Atom]

    init(literal: [UInt32]) {
        atoms = literal.map { Atom(chars: [$0]) }
    }

    /// Parses a regex of the form: literal characters (escaped or not), `\s`, `\d` and `[...]` sets of
    /// literals, each optionally followed by `+`, `*`, `?`, `{n}`, `{n,}` or `{n,m}`. nil if the
    /// regex uses anything else.
    init?(regex: String) {
        let s = HFChar.scalars(regex)
        var atoms: [Atom] = []
        var i = 0
        func escaped(_ c: UInt32) -> Atom? {
            switch c {
            case 0x73: return Atom(chars: [], whitespace: true)   // \s
            case 0x64: return Atom(chars: [], digit: true)        // \d
            case 0x6E: return Atom(chars: [0x0A])                  // \n
            case 0x72: return Atom(chars: [0x0D])                  // \r
            case 0x74: return Atom(chars: [0x09])                  // \t
            default:
                let isAlnum = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
                return isAlnum ? nil : Atom(chars: [c])
            }
        }
        while i < s.count {
            let c = s[i]
            var atom: Atom
            switch c {
            case 0x5C:  // backslash
                guard i + 1 < s.count, let a = escaped(s[i + 1]) else { return nil }
                atom = a
                i += 2
            case 0x5B:  // [set]
                var set = Atom(chars: [])
                i += 1
                if i < s.count && s[i] == 0x5E { return nil }  // negated sets are not supported
                var closed = false
                while i < s.count {
                    if s[i] == 0x5D { closed = true; i += 1; break }
                    if s[i] == 0x5C {
                        guard i + 1 < s.count, let a = escaped(s[i + 1]) else { return nil }
                        set.chars += a.chars; set.whitespace = set.whitespace || a.whitespace; set.digit = set.digit || a.digit
                        i += 2
                    } else {
                        if s[i] == 0x2D && i + 1 < s.count && s[i + 1] != 0x5D && !set.chars.isEmpty { return nil }  // ranges
                        set.chars.append(s[i]); i += 1
                    }
                }
                if !closed || (set.chars.isEmpty && !set.whitespace && !set.digit) { return nil }
                atom = set
            case 0x28, 0x29, 0x7C, 0x2E, 0x5E, 0x24, 0x2B, 0x2A, 0x3F, 0x7B, 0x7D:
                return nil  // groups, alternation, wildcards, anchors, dangling quantifiers
            default:
                atom = Atom(chars: [c])
                i += 1
            }
            // Quantifier.
            if i < s.count {
                switch s[i] {
                case 0x2B: atom.min = 1; atom.max = Int.max; i += 1
                case 0x2A: atom.min = 0; atom.max = Int.max; i += 1
                case 0x3F: atom.min = 0; atom.max = 1; i += 1
                case 0x7B:
                    var j = i + 1
                    var a = 0, b = -1, sawComma = false, digits = 0
                    while j < s.count && s[j] != 0x7D {
                        let d = s[j]
                        if d == 0x2C { if sawComma { return nil }; sawComma = true; b = 0; digits = 0 }
                        else if d >= 0x30 && d <= 0x39 {
                            digits += 1
                            if digits > 6 { return nil }
                            if sawComma { b = b * 10 + Int(d - 0x30) } else { a = a * 10 + Int(d - 0x30) }
                        } else { return nil }
                        j += 1
                    }
                    if j >= s.count { return nil }
                    atom.min = a
                    atom.max = !sawComma ? a : (digits == 0 ? Int.max : b)
                    if atom.max < atom.min { return nil }
                    i = j + 1
                default: break
                }
                if i < s.count, s[i] == 0x3F || s[i] == 0x2B { return nil }  // lazy/possessive
            }
            atoms.append(atom)
        }
        if atoms.isEmpty || atoms.count > Limits.maxTokenizerPatternAtoms { return nil }
        self.atoms = atoms
    }

    /// End of a match at `pos` (greedy, with backtracking over the repeat counts), or -1. Empty
    /// matches are not reported. `budget` bounds the backtracking steps; when it runs out the match
    /// fails (a pathological pattern stops matching instead of hanging).
    func match(_ s: [UInt32], at pos: Int, budget: inout Int) -> Int {
        func go(_ k: Int, _ p: Int, _ budget: inout Int) -> Int {
            if k == atoms.count { return p }
            let a = atoms[k]
            var n = 0
            while n < a.max && p + n < s.count && a.test(s[p + n]) { n += 1 }
            budget -= n + 1
            if n < a.min || budget < 0 { return -1 }
            var m = n
            while m >= a.min {
                let r = go(k + 1, p + m, &budget)
                if r >= 0 { return r }
                if k + 1 == atoms.count || budget < 0 { break }
                m -= 1
            }
            return -1
        }
        let e = go(0, pos, &budget)
        return e > pos ? e : -1
    }

    /// Non-overlapping matches, leftmost first.
    func findAll(_ s: [UInt32]) -> [Range<Int>] {
        var out: [Range<Int>] = []
        var budget = Limits.maxPatternStepsPerChar * (s.count + 16)
        var i = 0
        while i < s.count && budget > 0 {
            // Positions where the first atom cannot start a match are skipped cheaply.
            if atoms[0].min > 0 && !atoms[0].test(s[i]) { i += 1; continue }
            let e = match(s, at: i, budget: &budget)
            if e > i { out.append(i..<e); i = e } else { i += 1 }
        }
        return out
    }
}

/// SentencePiece's precompiled normalization map (the `precompiled_charsmap` of T5 / XLM-R style
/// tokenizers): a darts-clone double-array trie from UTF-8 strings to offsets of NUL-terminated
/// replacement strings.
struct PrecompiledCharsmap {
    let units: [UInt32]
    let normalized: [UInt8]

    init(base64: String) throws {
        guard let raw = Base64.decode(base64) else {
            throw MIIError.format("tokenizer.json: Precompiled: precompiled_charsmap is not valid base64")
        }
        guard raw.count >= 4 else { throw MIIError.format("tokenizer.json: Precompiled: the charsmap is truncated") }
        let size = Int(raw[0]) | Int(raw[1]) << 8 | Int(raw[2]) << 16 | Int(raw[3]) << 24
        guard size % 4 == 0, size <= raw.count - 4 else {
            throw MIIError.format("tokenizer.json: Precompiled: the trie size \(size) does not fit the charsmap (\(raw.count) bytes)")
        }
        var u: [UInt32] = []
        u.reserveCapacity(size / 4)
        var i = 4
        while i < 4 + size {
            u.append(UInt32(raw[i]) | UInt32(raw[i + 1]) << 8 | UInt32(raw[i + 2]) << 16 | UInt32(raw[i + 3]) << 24)
            i += 4
        }
        units = u
        normalized = Array(raw[(4 + size)...])
    }

    /// Values of the keys that are prefixes of `key`, shortest first (as darts-clone returns them).
    private func firstPrefixValue(_ key: ArraySlice<UInt8>) -> Int? {
        if units.isEmpty { return nil }
        @inline(__always) func offset(_ u: UInt32) -> Int { Int((u >> 10) << ((u & (1 << 9)) >> 6)) }
        var pos = offset(units[0])
        for c in key {
            if c == 0 { return nil }
            pos ^= Int(c)
            guard pos >= 0 && pos < units.count else { return nil }
            let unit = units[pos]
            if unit & ((1 << 31) | 0xFF) != UInt32(c) { return nil }
            pos ^= offset(unit)
            guard pos >= 0 && pos < units.count else { return nil }
            if (unit >> 8) & 1 == 1 { return Int(units[pos] & 0x7FFF_FFFF) }
        }
        return nil
    }

    /// The replacement of `chunk` (the shortest key that is a prefix of it), if any.
    func transform(_ chunk: ArraySlice<UInt8>) -> ArraySlice<UInt8>? {
        guard let v = firstPrefixValue(chunk), v < normalized.count else { return nil }
        var e = v
        while e < normalized.count && normalized[e] != 0 { e += 1 }
        return normalized[v..<e]
    }

    func apply(_ s: [UInt32]) -> [UInt32] {
        if units.isEmpty { return s }
        var out: [UInt8] = []
        var buf: [UInt8] = []
        var i = 0
        while i < s.count {
            let end = Grapheme.end(s, from: i)
            buf.removeAll(keepingCapacity: true)
            for k in i..<end { HFChar.appendUTF8(s[k], to: &buf) }
            if buf.count < 6, let t = transform(buf[...]) {
                out.append(contentsOf: t)
            } else {
                for k in i..<end {
                    var one: [UInt8] = []
                    HFChar.appendUTF8(s[k], to: &one)
                    if let t = transform(one[...]) { out.append(contentsOf: t) } else { out.append(contentsOf: one) }
                }
            }
            i = end
        }
        return HFChar.scalars(out)
    }
}

/// An approximation of extended grapheme clusters (UAX #29) good enough for the precompiled
/// normalizer: CR LF, Hangul syllable sequences, regional-indicator pairs, and a base followed by
/// marks, ZWJ sequences, variation selectors and emoji modifiers.
enum Grapheme {
    private static func isExtend(_ c: UInt32) -> Bool {
        if c < 0x300 { return false }
        if c == 0x200D || (c >= 0xFE00 && c <= 0xFE0F) || (c >= 0x1F3FB && c <= 0x1F3FF) || (c >= 0xE0020 && c <= 0xE007F)
            || (c >= 0xE0100 && c <= 0xE01EF) { return true }
        return CharFlags.of(c) & CharFlags.mark != 0
    }

    static func end(_ s: [UInt32], from i: Int) -> Int {
        let c = s[i]
        var j = i + 1
        if c == 0x0D { return j < s.count && s[j] == 0x0A ? j + 1 : j }
        if c < 0x20 || c == 0x7F { return j }
        if c >= 0x1F1E6 && c <= 0x1F1FF && j < s.count && s[j] >= 0x1F1E6 && s[j] <= 0x1F1FF { j += 1 }
        // Hangul: L* (V|LV) V* T* / LVT T*
        func isL(_ x: UInt32) -> Bool { x >= 0x1100 && x <= 0x115F }
        func isV(_ x: UInt32) -> Bool { x >= 0x1160 && x <= 0x11A7 }
        func isT(_ x: UInt32) -> Bool { x >= 0x11A8 && x <= 0x11FF }
        func isS(_ x: UInt32) -> Bool { x >= 0xAC00 && x <= 0xD7A3 }
        if isL(c) || isV(c) || isT(c) || isS(c) {
            var prev = c
            while j < s.count {
                let x = s[j]
                let ok = (isL(prev) && (isL(x) || isV(x) || isS(x))) || ((isV(prev) || (isS(prev) && (prev - 0xAC00) % 28 == 0)) && (isV(x) || isT(x)))
                    || ((isT(prev) || isS(prev)) && isT(x))
                if !ok { break }
                prev = x
                j += 1
            }
        }
        while j < s.count {
            if isExtend(s[j]) {
                if s[j] == 0x200D && j + 1 < s.count && !isExtend(s[j + 1]) && CharFlags.of(s[j + 1]) & CharFlags.symbol != 0 {
                    j += 2  // emoji ZWJ sequence
                } else {
                    j += 1
                }
            } else {
                break
            }
        }
        return j
    }
}

enum Base64 {
    static func decode(_ s: String) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(s.utf8.count * 3 / 4)
        var acc: UInt32 = 0, bits = 0
        var padding = false
        for b in s.utf8 {
            let v: UInt32
            switch b {
            case 0x41...0x5A: v = UInt32(b - 0x41)
            case 0x61...0x7A: v = UInt32(b - 0x61 + 26)
            case 0x30...0x39: v = UInt32(b - 0x30 + 52)
            case 0x2B, 0x2D: v = 62
            case 0x2F, 0x5F: v = 63
            case 0x3D: padding = true; continue
            case 0x20, 0x0A, 0x0D, 0x09: continue
            default: return nil
            }
            if padding { return nil }
            acc = (acc << 6) | v
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8((acc >> UInt32(bits)) & 0xFF))
            }
        }
        return out
    }
}

indirect enum HFNormalizer {
    case sequence([HFNormalizer])
    case unicode(UnicodeNormalization.Form)
    case lowercase
    case strip(left: Bool, right: Bool)
    case stripAccents
    case replace(HFTextPattern, [UInt32])
    case prepend([UInt32])
    case bert(cleanText: Bool, chineseChars: Bool, stripAccents: Bool, lowercase: Bool)
    case precompiled(PrecompiledCharsmap)
    case byteLevel

    /// The normalizer on a short piece of text taken out of its context (for offset alignment):
    /// without the steps that act on the text's ends (prepend, strip) or turn it into byte-level
    /// characters.
    func perChar(_ s: [UInt32]) -> [UInt32] {
        switch self {
        case .sequence(let list):
            var x = s
            for n in list { x = n.perChar(x) }
            return x
        case .prepend, .strip, .byteLevel:
            return s
        default:
            return apply(s)
        }
    }

    func apply(_ s: [UInt32]) -> [UInt32] {
        switch self {
        case .sequence(let list):
            var x = s
            for n in list { x = n.apply(x) }
            return x
        case .unicode(let form):
            return UnicodeNormalization.normalize(s, form)
        case .lowercase:
            return HFChar.lowercase(s)
        case .strip(let left, let right):
            var lo = 0, hi = s.count
            if left { while lo < hi && HFChar.isWhitespace(s[lo]) { lo += 1 } }
            if right { while hi > lo && HFChar.isWhitespace(s[hi - 1]) { hi -= 1 } }
            return Array(s[lo..<hi])
        case .stripAccents:
            return s.filter { !HFChar.isMark($0) }
        case .replace(let pattern, let content):
            let matches = pattern.findAll(s)
            if matches.isEmpty { return s }
            var out: [UInt32] = []
            var last = 0
            for m in matches {
                out.append(contentsOf: s[last..<m.lowerBound])
                out.append(contentsOf: content)
                last = m.upperBound
            }
            out.append(contentsOf: s[last...])
            return out
        case .prepend(let p):
            return s.isEmpty ? s : p + s
        case .bert(let cleanText, let chinese, let stripAccents, let lowercase):
            var x: [UInt32] = []
            x.reserveCapacity(s.count)
            for c in s {
                if cleanText {
                    if c == 0 || c == 0xFFFD { continue }
                    if HFChar.isBertControl(c) { continue }
                    if c == 0x09 || c == 0x0A || c == 0x0D || HFChar.isWhitespace(c) { x.append(0x20); continue }
                }
                if chinese && HFChar.isChinese(c) {
                    x.append(0x20); x.append(c); x.append(0x20)
                    continue
                }
                x.append(c)
            }
            if stripAccents {
                x = UnicodeNormalization.normalize(x, .nfd).filter { !($0 >= 0x300 && HFCategoryTables.bertMarks.contains($0)) }
            }
            if lowercase { x = HFChar.lowercase(x) }
            return x
        case .precompiled(let map):
            return map.apply(s)
        case .byteLevel:
            var out: [UInt32] = []
            var b: [UInt8] = []
            for c in s {
                b.removeAll(keepingCapacity: true)
                HFChar.appendUTF8(c, to: &b)
                for x in b { out.append(ByteLevel.byteToScalar[Int(x)]) }
            }
            return out
        }
    }
}
