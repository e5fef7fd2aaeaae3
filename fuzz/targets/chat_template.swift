// Chat-template recognition and rendering. The input is split at 0x00 bytes: the template source,
// then role/content pairs; the first byte of the template part also picks the generation prompt.
// The tokenizer (for the BOS text) is the first of MII_FUZZ_VOCABS.
// vocabularies: first
// libfuzzer: -max_len=16384 -malloc_limit_mb=128
@testable import MIICore

func fuzzOne(_ bytes: UnsafeRawBufferPointer) {
    let parts = splitAtZero(bytes)
    let source = parts[0]
    let tok: Tokenizer? = source.utf8.first.map { $0 & 1 } == 1 ? fuzzTokenizers[0].tokenizer : nil
    let template = ChatTemplate(source: source, tokenizer: tok)
    var messages: [ChatMessage] = []
    var i = 1
    while i < parts.count {
        messages.append(ChatMessage(role: parts[i], content: i + 1 < parts.count ? parts[i + 1] : ""))
        i += 2
    }
    _ = try? template.apply(messages, addGenerationPrompt: source.utf8.count & 1 == 0)
}
