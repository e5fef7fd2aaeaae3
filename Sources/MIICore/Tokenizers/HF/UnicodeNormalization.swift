// Unicode normalization forms NFD, NFC, NFKD and NFKC (UAX #15) on arrays of scalar values, from the
// tables in UnicodeNormTables.swift (generated from Python's unicodedata). No Foundation.

enum UnicodeNormalization {
    enum Form { case nfd, nfc, nfkd, nfkc }

    private struct Data {
        /// Sorted ranges with a non-zero combining class.
        var cccLo: [UInt32] = []
        var cccHi: [UInt32] = []
        var cccVal: [UInt8] = []
        /// Decomposition of a code point: range in `mapping`, compatibility flag.
        var decomp: [UInt32: (start: Int32, count: Int32, compat: Bool)] = [:]
        var mapping: [UInt32] = []
        /// (first << 21 | second) -> composite.
        var compose: [UInt64: UInt32] = [:]
    }

    private static let data: Data = {
        var d = Data()
        func hex(_ s: Substring) -> UInt32 { UInt32(s, radix: 16) ?? 0 }
        for item in UnicodeNormTables.ccc.split(separator: ";") {
            let parts = item.split(separator: ":")
            guard parts.count == 2 else { continue }
            let r = parts[0].split(separator: "-")
            guard r.count == 2 else { continue }
            d.cccLo.append(hex(r[0])); d.cccHi.append(hex(r[1])); d.cccVal.append(UInt8(truncatingIfNeeded: hex(parts[1])))
        }
        var noComp = Set<UInt32>()
        for item in UnicodeNormTables.noComp.split(separator: ";") { noComp.insert(hex(item)) }
        var prev: UInt32 = 0
        for item in UnicodeNormTables.decomp.split(separator: ";") {
            let f = item.split(separator: ",")
            guard f.count == 3 else { continue }
            let c = prev &+ hex(f[0])
            prev = c
            let compat = f[1] == "k"
            let vals = f[2].split(separator: " ").map(hex)
            d.decomp[c] = (Int32(d.mapping.count), Int32(vals.count), compat)
            d.mapping.append(contentsOf: vals)
            if !compat && vals.count == 2 && !noComp.contains(c) {
                d.compose[UInt64(vals[0]) << 21 | UInt64(vals[1])] = c
            }
        }
        return d
    }()

    static func combiningClass(_ c: UInt32) -> UInt8 {
        if c < 0x300 { return 0 }
        let d = data
        var lo = 0, hi = d.cccLo.count
        while lo < hi {
            let mid = (lo + hi) >> 1
            if d.cccHi[mid] < c { lo = mid + 1 } else { hi = mid }
        }
        return lo < d.cccLo.count && d.cccLo[lo] <= c ? d.cccVal[lo] : 0
    }

    private static let sBase: UInt32 = 0xAC00, lBase: UInt32 = 0x1100, vBase: UInt32 = 0x1161, tBase: UInt32 = 0x11A7
    private static let lCount: UInt32 = 19, vCount: UInt32 = 21, tCount: UInt32 = 28
    private static let nCount: UInt32 = 21 * 28, sCount: UInt32 = 19 * 21 * 28

    private static func decompose(_ c: UInt32, compat: Bool, into out: inout [UInt32], depth: Int = 0) {
        if c >= sBase && c < sBase + sCount {
            let s = c - sBase
            out.append(lBase + s / nCount)
            out.append(vBase + (s % nCount) / tCount)
            let t = s % tCount
            if t != 0 { out.append(tBase + t) }
            return
        }
        if c < 0xA0 || depth > 8 { out.append(c); return }
        guard let e = data.decomp[c], compat || !e.compat else { out.append(c); return }
        let m = data.mapping
        for i in Int(e.start)..<Int(e.start + e.count) { decompose(m[i], compat: compat, into: &out, depth: depth + 1) }
    }

    static func normalize(_ input: [UInt32], _ form: Form) -> [UInt32] {
        // Fast path: ASCII is invariant under every form.
        if !input.contains(where: { $0 >= 0x80 }) { return input }
        let compat = form == .nfkd || form == .nfkc
        var out: [UInt32] = []
        out.reserveCapacity(input.count + 8)
        for c in input { decompose(c, compat: compat, into: &out) }
        // Canonical ordering: stable sort of each run of non-starters by combining class.
        var i = 0
        while i < out.count {
            if combiningClass(out[i]) == 0 { i += 1; continue }
            var j = i
            while j < out.count && combiningClass(out[j]) != 0 { j += 1 }
            if j - i > 1 {
                let run = out[i..<j].enumerated().sorted { a, b in
                    let ca = combiningClass(a.element), cb = combiningClass(b.element)
                    return ca != cb ? ca < cb : a.offset < b.offset
                }.map { $0.element }
                out.replaceSubrange(i..<j, with: run)
            }
            i = j
        }
        if form == .nfd || form == .nfkd { return out }
        return compose(out)
    }

    private static func compose(_ s: [UInt32]) -> [UInt32] {
        if s.isEmpty { return s }
        var out: [UInt32] = []
        out.reserveCapacity(s.count)
        var starter = -1  // index in out of the last starter
        var lastClass: Int = -1
        for c in s {
            let cc = Int(combiningClass(c))
            if starter >= 0 {
                let st = out[starter]
                // Blocked if a character in between has a class >= this one (or is a starter).
                let blocked = out.count - 1 > starter && (lastClass == 0 || lastClass >= cc)
                if !blocked {
                    if let x = composePair(st, c) {
                        out[starter] = x
                        continue
                    }
                }
            }
            if cc == 0 {
                starter = out.count
                lastClass = -1
            } else {
                lastClass = cc
            }
            out.append(c)
            if cc == 0 { lastClass = -1 }
        }
        return out
    }

    private static func composePair(_ a: UInt32, _ b: UInt32) -> UInt32? {
        // Hangul LV and LVT.
        if a >= lBase && a < lBase + lCount && b >= vBase && b < vBase + vCount {
            return sBase + ((a - lBase) * vCount + (b - vBase)) * tCount
        }
        if a >= sBase && a < sBase + sCount && (a - sBase) % tCount == 0 && b > tBase && b < tBase + tCount {
            return a + (b - tBase)
        }
        return data.compose[UInt64(a) << 21 | UInt64(b)]
    }
}

/// A sorted set of code point ranges, parsed from a "start-end;start-end" hex string.
struct ScalarRanges {
    private var lo: [UInt32] = []
    private var hi: [UInt32] = []

    init(_ table: String) {
        for item in table.split(separator: ";") {
            let r = item.split(separator: "-")
            guard r.count == 2, let a = UInt32(r[0], radix: 16), let b = UInt32(r[1], radix: 16) else { continue }
            lo.append(a); hi.append(b)
        }
    }

    func contains(_ c: UInt32) -> Bool {
        var l = 0, h = lo.count
        while l < h {
            let m = (l + h) >> 1
            if hi[m] < c { l = m + 1 } else { h = m }
        }
        return l < lo.count && lo[l] <= c
    }
}

/// Character classes as the `tokenizers` library's (older) Unicode tables have them.
enum HFCategoryTables {
    static let marks = ScalarRanges(UnicodeNormTables.marks)
    static let bertMarks = ScalarRanges(UnicodeNormTables.bertMarks)
    static let bertControl = ScalarRanges(UnicodeNormTables.bertControl)
    static let punctuation = ScalarRanges(UnicodeNormTables.punctuation)
    static let word = ScalarRanges(UnicodeNormTables.word)
}
