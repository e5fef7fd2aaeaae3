// Pre-tokenizers for byte-level BPE: the regex splits of llama.cpp's pre-tokenizer families,
// implemented without a regex library.
//
// A pre-tokenizer is a list of passes. Each pass is one regex, written here as a `Pattern`: an ordered
// list of alternatives, each a sequence of atoms (a character class with a repeat count, a literal,
// the English contractions, a one-character negative lookahead, end of text). A pass splits every
// piece produced by the previous pass: matches become pieces, and so do the runs of text between
// matches (this is llama.cpp's `unicode_regex_split`; lookaheads never see past the piece).
// Matching follows ECMAScript/PCRE semantics: leftmost match, first alternative that matches, greedy
// repeats with backtracking.
//
// Classes test the categories of `CharFlags` (\p{L}, \p{N}, \s, ...) and explicit code point ranges.
// Two details reproduce llama.cpp's std::regex fallback exactly: ranges see non-ASCII whitespace as
// U+000B (llama.cpp replaces it so that `\s` matches), and \p{Lu}, \p{Ll}, ... all mean \p{L}.

/// A set of code points.
struct CharClass {
    var flags: UInt16 = 0
    var ranges: [ClosedRange<UInt32>] = []
    var except: [ClosedRange<UInt32>] = []
    var negated = false

    init(flags: UInt16 = 0, ranges: [ClosedRange<UInt32>] = [], except: [ClosedRange<UInt32>] = [],
         negated: Bool = false) {
        self.flags = flags
        self.ranges = CharClass.normalize(ranges)
        self.except = CharClass.normalize(except)
        self.negated = negated
    }

    /// The class of the listed characters.
    init(_ chars: String, flags: UInt16 = 0) {
        self.init(flags: flags, ranges: chars.unicodeScalars.map { $0.value...$0.value })
    }

    var inverted: CharClass {
        var c = self
        c.negated.toggle()
        return c
    }

    /// Union of two non-negated classes without exceptions.
    static func | (a: CharClass, b: CharClass) -> CharClass {
        precondition(!a.negated && !b.negated && a.except.isEmpty && b.except.isEmpty)
        return CharClass(flags: a.flags | b.flags, ranges: a.ranges + b.ranges)
    }

    private static func normalize(_ r: [ClosedRange<UInt32>]) -> [ClosedRange<UInt32>] {
        let s = r.sorted { $0.lowerBound < $1.lowerBound }
        var out: [ClosedRange<UInt32>] = []
        for x in s {
            if let last = out.last, x.lowerBound <= last.upperBound &+ 1 {
                out[out.count - 1] = last.lowerBound...max(last.upperBound, x.upperBound)
            } else {
                out.append(x)
            }
        }
        return out
    }

    @inline(__always)
    private static func contains(_ r: [ClosedRange<UInt32>], _ c: UInt32) -> Bool {
        var lo = 0, hi = r.count
        while lo < hi {
            let mid = (lo + hi) >> 1
            if r[mid].upperBound < c { lo = mid + 1 } else { hi = mid }
        }
        return lo < r.count && r[lo].lowerBound <= c
    }

    func matches(_ c: UInt32, _ f: UInt16) -> Bool {
        let e: UInt32 = (c > 0x7F && f & CharFlags.whitespace != 0) ? 0x0B : c
        var m = (f & flags) != 0 || CharClass.contains(ranges, e)
        if m && !except.isEmpty && CharClass.contains(except, e) { m = false }
        return m != negated
    }
}

/// Building blocks of a pattern (classes are interned into the pattern's class table).
enum PatternAtom {
    /// The class repeated `min...max` times (greedy).
    case run(CharClass, min: Int, max: Int)
    /// A literal string.
    case literal(String)
    /// 's|'t|'re|'ve|'m|'ll|'d, optionally ASCII case-insensitive, optionally optional.
    case contraction(caseInsensitive: Bool, optional: Bool)
    /// (?!X) for a one-character class X: fails if the next character is in X (never at the end).
    case notFollowedBy(CharClass)
    /// $: the end of the piece.
    case end

    static func one(_ c: CharClass) -> PatternAtom { .run(c, min: 1, max: 1) }
    static func opt(_ c: CharClass) -> PatternAtom { .run(c, min: 0, max: 1) }
    static func plus(_ c: CharClass) -> PatternAtom { .run(c, min: 1, max: Int.max) }
    static func star(_ c: CharClass) -> PatternAtom { .run(c, min: 0, max: Int.max) }
    static func count(_ c: CharClass, _ lo: Int, _ hi: Int) -> PatternAtom { .run(c, min: lo, max: hi) }
}

/// One regex: alternatives of atom sequences, compiled into flat tables (plain data, read through
/// pointers while matching so that the hot loop does no reference counting).
final class Pattern: @unchecked Sendable {
    enum Op: UInt8 { case run, literal, contraction, notFollowedBy, end }

    struct Atom {
        var op: Op
        /// run/notFollowedBy: class index; literal: start in `literals`
        var a: Int32 = 0
        /// run: minimum; literal: length; contraction: case-insensitive (0/1)
        var b: Int32 = 0
        /// run: maximum; contraction: optional (0/1)
        var c: Int32 = 0
    }

    struct Class {
        var flags: UInt16
        var negated: Bool
        var ranges: Range<Int32>
        var except: Range<Int32>
    }

    let classCount: Int
    let alternativeCount: Int
    /// Class membership of the ASCII code points, `ascii[cls * 128 + c]`.
    let ascii: UnsafeMutableBufferPointer<Bool>
    let classes: UnsafeMutableBufferPointer<Class>
    /// Inclusive ranges: lower bounds and upper bounds.
    let lows: UnsafeMutableBufferPointer<UInt32>
    let highs: UnsafeMutableBufferPointer<UInt32>
    let literals: UnsafeMutableBufferPointer<UInt32>
    let atoms: UnsafeMutableBufferPointer<Atom>
    /// Atom index range of each alternative: altStart[i]..<altStart[i + 1].
    let altStart: UnsafeMutableBufferPointer<Int32>

    init(_ alts: [[PatternAtom]]) {
        var classes: [Class] = []
        var lows: [UInt32] = [], highs: [UInt32] = []
        var literals: [UInt32] = []
        var atoms: [Atom] = []
        var altStart: [Int32] = []
        var sources: [CharClass] = []
        func intern(_ c: CharClass) -> Int32 {
            let r0 = Int32(lows.count)
            for r in c.ranges { lows.append(r.lowerBound); highs.append(r.upperBound) }
            let r1 = Int32(lows.count)
            for r in c.except { lows.append(r.lowerBound); highs.append(r.upperBound) }
            classes.append(Class(flags: c.flags, negated: c.negated, ranges: r0..<r1, except: r1..<Int32(lows.count)))
            sources.append(c)
            return Int32(classes.count - 1)
        }
        for alt in alts {
            altStart.append(Int32(atoms.count))
            for a in alt {
                switch a {
                case .run(let c, let lo, let hi):
                    atoms.append(Atom(op: .run, a: intern(c), b: Int32(lo), c: Int32(min(hi, Int(Int32.max)))))
                case .literal(let str):
                    let u = str.unicodeScalars.map { $0.value }
                    atoms.append(Atom(op: .literal, a: Int32(literals.count), b: Int32(u.count)))
                    literals.append(contentsOf: u)
                case .contraction(let ci, let opt):
                    atoms.append(Atom(op: .contraction, b: ci ? 1 : 0, c: opt ? 1 : 0))
                case .notFollowedBy(let c):
                    atoms.append(Atom(op: .notFollowedBy, a: intern(c)))
                case .end:
                    atoms.append(Atom(op: .end))
                }
            }
        }
        altStart.append(Int32(atoms.count))
        func copy<T>(_ a: [T]) -> UnsafeMutableBufferPointer<T> {
            let p = UnsafeMutableBufferPointer<T>.allocate(capacity: max(a.count, 1))
            _ = p.initialize(from: a)
            return p
        }
        var table: [Bool] = []
        for c in sources {
            for x in 0..<128 { table.append(c.matches(UInt32(x), CharFlags.of(UInt32(x)))) }
        }
        self.classCount = classes.count
        self.alternativeCount = alts.count
        self.ascii = copy(table)
        self.classes = copy(classes)
        self.lows = copy(lows)
        self.highs = copy(highs)
        self.literals = copy(literals)
        self.atoms = copy(atoms)
        self.altStart = copy(altStart)
    }

    deinit {
        ascii.deallocate(); classes.deallocate(); lows.deallocate(); highs.deallocate()
        literals.deallocate(); atoms.deallocate(); altStart.deallocate()
    }

    @inline(__always)
    private func inRanges(_ r: Range<Int32>, _ c: UInt32) -> Bool {
        var lo = Int(r.lowerBound), hi = Int(r.upperBound)
        let end = hi
        while lo < hi {
            let mid = (lo + hi) >> 1
            if highs[mid] < c { lo = mid + 1 } else { hi = mid }
        }
        return lo < end && lows[lo] <= c
    }

    /// Whether scalar `c` with flags `f` is in class `k`.
    @inline(__always)
    func inClass(_ k: Int, _ c: UInt32, _ f: UInt16) -> Bool {
        if c < 128 { return ascii[k &* 128 &+ Int(c)] }
        let cl = classes[k]
        let e: UInt32 = f & CharFlags.whitespace != 0 ? 0x0B : c  // see CharClass.matches
        var m = (f & cl.flags) != 0 || (!cl.ranges.isEmpty && inRanges(cl.ranges, e))
        if m && !cl.except.isEmpty && inRanges(cl.except, e) { m = false }
        return m != cl.negated
    }
}

/// Matches one pattern inside one piece [start, end) of the text.
private struct Matcher {
    let scalars: UnsafeBufferPointer<UInt32>
    let flags: UnsafeBufferPointer<UInt16>
    let p: Pattern
    var end = 0
    // For each class, the last run computed: every position in [runFrom, runTo) is in the class and
    // runTo is not, so a run starting anywhere in between ends at runTo. Keeps repeated scans linear.
    let runFrom: UnsafeMutableBufferPointer<Int>
    let runTo: UnsafeMutableBufferPointer<Int>

    init(scalars: UnsafeBufferPointer<UInt32>, flags: UnsafeBufferPointer<UInt16>, pattern: Pattern,
         cache: UnsafeMutableBufferPointer<Int>) {
        self.scalars = scalars
        self.flags = flags
        self.p = pattern
        let n = pattern.classCount
        runFrom = UnsafeMutableBufferPointer(rebasing: cache[0..<n])
        runTo = UnsafeMutableBufferPointer(rebasing: cache[n..<(2 * n)])
    }

    mutating func reset(end: Int) {
        self.end = end
        for i in 0..<runFrom.count { runFrom[i] = 0; runTo[i] = 0 }
    }

    @inline(__always)
    func inClass(_ cls: Int, _ pos: Int) -> Bool {
        p.inClass(cls, scalars[pos], flags[pos])
    }

    @inline(__always)
    func runLength(_ cls: Int, _ pos: Int) -> Int {
        if pos >= end { return 0 }
        if pos >= runFrom[cls] && pos < runTo[cls] { return runTo[cls] - pos }
        if !inClass(cls, pos) { return 0 }
        var j = pos + 1
        while j < end && inClass(cls, j) { j += 1 }
        runFrom[cls] = pos
        runTo[cls] = j
        return j - pos
    }

    /// Length of the contraction at `pos` ('s, 't, 're, 've, 'm, 'll, 'd), or 0.
    @inline(__always)
    func contraction(_ pos: Int, caseInsensitive ci: Bool) -> Int {
        guard pos + 1 < end, scalars[pos] == 0x27 else { return 0 }
        @inline(__always) func lower(_ c: UInt32) -> UInt32 { (ci && c >= 0x41 && c <= 0x5A) ? c + 0x20 : c }
        let a = lower(scalars[pos + 1])
        if a == 0x73 || a == 0x74 || a == 0x6D || a == 0x64 { return 2 }  // s t m d
        if pos + 2 < end {
            let b = lower(scalars[pos + 2])
            if (a == 0x72 && b == 0x65) || (a == 0x76 && b == 0x65) || (a == 0x6C && b == 0x6C) { return 3 }  // re ve ll
        }
        return 0
    }

    /// End of the match of atoms [i, last) starting at `pos`, or -1.
    func match(_ i: Int, _ last: Int, _ pos: Int) -> Int {
        if i == last { return pos }
        let atom = p.atoms[i]
        switch atom.op {
        case .run:
            let k = min(runLength(Int(atom.a), pos), Int(atom.c))
            let lo = Int(atom.b)
            if k < lo { return -1 }
            if i + 1 == last { return pos + k }
            if p.atoms[i + 1].op == .end {
                return pos + k == end ? match(i + 1, last, pos + k) : -1
            }
            var j = k
            while j >= lo {
                let r = match(i + 1, last, pos + j)
                if r >= 0 { return r }
                j -= 1
            }
            return -1
        case .literal:
            let n = Int(atom.b), s = Int(atom.a)
            if pos + n > end { return -1 }
            for k in 0..<n where scalars[pos + k] != p.literals[s + k] { return -1 }
            return match(i + 1, last, pos + n)
        case .contraction:
            let n = contraction(pos, caseInsensitive: atom.b != 0)
            if n > 0 {
                let r = match(i + 1, last, pos + n)
                if r >= 0 { return r }
            }
            return atom.c != 0 ? match(i + 1, last, pos) : -1
        case .notFollowedBy:
            if pos < end && inClass(Int(atom.a), pos) { return -1 }
            return match(i + 1, last, pos)
        case .end:
            return pos == end ? match(i + 1, last, pos) : -1
        }
    }

    /// End of the first alternative that matches a non-empty string at `pos`, or -1.
    @inline(__always)
    func matchAt(_ pos: Int) -> Int {
        for a in 0..<p.alternativeCount {
            let r = match(Int(p.altStart[a]), Int(p.altStart[a + 1]), pos)
            if r > pos { return r }
        }
        return -1
    }
}

/// A pre-tokenizer: passes of patterns applied in order.
struct PreTokenizer: @unchecked Sendable {
    let passes: [Pattern]

    /// Splits scalars[range] into pieces (appended to `pieces` as [start, end) index pairs).
    func split(scalars: UnsafeBufferPointer<UInt32>, flags: UnsafeBufferPointer<UInt16>,
               range: Range<Int>, into pieces: inout [Range<Int>]) {
        if range.isEmpty { return }
        var current: [Range<Int>] = [range]
        var next: [Range<Int>] = []
        for pass in passes {
            next.removeAll(keepingCapacity: true)
            let cache = UnsafeMutableBufferPointer<Int>.allocate(capacity: 2 * pass.classCount + 1)
            defer { cache.deallocate() }
            var m = Matcher(scalars: scalars, flags: flags, pattern: pass, cache: cache)
            for piece in current {
                m.reset(end: piece.upperBound)
                var pos = piece.lowerBound
                var gap = pos
                while pos < piece.upperBound {
                    let e = m.matchAt(pos)
                    if e > pos {
                        if gap < pos { next.append(gap..<pos) }
                        next.append(pos..<e)
                        pos = e
                        gap = e
                    } else {
                        pos += 1
                    }
                }
                if gap < piece.upperBound { next.append(gap..<piece.upperBound) }
            }
            swap(&current, &next)
        }
        pieces.append(contentsOf: current)
    }
}

// MARK: - the families

/// How llama.cpp treats a `tokenizer.ggml.pre` value: its regexes and the vocabulary flags it sets.
struct PreTokenizerFamily {
    let passes: () -> [Pattern]
    var ignoreMerges = false
    var cleanSpaces = true
    var addBOS = false
    var clearBOS = false
    /// Spaces become U+2581 before tokenizing (SentencePiece-style BPE).
    var escapeWhitespace = false
    /// GPT-2 byte mapping; false: UTF-8 characters with <0xXX> byte fallback.
    var byteEncode = true
    /// Gemma 4 specifics: newline runs looked up whole, BOS always added.
    var gemma4 = false
}

enum PreTokenizers {
    private typealias A = PatternAtom
    private static let L = CharClass(flags: CharFlags.letter)
    private static let N = CharClass(flags: CharFlags.number)
    private static let P = CharClass(flags: CharFlags.punctuation)
    private static let S = CharClass(flags: CharFlags.symbol)
    private static let M = CharClass(flags: CharFlags.mark)
    private static let ws = CharClass(flags: CharFlags.whitespace)
    private static let nonWS = ws.inverted
    private static let space = CharClass(" ")
    private static let crlf = CharClass("\r\n")
    private static let digits = CharClass(ranges: [0x30...0x39])
    /// [^\r\n\p{L}\p{N}]
    private static let notCRLFLetterNumber = CharClass("\r\n", flags: CharFlags.letter | CharFlags.number).inverted
    /// [^\s\p{L}\p{N}]
    private static let notWSLetterNumber = CharClass(flags: CharFlags.whitespace | CharFlags.letter | CharFlags.number).inverted

    // \s*[\r\n]+ | \s+(?!\S) | \s+
    private static let whitespaceTail: [[A]] = [
        [.star(ws), .plus(crlf)],
        [.plus(ws), .notFollowedBy(nonWS)],
        [.plus(ws)],
    ]

    /// GPT-2: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)
    /// plus a final |\s+ as in llama.cpp's hand-written version (it only turns a lone whitespace
    /// character before a word from an unmatched gap into a match: the same piece either way).
    static let gpt2 = Pattern([
        [.contraction(caseInsensitive: false, optional: false)],
        [.opt(space), .plus(L)],
        [.opt(space), .plus(N)],
        [.opt(space), .plus(notWSLetterNumber)],
        [.plus(ws), .notFollowedBy(nonWS)],
        [.plus(ws)],
    ])

    /// Llama 3 (tokenizer.json's regex with the (?i:...) group spelled out, as llama.cpp does):
    /// (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
    /// With `digitsMax: 1` this is Qwen2's regex (\p{N} instead of \p{N}{1,3}); `digitsMax: Int.max` gives \p{N}+.
    static func llama3(digitsMax: Int = 3) -> Pattern {
        Pattern([
            [.contraction(caseInsensitive: true, optional: false)],
            [.opt(notCRLFLetterNumber), .plus(L)],
            [.count(N, 1, digitsMax)],
            [.opt(space), .plus(notWSLetterNumber), .star(crlf)],
        ] + whitespaceTail)
    }

    /// Qwen 3.5: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
    static let qwen35 = Pattern([
        [.contraction(caseInsensitive: true, optional: false)],
        [.opt(notCRLFLetterNumber), .plus(L | M)],
        [.one(N)],
        [.opt(space), .plus(CharClass(flags: CharFlags.whitespace | CharFlags.letter | CharFlags.mark | CharFlags.number).inverted), .star(crlf)],
    ] + whitespaceTail)

    /// \p{N}: every digit on its own.
    static let eachDigit = Pattern([[.one(N)]])
    /// \p{N}{1,3}
    static let digitTriples = Pattern([[.count(N, 1, 3)]])
    /// \p{N}+
    static let digitRuns = Pattern([[.plus(N)]])
    /// [0-9][0-9][0-9]
    static let asciiDigitTriples = Pattern([[.count(digits, 3, 3)]])

    /// The default (no or unknown-to-the-converter pre-tokenizer):
    /// [\p{P}\$\+<=>\^~\|]+ , then GPT-2's regex, then \p{N}+ , then [0-9][0-9][0-9]
    static func defaultPasses() -> [Pattern] {
        [Pattern([[.plus(CharClass("$+<=>^~|", flags: CharFlags.punctuation))]]), gpt2, digitRuns, asciiDigitTriples]
    }

    /// Falcon: [\p{P}\$\+<=>\^~\|`]+ , then GPT-2's regex, then [0-9][0-9][0-9]
    static func falconPasses() -> [Pattern] {
        [Pattern([[.plus(CharClass("$+<=>^~|`", flags: CharFlags.punctuation))]]), gpt2, asciiDigitTriples]
    }

    /// CJK ideographs, [ࠀ-一] and Hangul: [一-龥ࠀ-一가-퟿]+
    private static let deepseekCJK = CharClass(ranges: [0x4E00...0x9FA5, 0x0800...0x4E00, 0xAC00...0xD7FF])

    /// DeepSeek Coder: [\r\n] , \s?\p{L}+ , \s?\p{P}+ , [一-龥ࠀ-一가-퟿]+ , \p{N}
    static func deepseekCoderPasses() -> [Pattern] {
        [
            Pattern([[.one(crlf)]]),
            Pattern([[.opt(ws), .plus(L)]]),
            Pattern([[.opt(ws), .plus(P)]]),
            Pattern([[.plus(deepseekCJK)]]),
            eachDigit,
        ]
    }

    /// DeepSeek LLM: [\r\n] , \s?[A-Za-zµÀ-ÖØ-öø-ƺ...𞤀-𞥃]+ (cased letters of many scripts),
    /// \s?[!-/:-~！-／：-～‘-‟　-。]+ , \s+$ , [一-龥ࠀ-一가-퟿]+ , \p{N}+
    static func deepseekLLMPasses() -> [Pattern] {
        let letters = CharClass(ranges: [
            0x41...0x5A, 0x61...0x7A, 0xB5...0xB5, 0xC0...0xD6, 0xD8...0xF6, 0xF8...0x1BA, 0x1BC...0x1BF,
            0x1C4...0x293, 0x295...0x2AF, 0x370...0x373, 0x376...0x377, 0x37B...0x37D, 0x37F...0x37F,
            0x386...0x386, 0x388...0x38A, 0x38C...0x38C, 0x38E...0x3A1, 0x3A3...0x3F5, 0x3F7...0x481,
            0x48A...0x52F, 0x531...0x556, 0x10A0...0x10C5, 0x13A0...0x13F5, 0x13F8...0x13FD,
            0x1C90...0x1CBA, 0x1CBD...0x1CBF, 0x1D00...0x1D2B, 0x1D6B...0x1D77, 0x1D79...0x1D9A,
            0x1E00...0x1F15, 0x1F18...0x1F1D, 0x1F20...0x1F45, 0x1F48...0x1F4D, 0x1F50...0x1F57,
            0x1F59...0x1F59, 0x1F5B...0x1F5B, 0x1F5D...0x1F5D, 0x1F5F...0x1F7D, 0x1F80...0x1FB4,
            0x1FB6...0x1FBC, 0x1FBE...0x1FBE, 0x1FC2...0x1FC4, 0x1FC6...0x1FCC, 0x1FD0...0x1FD3,
            0x1FD6...0x1FDB, 0x1FE0...0x1FEC, 0x1FF2...0x1FF4, 0x1FF6...0x1FFC, 0x2102...0x2102,
            0x2107...0x2107, 0x210A...0x2113, 0x2115...0x2115, 0x2119...0x211D, 0x2124...0x2124,
            0x2126...0x2126, 0x2128...0x2128, 0x212A...0x212D, 0x212F...0x2134, 0x2139...0x2139,
            0x213C...0x213F, 0x2145...0x2149, 0x214E...0x214E, 0x2183...0x2184, 0x2C00...0x2C7B,
            0x2C7E...0x2CE4, 0x2CEB...0x2CEE, 0x2CF2...0x2CF3, 0xA640...0xA66D, 0xA680...0xA69B,
            0xA722...0xA76F, 0xA771...0xA787, 0xA78B...0xA78E, 0xAB70...0xABBF, 0xFB00...0xFB06,
            0xFB13...0xFB17, 0xFF21...0xFF3A, 0xFF41...0xFF5A, 0x10400...0x1044F, 0x104B0...0x104D3,
            0x104D8...0x104FB, 0x10C80...0x10CB2, 0x10CC0...0x10CF2, 0x118A0...0x118DF, 0x1E900...0x1E943,
        ])
        let punct = CharClass(ranges: [0x21...0x2F, 0x3A...0x7E, 0xFF01...0xFF0F, 0xFF1A...0xFF5E,
                                       0x2018...0x201F, 0x3000...0x3002])
        return [
            Pattern([[.one(crlf)]]),
            Pattern([[.opt(ws), .plus(letters)]]),
            Pattern([[.opt(ws), .plus(punct)]]),
            Pattern([[.plus(ws), .end]]),
            Pattern([[.plus(deepseekCJK)]]),
            digitRuns,
        ]
    }

    /// DeepSeek V3 (also Hunyuan dense, JoyAI, HY v4): \p{N}{1,3} , [一-龥぀-ゟ゠-ヿ]+ ,
    /// [!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
    static func deepseekV3Passes() -> [Pattern] {
        let asciiPunct = CharClass(ranges: [0x21...0x2F, 0x3A...0x40, 0x5B...0x60, 0x7B...0x7E])
        let asciiLetters = CharClass(ranges: [0x41...0x5A, 0x61...0x7A])
        return [
            digitTriples,
            Pattern([[.plus(CharClass(ranges: [0x4E00...0x9FA5, 0x3040...0x309F, 0x30A0...0x30FF]))]]),
            Pattern([
                [.one(asciiPunct), .plus(asciiLetters)],
                [.opt(CharClass("\r\n", flags: CharFlags.letter | CharFlags.punctuation | CharFlags.symbol).inverted), .plus(L | M)],
                [.opt(space), .plus(P | S), .star(crlf)],
            ] + whitespaceTail),
        ]
    }

    /// Spark 2.5: like DeepSeek V3 but ` ?[\p{P}\p{S}]+|[\r\n]|\s+(?!\S)|\s+` and a final \p{N} pass.
    static func spark25Passes() -> [Pattern] {
        let asciiPunct = CharClass(ranges: [0x21...0x2F, 0x3A...0x40, 0x5B...0x60, 0x7B...0x7E])
        let asciiLetters = CharClass(ranges: [0x41...0x5A, 0x61...0x7A])
        return [
            digitTriples,
            Pattern([[.plus(CharClass(ranges: [0x4E00...0x9FA5, 0x3040...0x309F, 0x30A0...0x30FF]))]]),
            Pattern([
                [.one(asciiPunct), .plus(asciiLetters)],
                [.opt(CharClass("\r\n", flags: CharFlags.letter | CharFlags.punctuation | CharFlags.symbol).inverted), .plus(L | M)],
                [.opt(space), .plus(P | S)],
                [.one(crlf)],
                [.plus(ws), .notFollowedBy(nonWS)],
                [.plus(ws)],
            ]),
            eachDigit,
        ]
    }

    /// BLOOM, Poro, GPT-3 Finnish: ` ?[^(\s|.,!?…。，、।۔،)]+`
    static let bloom = Pattern([[
        .opt(space),
        .plus(CharClass("(|.,!?…。，、।۔،)", flags: CharFlags.whitespace).inverted),
    ]])

    /// Tekken (Mistral Nemo), as llama.cpp rewrites it:
    /// [^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+
    /// "Upper" is a letter other than a-z, "lower" a letter other than A-Z (so non-ASCII letters are both).
    /// GPT-4o (also Llama 4, MiniMax M2): the same with an optional contraction after the words and \p{N}{1,3}.
    /// With `marks`, \p{M} counts as a letter in both classes (Granite embedding multilingual).
    static func casedWords(contractions: Bool, digitsMax: Int, marks: Bool = false) -> Pattern {
        let letterFlags = marks ? CharFlags.letter | CharFlags.mark : CharFlags.letter
        let upper = CharClass(flags: letterFlags, except: [0x61...0x7A])
        let lower = CharClass(flags: letterFlags, except: [0x41...0x5A])
        var w1: [A] = [.opt(notCRLFLetterNumber), .star(upper), .plus(lower)]
        var w2: [A] = [.opt(notCRLFLetterNumber), .plus(upper), .star(lower)]
        if contractions {
            w1.append(.contraction(caseInsensitive: true, optional: true))
            w2.append(.contraction(caseInsensitive: true, optional: true))
        }
        return Pattern([
            w1, w2,
            [.count(N, 1, digitsMax)],
            [.opt(space), .plus(notWSLetterNumber), .star(CharClass("\r\n/"))],
        ] + whitespaceTail)
    }

    /// Chameleon: <sentinel:[0-9]+> , (IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z , ([\t\n]|    |  ) , \p{N} ,
    /// [\p{P}!-/:-@\[-`{-~] , then GPT-2's regex
    static func chameleonPasses() -> [Pattern] {
        [
            Pattern([[.literal("<sentinel:"), .plus(digits), .literal(">")]]),
            Pattern([[.literal("IMGIMG"), .count(CharClass(ranges: [0x41...0x49]), 1, 4), .literal("Z")]]),
            Pattern([[.one(CharClass("\t\n"))], [.literal("    ")], [.literal("  ")]]),
            eachDigit,
            Pattern([[.one(CharClass(flags: CharFlags.punctuation, ranges: [0x21...0x2F, 0x3A...0x40, 0x5B...0x60, 0x7B...0x7E]))]]),
            gpt2,
        ]
    }

    /// Seed-Coder: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1}| ?[^\s\p{L}\p{N}\r\n]+|\s*[\r\n]+|\s+(?!\S)|\s+
    static let seedCoder = Pattern([
        [.contraction(caseInsensitive: true, optional: false)],
        [.opt(notCRLFLetterNumber), .plus(L)],
        [.one(N)],
        [.opt(space), .plus(notWSLetterNumber)],
    ] + whitespaceTail)

    /// Bailing MoE: '(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+
    static let bailing = Pattern([
        [.contraction(caseInsensitive: true, optional: false)],
        [.opt(notCRLFLetterNumber), .plus(L)],
        [.one(N)],
        [.opt(space), .plus(notWSLetterNumber), .star(crlf)],
        [.star(ws), .one(crlf)],
        [.plus(ws), .notFollowedBy(nonWS)],
        [.plus(ws)],
    ])

    /// Qwen2 without the contraction group ("ufakzeka").
    static let qwen2NoContractions = Pattern([
        [.opt(notCRLFLetterNumber), .plus(L)],
        [.one(N)],
        [.opt(space), .plus(notWSLetterNumber), .star(crlf)],
    ] + whitespaceTail)

    /// [^\n]+|[\n]+ : lines and runs of newlines.
    static let lines = Pattern([[.plus(CharClass("\n").inverted)], [.plus(CharClass("\n"))]])

    /// Jais 2: Llama 3's regex with a cascade of whitespace lengths:
    /// ...|\s*[\r\n]+|\s{512}(?!\S)|\s{256}(?!\S)|...|\s{4}(?!\S)|\s{1,2}(?!\S)|\s{1}
    static func jais2() -> Pattern {
        var alts: [[A]] = [
            [.contraction(caseInsensitive: true, optional: false)],
            [.opt(notCRLFLetterNumber), .plus(L)],
            [.count(N, 1, 3)],
            [.opt(space), .plus(notWSLetterNumber), .star(crlf)],
            [.star(ws), .plus(crlf)],
        ]
        for n in [512, 256, 128, 64, 32, 16, 8, 4] { alts.append([.count(ws, n, n), .notFollowedBy(nonWS)]) }
        alts.append([.count(ws, 1, 2), .notFollowedBy(nonWS)])
        alts.append([.one(ws)])
        return Pattern(alts)
    }

    /// The family of a `tokenizer.ggml.pre` value, following llama.cpp's llama-vocab.cpp; nil if unknown.
    static func family(_ pre: String) -> PreTokenizerFamily? {
        switch pre {
        case "default":
            return PreTokenizerFamily(passes: defaultPasses)
        case "llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2", "jina-v5-nano":
            return PreTokenizerFamily(passes: { [llama3()] }, ignoreMerges: true, addBOS: true)
        case "dbrx", "smaug-bpe":
            return PreTokenizerFamily(passes: { [llama3()] })
        case "deepseek-llm":
            return PreTokenizerFamily(passes: deepseekLLMPasses, cleanSpaces: false)
        case "deepseek-coder":
            return PreTokenizerFamily(passes: deepseekCoderPasses, cleanSpaces: false)
        case "deepseek-v3", "hunyuan-dense", "hy_v4", "joyai-llm":
            return PreTokenizerFamily(passes: deepseekV3Passes, cleanSpaces: false)
        case "spark2_5":
            return PreTokenizerFamily(passes: spark25Passes, cleanSpaces: false)
        case "falcon":
            return PreTokenizerFamily(passes: falconPasses)
        case "mpt", "olmo", "jais", "gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es", "jina-v2-de",
             "a.x-4.0", "mellum", "modern-bert", "jina-v1-en", "jina-v2-code", "roberta-bpe", "exaone4":
            return PreTokenizerFamily(passes: { [gpt2] })
        case "trillion", "granite-docling":
            return PreTokenizerFamily(passes: { [gpt2] }, cleanSpaces: false)
        case "starcoder", "refact", "codeshell", "exaone", "minerva-7b", "mellum2":
            return PreTokenizerFamily(passes: { [eachDigit, gpt2] })
        case "command-r", "smollm":
            return PreTokenizerFamily(passes: { [eachDigit, gpt2] }, cleanSpaces: false)
        case "stablelm2", "megrez":
            return PreTokenizerFamily(passes: { [llama3(digitsMax: 1)] })
        case "qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "hunyuan", "solar-open", "grok-2":
            return PreTokenizerFamily(passes: { [llama3(digitsMax: 1)] }, cleanSpaces: false)
        case "qwen35":
            return PreTokenizerFamily(passes: { [qwen35] }, cleanSpaces: false)
        case "poro-chat":
            return PreTokenizerFamily(passes: { [bloom] }, cleanSpaces: false)
        case "bloom", "gpt3-finnish":
            return PreTokenizerFamily(passes: { [bloom] })
        case "viking":
            return PreTokenizerFamily(passes: { [bloom, eachDigit] }, cleanSpaces: false)
        case "chatglm-bpe":
            return PreTokenizerFamily(passes: { [llama3()] }, clearBOS: true)
        case "glm4", "glm5":
            return PreTokenizerFamily(passes: { [llama3()] }, ignoreMerges: true, clearBOS: true)
        case "tekken":
            return PreTokenizerFamily(passes: { [casedWords(contractions: false, digitsMax: 1)] },
                                      ignoreMerges: true, cleanSpaces: false, addBOS: true)
        case "chameleon":
            return PreTokenizerFamily(passes: chameleonPasses, cleanSpaces: false, addBOS: true)
        case "gpt-4o", "llama4", "kanana2", "talkie", "minimax-m2":
            return PreTokenizerFamily(passes: { [casedWords(contractions: true, digitsMax: 3)] }, cleanSpaces: false)
        case "granite-embed-multi-97m":
            return PreTokenizerFamily(passes: { [casedWords(contractions: true, digitsMax: 3, marks: true)] },
                                      ignoreMerges: true, cleanSpaces: false)
        case "seed-coder":
            return PreTokenizerFamily(passes: { [seedCoder] }, cleanSpaces: false)
        case "bailingmoe", "bailingmoe2", "llada-moe":
            return PreTokenizerFamily(passes: { [bailing] }, cleanSpaces: false)
        case "ufakzeka":
            return PreTokenizerFamily(passes: { [qwen2NoContractions] }, cleanSpaces: false)
        case "minicpm5":
            return PreTokenizerFamily(passes: { [digitTriples, llama3(digitsMax: Int.max)] }, ignoreMerges: true)
        case "laguna":
            return PreTokenizerFamily(passes: { [lines, llama3(digitsMax: 1)] }, cleanSpaces: false)
        case "jais-2":
            return PreTokenizerFamily(passes: { [jais2()] })
        case "gemma4", "granite-embed-multi-311m":
            // Gemma 4: spaces are U+2581 and BPE runs on whole lines: [^\n]+|[\n]+
            return PreTokenizerFamily(passes: { [lines] }, escapeWhitespace: true, byteEncode: false, gemma4: true)
        case "sarvam-moe":
            return PreTokenizerFamily(passes: { [lines] }, cleanSpaces: false, escapeWhitespace: true, byteEncode: false)
        default:
            return nil
        }
    }
}

extension Pattern {
    /// The non-overlapping matches of this pattern in scalars[range], leftmost first (the matches
    /// `PreTokenizer.split` isolates; used by the Hugging Face Split pre-tokenizer).
    func matches(scalars: UnsafeBufferPointer<UInt32>, flags: UnsafeBufferPointer<UInt16>, range: Range<Int>) -> [Range<Int>] {
        var out: [Range<Int>] = []
        if range.isEmpty { return out }
        let cache = UnsafeMutableBufferPointer<Int>.allocate(capacity: 2 * classCount + 1)
        defer { cache.deallocate() }
        var m = Matcher(scalars: scalars, flags: flags, pattern: self, cache: cache)
        m.reset(end: range.upperBound)
        var pos = range.lowerBound
        while pos < range.upperBound {
            let e = m.matchAt(pos)
            if e > pos {
                out.append(pos..<e)
                pos = e
            } else {
                pos += 1
            }
        }
        return out
    }
}
