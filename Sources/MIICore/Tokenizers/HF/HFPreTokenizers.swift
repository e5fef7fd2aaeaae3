// The pre-tokenizers of Hugging Face tokenizer.json files ("pre_tokenizer" key). A pre-tokenizer turns
// the pieces of text it gets into smaller pieces (and may change them: ByteLevel maps bytes to
// characters, Metaspace replaces spaces). Regex patterns are not interpreted by a general engine:
// the well-known ones are recognised and mapped onto the hand-written patterns of PreTokenizer.swift,
// a small literal subset is handled by HFTextPattern, anything else is `unsupported`.

/// A piece of normalized text. `first`: it starts at offset 0 of the original input (Metaspace's
/// prepend_scheme "first").
struct HFPiece {
    var s: [UInt32]
    var first: Bool
}

enum HFSplitBehavior: String {
    case removed, isolated, mergedWithPrevious = "merged_with_previous", mergedWithNext = "merged_with_next", contiguous

    /// `segments` cover the piece in order; `true` marks a match of the delimiter pattern. Returns the
    /// ranges that remain, as tokenizers' NormalizedString::split does.
    func apply(_ segments: [(Range<Int>, Bool)]) -> [Range<Int>] {
        var out: [Range<Int>] = []
        switch self {
        case .isolated:
            out = segments.map { $0.0 }
        case .removed:
            out = segments.filter { !$0.1 }.map { $0.0 }
        case .contiguous:
            var prev = false
            for (r, m) in segments {
                if m == prev, let last = out.last {
                    out[out.count - 1] = last.lowerBound..<r.upperBound
                } else {
                    out.append(r)
                }
                prev = m
            }
        case .mergedWithPrevious:
            var prev = false
            for (r, m) in segments {
                if m && !prev, let last = out.last {
                    out[out.count - 1] = last.lowerBound..<r.upperBound
                } else {
                    out.append(r)
                }
                prev = m
            }
        case .mergedWithNext:
            var prev = false
            for (r, m) in segments.reversed() {
                if m && !prev, let last = out.last {
                    out[out.count - 1] = r.lowerBound..<last.upperBound
                } else {
                    out.append(r)
                }
                prev = m
            }
            out.reverse()
        }
        return out.filter { !$0.isEmpty }
    }

    /// Segments from the matches of a pattern (gaps between them are non-matches).
    static func segments(count n: Int, matches: [Range<Int>], invert: Bool = false) -> [(Range<Int>, Bool)] {
        var segs: [(Range<Int>, Bool)] = []
        var last = 0
        for m in matches {
            if last < m.lowerBound { segs.append((last..<m.lowerBound, invert)) }
            segs.append((m, !invert))
            last = m.upperBound
        }
        if last < n { segs.append((last..<n, invert)) }
        return segs
    }

    /// Segments where every character satisfying `pred` is its own match.
    static func charSegments(_ s: [UInt32], _ pred: (UInt32) -> Bool) -> [(Range<Int>, Bool)] {
        var segs: [(Range<Int>, Bool)] = []
        var last = 0
        for (i, c) in s.enumerated() where pred(c) {
            if last < i { segs.append((last..<i, false)) }
            segs.append((i..<(i + 1), true))
            last = i + 1
        }
        if last < s.count { segs.append((last..<s.count, false)) }
        return segs
    }
}

/// The delimiter of a Split pre-tokenizer.
enum HFSplitPattern {
    case text(HFTextPattern)
    case known(Pattern)

    func matches(_ s: [UInt32]) -> [Range<Int>] {
        switch self {
        case .text(let p):
            return p.findAll(s)
        case .known(let p):
            let flags = s.map { CharFlags.of($0) }
            return s.withUnsafeBufferPointer { sc in
                flags.withUnsafeBufferPointer { fl in p.matches(scalars: sc, flags: fl, range: 0..<sc.count) }
            }
        }
    }

    /// The regexes of real tokenizer.json files this engine knows, mapped onto PreTokenizer.swift's
    /// patterns (which implement exactly these regexes).
    static func known(regex: String) -> Pattern? {
        switch regex {
        case "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
             "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)":
            return PreTokenizers.gpt2
        case "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+":
            return PreTokenizers.llama3(digitsMax: 3)
        case "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+":
            return PreTokenizers.llama3(digitsMax: 1)
        case "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}+| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+":
            return PreTokenizers.llama3(digitsMax: Int.max)
        case "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}| ?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+":
            return PreTokenizers.qwen35
        case "\\p{N}": return PreTokenizers.eachDigit
        case "\\p{N}{1,3}": return PreTokenizers.digitTriples
        case "\\p{N}+": return PreTokenizers.digitRuns
        case "[^\\n]+|[\\n]+": return PreTokenizers.lines
        default: return nil
        }
    }
}

enum HFPrependScheme: String { case first, never, always }

indirect enum HFPreTokenizer {
    case sequence([HFPreTokenizer])
    case byteLevel(addPrefixSpace: Bool, useRegex: Bool)
    case split(HFSplitPattern, HFSplitBehavior, invert: Bool)
    case whitespace
    case whitespaceSplit
    case bert
    case punctuation(HFSplitBehavior)
    case digits(individual: Bool)
    case charDelimiter(UInt32)
    case metaspace(replacement: UInt32, prepend: HFPrependScheme, split: Bool)

    func run(_ pieces: [HFPiece]) -> [HFPiece] {
        var out: [HFPiece] = []
        out.reserveCapacity(pieces.count)
        switch self {
        case .sequence(let list):
            var x = pieces
            for p in list { x = p.run(x) }
            return x
        case .byteLevel(let addPrefixSpace, let useRegex):
            for var p in pieces {
                if addPrefixSpace && p.s.first != 0x20 { p.s.insert(0x20, at: 0) }
                let parts: [HFPiece]
                if useRegex {
                    parts = split(p, HFSplitBehavior.segments(count: p.s.count, matches: HFSplitPattern.known(PreTokenizers.gpt2).matches(p.s)), .isolated)
                } else {
                    parts = [p]
                }
                for q in parts {
                    var m: [UInt32] = []
                    m.reserveCapacity(q.s.count * 2)
                    var b: [UInt8] = []
                    for c in q.s {
                        b.removeAll(keepingCapacity: true)
                        HFChar.appendUTF8(c, to: &b)
                        for x in b { m.append(ByteLevel.byteToScalar[Int(x)]) }
                    }
                    out.append(HFPiece(s: m, first: q.first))
                }
            }
        case .split(let pattern, let behavior, let invert):
            for p in pieces {
                let segs = HFSplitBehavior.segments(count: p.s.count, matches: pattern.matches(p.s), invert: invert)
                out.append(contentsOf: split(p, segs, behavior))
            }
        case .whitespace:
            // \w+|[^\w\s]+ kept, whitespace removed.
            for p in pieces {
                var segs: [(Range<Int>, Bool)] = []
                var i = 0
                let s = p.s
                while i < s.count {
                    let c = s[i]
                    var j = i + 1
                    if HFChar.isWord(c) {
                        while j < s.count && HFChar.isWord(s[j]) { j += 1 }
                        segs.append((i..<j, false))
                    } else if HFChar.isWhitespace(c) {
                        while j < s.count && HFChar.isWhitespace(s[j]) && !HFChar.isWord(s[j]) { j += 1 }
                        segs.append((i..<j, true))
                    } else {
                        while j < s.count && !HFChar.isWord(s[j]) && !HFChar.isWhitespace(s[j]) { j += 1 }
                        segs.append((i..<j, false))
                    }
                    i = j
                }
                out.append(contentsOf: split(p, segs, .removed))
            }
        case .whitespaceSplit:
            for p in pieces {
                out.append(contentsOf: split(p, HFSplitBehavior.charSegments(p.s, HFChar.isWhitespace), .removed))
            }
        case .bert:
            for p in pieces {
                for q in split(p, HFSplitBehavior.charSegments(p.s, HFChar.isWhitespace), .removed) {
                    out.append(contentsOf: split(q, HFSplitBehavior.charSegments(q.s, HFChar.isBertPunctuation), .isolated))
                }
            }
        case .punctuation(let behavior):
            for p in pieces {
                out.append(contentsOf: split(p, HFSplitBehavior.charSegments(p.s, HFChar.isBertPunctuation), behavior))
            }
        case .digits(let individual):
            for p in pieces {
                out.append(contentsOf: split(p, HFSplitBehavior.charSegments(p.s, HFChar.isNumeric), individual ? .isolated : .contiguous))
            }
        case .charDelimiter(let d):
            for p in pieces {
                out.append(contentsOf: split(p, HFSplitBehavior.charSegments(p.s) { $0 == d }, .removed))
            }
        case .metaspace(let rep, let prepend, let doSplit):
            for var p in pieces {
                for i in 0..<p.s.count where p.s[i] == 0x20 { p.s[i] = rep }
                switch prepend {
                case .always:
                    if p.s.first != rep { p.s.insert(rep, at: 0) }
                case .first:
                    if p.s.first != rep && p.first { p.s.insert(rep, at: 0) }
                case .never:
                    break
                }
                if doSplit {
                    out.append(contentsOf: split(p, HFSplitBehavior.charSegments(p.s) { $0 == rep }, .mergedWithNext))
                } else if !p.s.isEmpty {
                    out.append(p)
                }
            }
        }
        return out
    }

    private func split(_ p: HFPiece, _ segs: [(Range<Int>, Bool)], _ behavior: HFSplitBehavior) -> [HFPiece] {
        behavior.apply(segs).map { r in HFPiece(s: Array(p.s[r]), first: p.first && r.lowerBound == 0) }
    }
}
