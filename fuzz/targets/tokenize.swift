// Tokenizing arbitrary bytes (invalid UTF-8 included) with real vocabularies (SmolLM2 and llama.cpp's
// vocab-only GGUFs, listed in MII_FUZZ_VOCABS by run.sh). Byte 0 picks the vocabulary, byte 1 the
// flags; the rest is the text. Ids must be in range and decode without trouble.
// vocabularies: all
// libfuzzer: -max_len=4096 -malloc_limit_mb=128
@testable import MIICore

func fuzzOne(_ bytes: UnsafeRawBufferPointer) {
    if bytes.count < 2 { return }
    let toks = fuzzTokenizers
    let tok = toks[Int(bytes[0]) % toks.count].tokenizer
    let flags = bytes[1]
    let text = UnsafeRawBufferPointer(rebasing: bytes[2...]).bindMemory(to: UInt8.self)
    let ids = tok.encode(bytes: text, addSpecial: flags & 1 != 0, parseSpecial: flags & 2 != 0)
    for id in ids where id < 0 || Int(id) >= tok.vocabSize {
        fuzzFail("encode produced id \(id) outside the vocabulary of \(tok.vocabSize)")
    }
    _ = tok.decode(ids, skipSpecial: flags & 4 != 0, cleanUpSpaces: flags & 8 != 0)
    if flags & 16 != 0 {
        // The String entry point (valid UTF-8 only) and the pre-tokenizer.
        let s = String(decoding: text, as: UTF8.self)
        _ = try? tok.encode(s, addSpecial: false, parseSpecial: flags & 2 != 0)
        _ = tok.preTokenize(s)
    }
}
