// Detokenizing arbitrary id sequences (out-of-range and negative ids included) with real
// vocabularies, whole and streamed. Byte 0 picks the vocabulary, byte 1 the flags; then 2-byte ids
// (mostly in range) or, with flag 4, raw 4-byte ids. Streaming must give the same text as decoding
// the same pieces at once.
// vocabularies: all
// libfuzzer: -max_len=4096 -malloc_limit_mb=128
@testable import MIICore

func fuzzOne(_ bytes: UnsafeRawBufferPointer) {
    if bytes.count < 2 { return }
    let toks = fuzzTokenizers
    let tok = toks[Int(bytes[0]) % toks.count].tokenizer
    let flags = bytes[1]
    var ids: [Int32] = []
    var i = 2
    if flags & 4 == 0 {
        while i + 2 <= bytes.count {
            let v = Int(bytes[i]) | Int(bytes[i + 1]) << 8
            ids.append(Int32(v % (tok.vocabSize + 8)))
            i += 2
        }
    } else {
        while i + 4 <= bytes.count {
            ids.append(Int32(bitPattern: UInt32(bytes[i]) | UInt32(bytes[i + 1]) << 8
                | UInt32(bytes[i + 2]) << 16 | UInt32(bytes[i + 3]) << 24))
            i += 4
        }
    }
    let skip = flags & 1 != 0
    _ = tok.decode(ids, skipSpecial: skip, cleanUpSpaces: flags & 2 != 0)
    var stream = StreamingDetokenizer(tokenizer: tok, skipSpecial: skip)
    var streamed = ""
    var all: [UInt8] = []
    for id in ids {
        streamed += stream.push(id)
        tok.appendPiece(id, special: !skip, to: &all)
        _ = tok.piece(id)
        _ = tok.tokenText(id)
        _ = tok.isControl(id)
        _ = tok.isEndOfGeneration(id)
    }
    streamed += stream.flush()
    let whole = String(decoding: all, as: UTF8.self)
    if streamed != whole {
        fuzzFail("streamed text \(Array(streamed.utf8)) differs from the whole \(Array(whole.utf8))")
    }
}
