// Unicode helpers for the tokenizers: code point classification (the same categories llama.cpp's
// unicode.cpp uses for its pre-tokenizer regexes), UTF-8 decoding/encoding on raw bytes, and the
// GPT-2 byte <-> unicode mapping used by byte-level BPE.
//
// Everything here works on bytes and Unicode scalar values, never on Swift `Character`s or `String`
// comparison: String equality is canonical equivalence ("é" == "e\u{301}"), which is wrong for
// vocabulary lookups.

/// Classification bits of one code point. The category bits mirror Unicode general categories
/// (`\p{N}`, `\p{L}`, ...); `whitespace` is llama.cpp's whitespace set (`\s`), which is not a category.
enum CharFlags {
    static let undefined: UInt16 = 0x0001   // Cn (unassigned)
    static let number: UInt16 = 0x0002      // \p{N}
    static let letter: UInt16 = 0x0004      // \p{L}
    static let separator: UInt16 = 0x0008   // \p{Z}
    static let mark: UInt16 = 0x0010        // \p{M}
    static let punctuation: UInt16 = 0x0020 // \p{P}
    static let symbol: UInt16 = 0x0040      // \p{S}
    static let control: UInt16 = 0x0080     // \p{C} other than Cn
    static let whitespace: UInt16 = 0x0100  // \s

    /// Flags of a scalar value (any UInt32; values that are not scalars are `undefined`).
    @inline(__always)
    static func of(_ c: UInt32) -> UInt16 {
        if c < 0x10000 { return bmpTable[Int(c)] }
        return compute(c)
    }

    /// Flags for the Basic Multilingual Plane, computed once (128 KiB).
    static let bmpTable: [UInt16] = {
        var t = [UInt16](repeating: 0, count: 0x10000)
        var c = 0
        for r in uniformBMPRanges {
            while c < r.lowerBound { t[c] = compute(UInt32(c)); c += 1 }
            let f = compute(UInt32(r.lowerBound))
            for i in r { t[i] = f }
            c = r.upperBound + 1
        }
        while c < 0x10000 { t[c] = compute(UInt32(c)); c += 1 }
        return t
    }()

    /// BMP ranges whose scalars all have the same flags, filled from their first scalar instead of
    /// asking the Unicode tables 47k times (that took ~5 ms of every model load): CJK Unified
    /// Ideographs Extension A and the main block (Lo, complete since Unicode 14), Hangul syllables
    /// (Lo), surrogates and the private use area. `TokenizerTests` checks the table against
    /// `compute` for every BMP scalar, so a Unicode version that breaks a range fails there.
    static let uniformBMPRanges: [ClosedRange<Int>] = [
        0x3400...0x4DBF, 0x4E00...0x9FFF, 0xAC00...0xD7A3, 0xD800...0xDFFF, 0xE000...0xF8FF,
    ]

    static func compute(_ c: UInt32) -> UInt16 {
        var f: UInt16
        if let s = Unicode.Scalar(c) {
            switch s.properties.generalCategory {
            case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
                f = letter
            case .decimalNumber, .letterNumber, .otherNumber:
                f = number
            case .spaceSeparator, .lineSeparator, .paragraphSeparator:
                f = separator
            case .nonspacingMark, .spacingMark, .enclosingMark:
                f = mark
            case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
                 .initialPunctuation, .finalPunctuation, .otherPunctuation:
                f = punctuation
            case .mathSymbol, .currencySymbol, .modifierSymbol, .otherSymbol:
                f = symbol
            case .control, .format, .surrogate, .privateUse:
                f = control
            case .unassigned:
                f = undefined
            @unknown default:
                f = undefined
            }
        } else if c >= 0xD800 && c <= 0xDFFF {
            f = control  // surrogate code points (Cs) cannot occur in valid UTF-8 anyway
        } else {
            f = undefined
        }
        if isWhitespace(c) { f |= whitespace }
        return f
    }

    /// The White_Space property (the set llama.cpp and the Rust/Python regex engines use for `\s`).
    @inline(__always)
    static func isWhitespace(_ c: UInt32) -> Bool {
        switch c {
        case 0x09...0x0D, 0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
            return true
        default:
            return false
        }
    }
}

enum UTF8Util {
    /// True if `b` is well-formed UTF-8 (no overlong forms, surrogates, or scalars above U+10FFFF),
    /// the same rule as `String(validating:)`, without making a String.
    static func isValid(_ b: UnsafeBufferPointer<UInt8>) -> Bool {
        let n = b.count
        var i = 0
        while i < n {
            let b0 = b[i]
            if b0 < 0x80 { i += 1; continue }
            if b0 < 0xC2 { return false }  // a continuation byte, or an overlong 2-byte form
            if b0 < 0xE0 {
                if i + 1 >= n || b[i + 1] & 0xC0 != 0x80 { return false }
                i += 2
            } else if b0 < 0xF0 {
                if i + 2 >= n { return false }
                let b1 = b[i + 1], b2 = b[i + 2]
                if b1 & 0xC0 != 0x80 || b2 & 0xC0 != 0x80 { return false }
                if b0 == 0xE0 && b1 < 0xA0 { return false }  // overlong
                if b0 == 0xED && b1 >= 0xA0 { return false }  // surrogate
                i += 3
            } else if b0 < 0xF5 {
                if i + 3 >= n { return false }
                let b1 = b[i + 1], b2 = b[i + 2], b3 = b[i + 3]
                if b1 & 0xC0 != 0x80 || b2 & 0xC0 != 0x80 || b3 & 0xC0 != 0x80 { return false }
                if b0 == 0xF0 && b1 < 0x90 { return false }  // overlong
                if b0 == 0xF4 && b1 >= 0x90 { return false }  // above U+10FFFF
                i += 4
            } else {
                return false
            }
        }
        return true
    }

    /// Decodes valid UTF-8 (as produced by Swift `String`) into scalar values and the byte offset of
    /// each scalar (`offsets.count == scalars.count + 1`, the last entry is the total length).
    /// Invalid sequences, which cannot come from a `String`, decode to U+FFFD one byte at a time.
    static func decode(_ bytes: UnsafeBufferPointer<UInt8>, scalars: inout [UInt32], offsets: inout [Int]) {
        scalars.removeAll(keepingCapacity: true)
        offsets.removeAll(keepingCapacity: true)
        scalars.reserveCapacity(bytes.count)
        offsets.reserveCapacity(bytes.count + 1)
        var i = 0
        let n = bytes.count
        while i < n {
            offsets.append(i)
            let (c, len) = decodeOne(bytes, at: i)
            scalars.append(c)
            i += len
        }
        offsets.append(n)
    }

    /// Decodes one scalar at `i`; returns (U+FFFD, 1) for an invalid or truncated sequence.
    @inline(__always)
    static func decodeOne(_ b: UnsafeBufferPointer<UInt8>, at i: Int) -> (UInt32, Int) {
        let n = b.count
        let b0 = b[i]
        if b0 < 0x80 { return (UInt32(b0), 1) }
        @inline(__always) func cont(_ k: Int) -> UInt32? {
            guard k < n, b[k] & 0xC0 == 0x80 else { return nil }
            return UInt32(b[k] & 0x3F)
        }
        if b0 >= 0xC2 && b0 <= 0xDF {
            if let c1 = cont(i + 1) { return ((UInt32(b0 & 0x1F) << 6) | c1, 2) }
        } else if b0 >= 0xE0 && b0 <= 0xEF {
            if let c1 = cont(i + 1), let c2 = cont(i + 2) {
                let v = (UInt32(b0 & 0x0F) << 12) | (c1 << 6) | c2
                if v >= 0x800 && !(v >= 0xD800 && v <= 0xDFFF) { return (v, 3) }
            }
        } else if b0 >= 0xF0 && b0 <= 0xF4 {
            if let c1 = cont(i + 1), let c2 = cont(i + 2), let c3 = cont(i + 3) {
                let v = (UInt32(b0 & 0x07) << 18) | (c1 << 12) | (c2 << 6) | c3
                if v >= 0x10000 && v <= 0x10FFFF { return (v, 4) }
            }
        }
        return (0xFFFD, 1)
    }

    /// Appends the UTF-8 encoding of a scalar value.
    @inline(__always)
    static func append(_ c: UInt32, to out: inout [UInt8]) {
        if c < 0x80 {
            out.append(UInt8(c))
        } else if c < 0x800 {
            out.append(UInt8(0xC0 | (c >> 6)))
            out.append(UInt8(0x80 | (c & 0x3F)))
        } else if c < 0x10000 {
            out.append(UInt8(0xE0 | (c >> 12)))
            out.append(UInt8(0x80 | ((c >> 6) & 0x3F)))
            out.append(UInt8(0x80 | (c & 0x3F)))
        } else {
            out.append(UInt8(0xF0 | (c >> 18)))
            out.append(UInt8(0x80 | ((c >> 12) & 0x3F)))
            out.append(UInt8(0x80 | ((c >> 6) & 0x3F)))
            out.append(UInt8(0x80 | (c & 0x3F)))
        }
    }

    /// Length of the longest prefix of `bytes` that cannot be changed by appending more bytes:
    /// everything except a trailing sequence that is a valid but incomplete start of a multi-byte
    /// character. Invalid bytes are part of the prefix (they decode to U+FFFD whatever follows).
    static func completePrefixLength(_ bytes: [UInt8]) -> Int {
        let n = bytes.count
        // An incomplete sequence is at most 3 bytes long: look for its lead byte.
        var start = n - 1
        let lowest = max(0, n - 3)
        while start >= lowest {
            let b = bytes[start]
            if b & 0xC0 != 0x80 { break }  // found a non-continuation byte
            start -= 1
        }
        if start < lowest { return n }  // only continuation bytes: nothing to wait for
        let lead = bytes[start]
        let need: Int
        switch lead {
        case 0xC2...0xDF: need = 2
        case 0xE0...0xEF: need = 3
        case 0xF0...0xF4: need = 4
        default: return n  // ASCII or an invalid lead byte
        }
        let have = n - start
        if have >= need { return n }
        // Check that the bytes present form a valid prefix (the second byte has tighter ranges).
        if have >= 2 {
            let b1 = bytes[start + 1]
            let ok: Bool
            switch lead {
            case 0xE0: ok = b1 >= 0xA0 && b1 <= 0xBF
            case 0xED: ok = b1 >= 0x80 && b1 <= 0x9F
            case 0xF0: ok = b1 >= 0x90 && b1 <= 0xBF
            case 0xF4: ok = b1 >= 0x80 && b1 <= 0x8F
            default: ok = b1 & 0xC0 == 0x80
            }
            if !ok { return n }
        }
        if have == 3 && bytes[start + 2] & 0xC0 != 0x80 { return n }
        return start
    }
}

/// GPT-2's reversible mapping of the 256 byte values onto printable code points: printable Latin-1
/// bytes map to themselves, the others to U+0100 onwards in byte order.
enum ByteLevel {
    static let byteToScalar: [UInt32] = {
        var table = [UInt32](repeating: 0, count: 256)
        var next: UInt32 = 256
        for b in 0..<256 {
            if (0x21...0x7E).contains(b) || (0xA1...0xAC).contains(b) || (0xAE...0xFF).contains(b) {
                table[b] = UInt32(b)
            } else {
                table[b] = next
                next += 1
            }
        }
        return table
    }()

    /// Inverse of `byteToScalar`, indexed by scalar value (all mapped scalars are < 0x144); -1 if unmapped.
    static let scalarToByte: [Int16] = {
        var table = [Int16](repeating: -1, count: 0x144)
        for b in 0..<256 { table[Int(byteToScalar[b])] = Int16(b) }
        return table
    }()

    /// UTF-8 encoding of the mapped code point of each byte.
    static let byteToUTF8: [[UInt8]] = byteToScalar.map { c in
        var out: [UInt8] = []
        UTF8Util.append(c, to: &out)
        return out
    }
}
