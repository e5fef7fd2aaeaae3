// The decoders of Hugging Face tokenizer.json files ("decoder" key): they turn the token strings back
// into text (decoders/*.rs). Tokens are UTF-8 byte arrays here.
//
// `decodeChain` is the exact chain of tokenizers' Tokenizer::decode. `renderPiece` is the text one
// token contributes in the middle of a stream (no first-token special cases, no Fuse/Strip), used for
// `Tokenizer.piece` and the streaming detokenizer.

indirect enum HFDecoder {
    case byteLevel
    case wordPiece(prefix: [UInt8], cleanup: Bool)
    case metaspace(replacement: [UInt8], prependScheme: HFPrependScheme)
    case replace(HFTextPattern, [UInt32])
    case byteFallback
    case fuse
    case strip(content: UInt32, start: Int, stop: Int)
    case bpe(suffix: [UInt8])
    case ctc(pad: [UInt8], delimiter: [UInt8], cleanup: Bool)
    case sequence([HFDecoder])

    func decodeChain(_ tokens: [[UInt8]]) -> [[UInt8]] {
        switch self {
        case .sequence(let list):
            var x = tokens
            for d in list { x = d.decodeChain(x) }
            return x
        case .byteLevel:
            var bytes: [UInt8] = []
            for t in tokens { HFDecoder.unmapByteLevel(t, into: &bytes) }
            return [Array(String(decoding: bytes, as: UTF8.self).utf8)]
        case .wordPiece(let prefix, let cleanup):
            return tokens.enumerated().map { i, t in
                var t = t
                if i != 0 {
                    if !prefix.isEmpty && t.starts(with: prefix) { t.removeFirst(prefix.count) } else { t.insert(0x20, at: 0) }
                }
                return cleanup ? HFDecoder.wordPieceCleanup(t) : t
            }
        case .metaspace(let rep, let scheme):
            return tokens.enumerated().map { i, t in
                HFDecoder.replaceBytes(t, rep, with: i == 0 && scheme != .never ? [] : [0x20])
            }
        case .replace(let pattern, let content):
            return tokens.map { t in
                let s = HFChar.scalars(t)
                return HFChar.utf8(HFNormalizer.replace(pattern, content).apply(s))
            }
        case .byteFallback:
            var out: [[UInt8]] = []
            var pending: [UInt8] = []
            func flush() {
                if pending.isEmpty { return }
                if UTF8Util.completePrefixLength(pending) == pending.count && pending.withUnsafeBufferPointer(UTF8Util.isValid) {
                    out.append(pending)
                } else {
                    for _ in pending { out.append([0xEF, 0xBF, 0xBD]) }
                }
                pending.removeAll()
            }
            for t in tokens {
                if let b = Tokenizer.byteValue(t[...]) {
                    pending.append(b)
                } else {
                    flush()
                    out.append(t)
                }
            }
            flush()
            return out
        case .fuse:
            return [tokens.flatMap { $0 }]
        case .strip(let content, let start, let stop):
            return tokens.map { t in
                let s = HFChar.scalars(t)
                var lo = 0
                for i in 0..<min(start, s.count) { if s[i] == content { lo = i + 1 } else { break } }
                var hi = s.count
                var k = 0
                while k < stop && s.count - k - 1 >= 0 {
                    let i = s.count - k - 1
                    if s[i] == content { hi = i } else { break }
                    k += 1
                }
                return lo < hi ? HFChar.utf8(Array(s[lo..<hi])) : []
            }
        case .bpe(let suffix):
            let n = tokens.count - 1
            return tokens.enumerated().map { i, t in HFDecoder.replaceBytes(t, suffix, with: i == n ? [] : [0x20]) }
        case .ctc(let pad, let delimiter, let cleanup):
            // Collapse repeats, drop the pad token, the delimiter becomes a space.
            var out: [[UInt8]] = []
            var prev: [UInt8]? = nil
            for t in tokens {
                defer { prev = t }
                if let p = prev, p == t { continue }
                if t == pad { continue }
                var x = HFDecoder.replaceBytes(t, delimiter, with: [0x20])
                if cleanup { x = HFDecoder.wordPieceCleanup(x) }
                if !x.isEmpty { out.append(x) }
            }
            return out
        }
    }

    /// The bytes a token stands for in the middle of a stream.
    func renderPiece(_ t: [UInt8]) -> [UInt8] {
        switch self {
        case .sequence(let list):
            var x = t
            for d in list { x = d.renderPiece(x) }
            return x
        case .byteLevel:
            var bytes: [UInt8] = []
            HFDecoder.unmapByteLevel(t, into: &bytes)
            return bytes
        case .wordPiece(let prefix, _):
            if !prefix.isEmpty && t.starts(with: prefix) { return Array(t[prefix.count...]) }
            return [0x20] + t
        case .metaspace(let rep, _):
            return HFDecoder.replaceBytes(t, rep, with: [0x20])
        case .replace:
            return decodeChain([t]).first ?? []
        case .byteFallback:
            if let b = Tokenizer.byteValue(t[...]) { return [b] }
            return t
        case .fuse, .strip, .ctc:
            return t
        case .bpe(let suffix):
            return HFDecoder.replaceBytes(t, suffix, with: [0x20])
        }
    }

    /// Byte-level characters back to bytes; a token with other characters stays as its UTF-8 text.
    static func unmapByteLevel(_ t: [UInt8], into out: inout [UInt8]) {
        t.withUnsafeBufferPointer { unmapByteLevel($0, into: &out) }
    }

    static func unmapByteLevel(_ t: ArraySlice<UInt8>, into out: inout [UInt8]) {
        t.withUnsafeBufferPointer { unmapByteLevel($0, into: &out) }
    }

    static func unmapByteLevel(_ b: UnsafeBufferPointer<UInt8>, into out: inout [UInt8]) {
        let mark = out.count
        var i = 0
        while i < b.count {
            let (c, len) = UTF8Util.decodeOne(b, at: i)
            i += len
            if c < 0x144, ByteLevel.scalarToByte[Int(c)] >= 0 {
                out.append(UInt8(ByteLevel.scalarToByte[Int(c)]))
            } else {
                out.removeSubrange(mark...)
                out.append(contentsOf: b)
                return
            }
        }
    }

    static func replaceBytes(_ t: [UInt8], _ what: [UInt8], with rep: [UInt8]) -> [UInt8] {
        if what.isEmpty || t.count < what.count { return t }
        var out: [UInt8] = []
        out.reserveCapacity(t.count)
        var i = 0
        while i < t.count {
            if i + what.count <= t.count && t[i] == what[0] && Array(t[i..<(i + what.count)]) == what {
                out.append(contentsOf: rep)
                i += what.count
            } else {
                out.append(t[i])
                i += 1
            }
        }
        return out
    }

    /// decoders/wordpiece.rs cleanup.
    static func wordPieceCleanup(_ t: [UInt8]) -> [UInt8] {
        var x = t
        for (a, b) in [(" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"), (" 'm", "'m"),
                       (" do not", " don't"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")] {
            x = replaceBytes(x, Array(a.utf8), with: Array(b.utf8))
        }
        return x
    }
}
