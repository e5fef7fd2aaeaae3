// Hugging Face tokenizer loading (tokenizer.json + tokenizer_config.json) and the loaded tokenizer at
// work. The input is split at 0x00 bytes (JSON text never holds a raw NUL): tokenizer.json, then
// optionally tokenizer_config.json, then a text to encode and decode.
// requires: fromHuggingFace(tokenizerJSON in Sources/MIICore
// libfuzzer: -max_len=262144 -malloc_limit_mb=128
@testable import MIICore

func fuzzOne(_ bytes: UnsafeRawBufferPointer) {
    var parts: [[UInt8]] = [[]]
    for b in bytes {
        if b == 0 && parts.count < 3 { parts.append([]) } else { parts[parts.count - 1].append(b) }
    }
    let config: [UInt8]? = parts.count > 1 && !parts[1].isEmpty ? parts[1] : nil
    guard let tok = try? Tokenizer.fromHuggingFace(tokenizerJSON: parts[0], tokenizerConfigJSON: config) else { return }
    let text = parts.count > 2 ? parts[2] : Array("Hello world! <|endoftext|> 123 héllo\n\t ".utf8)
    let ids = text.withUnsafeBufferPointer { tok.encode(bytes: $0, addSpecial: true, parseSpecial: true) }
    for id in ids where id < 0 || Int(id) >= tok.vocabSize {
        fuzzFail("encode produced id \(id) outside the vocabulary of \(tok.vocabSize)")
    }
    _ = tok.decode(ids, skipSpecial: false)
    _ = tok.decode(ids, skipSpecial: true, cleanUpSpaces: true)
    var stream = StreamingDetokenizer(tokenizer: tok)
    for id in ids { _ = stream.push(id) }
    _ = stream.flush()
    _ = tok.decode([-1, Int32(tok.vocabSize), Int32.max], skipSpecial: false)
}
