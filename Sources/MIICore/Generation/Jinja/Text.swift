/// Python `str` operations over Unicode scalars (Python strings index code points, and compare them
/// without Unicode normalization, unlike Swift's `Character`-based `String`). Searches are linear
/// time (Knuth–Morris–Pratt), so hostile patterns cannot blow up.
enum ScalarText {
    typealias S = [Unicode.Scalar]

    static func string(_ u: ArraySlice<Unicode.Scalar>) -> String {
        var s = String.UnicodeScalarView()
        s.append(contentsOf: u)
        return String(s)
    }

    static func string(_ u: S) -> String { string(u[...]) }

    /// Python's `str.isspace` per character.
    static func isSpace(_ u: Unicode.Scalar) -> Bool {
        switch u.value {
        case 0x09...0x0D, 0x1C...0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
            return true
        default:
            return false
        }
    }

    private static func table(_ needle: S) -> [Int] {
        var t = [Int](repeating: 0, count: needle.count)
        var k = 0
        var i = 1
        while i < needle.count {
            while k > 0 && needle[i] != needle[k] { k = t[k - 1] }
            if needle[i] == needle[k] { k += 1 }
            t[i] = k
            i += 1
        }
        return t
    }

    /// Index of the first occurrence of `needle` at or after `from`.
    static func find(_ hay: S, _ needle: S, from: Int) -> Int? {
        findAll(hay, needle, from: from, limit: 1).first
    }

    /// Non-overlapping occurrences, left to right, at most `limit` (negative: all).
    static func findAll(_ hay: S, _ needle: S, from: Int = 0, limit: Int = -1) -> [Int] {
        var r: [Int] = []
        if needle.isEmpty {
            var i = from
            while i <= hay.count && (limit < 0 || r.count < limit) { r.append(i); i += 1 }
            return r
        }
        let t = table(needle)
        var k = 0
        var i = from
        while i < hay.count {
            while k > 0 && hay[i] != needle[k] { k = t[k - 1] }
            if hay[i] == needle[k] { k += 1 }
            if k == needle.count {
                r.append(i - k + 1)
                if limit >= 0 && r.count >= limit { break }
                k = 0
            }
            i += 1
        }
        return r
    }

    static func strip(_ s: String, _ chars: String?, left: Bool, right: Bool) -> String {
        let u = Array(s.unicodeScalars)
        let set: Set<Unicode.Scalar>? = chars.map { Set($0.unicodeScalars) }
        func strippable(_ c: Unicode.Scalar) -> Bool { set.map { $0.contains(c) } ?? isSpace(c) }
        var a = 0, b = u.count
        if left { while a < b, strippable(u[a]) { a += 1 } }
        if right { while b > a, strippable(u[b - 1]) { b -= 1 } }
        return string(u[a..<b])
    }

    /// `str.split(sep, maxsplit)`; `sep == nil` splits on whitespace runs.
    static func split(_ s: String, _ sep: String?, _ maxsplit: Int) -> [String] {
        let u = Array(s.unicodeScalars)
        guard let sep else {
            var parts: [String] = []
            var i = 0
            while true {
                while i < u.count, isSpace(u[i]) { i += 1 }
                if i >= u.count { break }
                if maxsplit >= 0 && parts.count == maxsplit {
                    var e = u.count
                    while e > i, isSpace(u[e - 1]) { e -= 1 }
                    parts.append(string(u[i..<e]))
                    break
                }
                let start = i
                while i < u.count, !isSpace(u[i]) { i += 1 }
                parts.append(string(u[start..<i]))
            }
            return parts
        }
        let n = Array(sep.unicodeScalars)
        let hits = findAll(u, n, limit: maxsplit)
        var parts: [String] = []
        var prev = 0
        for h in hits {
            parts.append(string(u[prev..<h]))
            prev = h + n.count
        }
        parts.append(string(u[prev...]))
        return parts
    }

    /// `str.rsplit(sep, maxsplit)`.
    static func rsplit(_ s: String, _ sep: String?, _ maxsplit: Int) -> [String] {
        if maxsplit < 0 { return split(s, sep, -1) }
        let rev = String(String.UnicodeScalarView(s.unicodeScalars.reversed()))
        let revSep = sep.map { String(String.UnicodeScalarView($0.unicodeScalars.reversed())) }
        return split(rev, revSep, maxsplit).reversed().map { String(String.UnicodeScalarView($0.unicodeScalars.reversed())) }
    }

    static func isLineBreak(_ u: Unicode.Scalar) -> Bool {
        switch u.value {
        case 0x0A, 0x0B, 0x0C, 0x0D, 0x1C, 0x1D, 0x1E, 0x85, 0x2028, 0x2029: return true
        default: return false
        }
    }

    static func splitlines(_ s: String, keepends: Bool) -> [String] {
        let u = Array(s.unicodeScalars)
        var lines: [String] = []
        var start = 0
        var i = 0
        while i < u.count {
            if isLineBreak(u[i]) {
                var end = i + 1
                if u[i] == "\r", i + 1 < u.count, u[i + 1] == "\n" { end += 1 }
                lines.append(string(u[start..<(keepends ? end : i)]))
                start = end
                i = end
            } else {
                i += 1
            }
        }
        if start < u.count { lines.append(string(u[start...])) }
        return lines
    }

    static func replace(_ s: String, _ old: String, _ new: String, _ count: Int) throws -> String {
        let u = Array(s.unicodeScalars)
        let o = Array(old.unicodeScalars)
        let hits = findAll(u, o, limit: count)
        if hits.isEmpty { return s }
        let (grow, o1) = hits.count.multipliedReportingOverflow(by: new.utf8.count)
        if o1 || grow > Limits.maxJinjaOutputBytes || s.utf8.count + grow > Limits.maxJinjaOutputBytes {
            throw JinjaError.limit("a string exceeds \(Limits.maxJinjaOutputBytes) bytes")
        }
        var out = String.UnicodeScalarView()
        var prev = 0
        for h in hits {
            out.append(contentsOf: u[prev..<h])
            out.append(contentsOf: new.unicodeScalars)
            prev = h + o.count
        }
        if prev < u.count { out.append(contentsOf: u[prev...]) }
        return String(out)
    }

    static func startsWith(_ s: String, _ prefix: String) -> Bool {
        s.unicodeScalars.starts(with: prefix.unicodeScalars)
    }

    static func endsWith(_ s: String, _ suffix: String) -> Bool {
        s.unicodeScalars.reversed().starts(with: suffix.unicodeScalars.reversed())
    }

    static func upper(_ s: String) -> String { s.uppercased() }
    static func lower(_ s: String) -> String { s.lowercased() }

    /// Python's `str.title()`: a cased character after an uncased one is title-cased, others lowered.
    static func pyTitle(_ s: String) -> String {
        var out = ""
        var prevCased = false
        for u in s.unicodeScalars {
            let cased = u.properties.isCased
            if cased {
                out += prevCased ? String(u).lowercased() : u.properties.titlecaseMapping
            } else {
                out.unicodeScalars.append(u)
            }
            prevCased = cased
        }
        return out
    }

    /// Python's `str.capitalize()`.
    static func capitalize(_ s: String) -> String {
        guard let first = s.unicodeScalars.first else { return "" }
        return first.properties.titlecaseMapping + String(String.UnicodeScalarView(s.unicodeScalars.dropFirst())).lowercased()
    }

    /// jinja2's `title` filter: words begin after runs of whitespace, '-', '(', '{', '[' or '<'; each
    /// piece gets its first character upper-cased and the rest lower-cased.
    static func jinjaTitle(_ s: String) -> String {
        func isDelim(_ u: Unicode.Scalar) -> Bool { isSpace(u) || "-({[<".unicodeScalars.contains(u) }
        let u = Array(s.unicodeScalars)
        var out = ""
        var i = 0
        while i < u.count {
            let start = i
            let delim = isDelim(u[i])
            while i < u.count, isDelim(u[i]) == delim { i += 1 }
            let piece = u[start..<i]
            guard let f = piece.first else { continue }
            out += String(f).uppercased() + string(piece.dropFirst()).lowercased()
        }
        return out
    }

    static func isWordChar(_ u: Unicode.Scalar) -> Bool {
        u == "_" || u.properties.isAlphabetic || u.properties.numericType != nil || u.properties.generalCategory == .nonspacingMark
    }
}

#if canImport(Glibc)
import Glibc
#endif

/// transformers' `strftime_now(format)`: the local time formatted by the C library's strftime
/// (which Python's datetime.strftime delegates to on Linux). `now` (seconds since the epoch)
/// replaces the clock, for reproducible renders.
func strftimeNow(_ format: String, now: Int? = nil) throws -> String {
    guard format.utf8.count <= 256 else { throw JinjaError.limit("strftime format too long") }
    #if canImport(Glibc)
    var t = now.map { time_t($0) } ?? time(nil)
    var tmv = tm()
    guard localtime_r(&t, &tmv) != nil else { throw JinjaError.type("localtime failed") }
    var buf = [CChar](repeating: 0, count: 1024)
    let n = format.withCString { strftime(&buf, buf.count, $0, &tmv) }
    if n == 0 && !format.isEmpty { return "" }
    let bytes = buf[0..<n].map { UInt8(bitPattern: $0) }
    return String(decoding: bytes, as: UTF8.self)
    #else
    throw JinjaError.unsupported("strftime_now is not available on this platform")
    #endif
}
