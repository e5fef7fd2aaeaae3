// Whole model load from GGUF bytes (reader, architecture and shape checks, tokenizer, chat
// template); a model that loads must also run: two tokens are evaluated in a small session (an
// encoder embeds a short text instead).
// libfuzzer: -max_len=524288 -malloc_limit_mb=256
@testable import MIICore

func fuzzOne(_ bytes: UnsafeRawBufferPointer) {
    guard let file = try? MappedFile(copying: bytes, name: "fuzz.gguf") else { return }
    var opts = ModelOptions()
    opts.threads = 1
    guard let model = try? Model(file: file, options: opts) else { return }
    // A GGUF model always has a tokenizer (only Hugging Face folders may lack one).
    guard let tok = model.tokenizer, let gguf = model.gguf else {
        fuzzFail("a GGUF model loaded without its tokenizer or GGUF file")
        return
    }
    let ids = (try? tok.encode("Hi there", addSpecial: true, parseSpecial: true)) ?? []
    _ = tok.decode(ids, skipSpecial: false)
    _ = try? model.chatTemplate?.apply([ChatMessage(role: "user", content: "Hi")])
    for key in gguf.metadataKeys { _ = model.metadataText(key) }
    if model.isEncoder {
        // An encoder (GGUF bert) computes embeddings instead of logits.
        if let e = try? model.embed(["Hi there"], threads: 1), e.count != 1 || e[0].count != model.sentenceEmbeddingDimension {
            fuzzFail("embed returned \(e.count) vectors of \(e.first?.count ?? 0) for one text")
        }
        return
    }
    var sopts = SessionOptions()
    sopts.contextLength = 8
    sopts.threads = 1
    guard let session = try? Session(model: model, options: sopts) else { return }
    let prompt = Array(ids.prefix(2)).filter { $0 >= 0 && Int($0) < model.vocabSize }
    if let logits = try? session.evaluate(prompt.isEmpty ? [0] : prompt), logits.count != model.vocabSize {
        fuzzFail("evaluate returned \(logits.count) logits for a vocabulary of \(model.vocabSize)")
    }
}
