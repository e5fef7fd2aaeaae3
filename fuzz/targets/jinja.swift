// The Jinja chat-template interpreter: parsing any source, rendering it with any messages and
// variables. The input is split at 0x00 bytes: the template source, then the messages as a JSON
// array (default: a short conversation), then extra variables as a JSON object; the last byte of
// the source picks add_generation_prompt. Limits (steps, recursion, output size) must turn runaway
// templates into errors, not hangs or memory exhaustion.
// requires: struct JinjaTemplate in Sources/MIICore
// vocabularies: first
// libfuzzer: -max_len=32768 -malloc_limit_mb=128
@testable import MIICore

// Built per input, not a global: LeakSanitizer cannot see pointers inside Swift's tagged enum
// payloads stored in globals and would report them as leaked.
func defaultMessages() -> [JSONValue] { [
    .object([("role", .string("system")), ("content", .string("Be brief."))]),
    .object([("role", .string("user")), ("content", .string("Hi <b>there</b>"))]),
    .object([("role", .string("assistant")), ("content", .string("Hello!"))]),
    .object([("role", .string("user")), ("content", .string("2+2?"))]),
] }

func fuzzOne(_ bytes: UnsafeRawBufferPointer) {
    var parts: [UnsafeRawBufferPointer] = []
    var start = 0
    for i in 0...bytes.count where i == bytes.count || (bytes[i] == 0 && parts.count < 2) {
        parts.append(UnsafeRawBufferPointer(rebasing: bytes[start..<i]))
        start = i + 1
    }
    let source = String(decoding: parts[0], as: UTF8.self)
    let tok: Tokenizer? = parts[0].first.map { $0 & 1 } == 1 ? fuzzTokenizers[0].tokenizer : nil
    let template = ChatTemplate(source: source, tokenizer: tok)
    var messages = defaultMessages()
    if parts.count > 1, let v = try? JSONValue.parse(parts[1]) {
        messages = v.array ?? [v]
    }
    var variables: [String: JSONValue] = [:]
    if parts.count > 2, let v = try? JSONValue.parse(parts[2]), let o = v.object {
        for (k, x) in o { variables[k] = x }
    }
    let addPrompt = (parts[0].last ?? 0) & 1 == 1
    _ = try? template.render(messages: messages, addGenerationPrompt: addPrompt, variables: variables)
}
