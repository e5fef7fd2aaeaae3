import Foundation
@testable import MIICore
import XCTest

/// The Tokenizer API on tokenizers loaded from tokenizer.json: special ids from tokenizer_config.json,
/// end-of-generation ids, chat template, pieces and streaming.
final class HFTokenizerAPITests: XCTestCase {
    func testSmolLM2Config() throws {
        let tok = try HFTokenizerTests.load("smollm2")
        XCTAssertEqual(tok.kind, .bpe)
        XCTAssertEqual(tok.vocabSize, 49152)
        XCTAssertEqual(tok.bosId, tok.tokenId(forText: "<|im_start|>"))
        XCTAssertEqual(tok.eosId, tok.tokenId(forText: "<|im_end|>"))
        XCTAssertEqual(tok.unkId, tok.tokenId(forText: "<|endoftext|>"))
        XCTAssertEqual(tok.padId, tok.tokenId(forText: "<|im_end|>"))
        XCTAssertFalse(tok.addBOS)
        XCTAssertFalse(tok.addEOS)
        XCTAssertNil(tok.modelMaxLength)  // 1e30 in the file: no real limit
        for t in ["<|im_end|>", "<|endoftext|>"] { XCTAssertTrue(tok.isEndOfGeneration(tok.tokenId(forText: t)!), t) }
        XCTAssertFalse(tok.isEndOfGeneration(tok.tokenId(forText: "<|im_start|>")!))
        XCTAssertTrue(tok.isControl(tok.tokenId(forText: "<|im_start|>")!))
        XCTAssertFalse(tok.isControl(tok.tokenId(forText: "Hello")!))
        XCTAssertEqual(tok.tokenText(tok.tokenId(forText: "Ġworld")!), "Ġworld")
        XCTAssertEqual(tok.piece(tok.tokenId(forText: "Ġworld")!), Array(" world".utf8))
        XCTAssertEqual(tok.piece(-1), [])
        XCTAssertEqual(tok.piece(Int32(tok.vocabSize)), [])
    }

    /// The HF pipeline and the GGUF vocabulary of the same model give the same ids.
    func testSmolLM2AgreesWithGGUF() throws {
        let hf = try HFTokenizerTests.load("smollm2")
        let gguf = try Tokenizer.fromGGUF(GGUFFile(path: try Fixtures.smolLM2()))
        for t in ["Hello world", "def f(x):\n    return x  # ok\n\n", "日本語 😀 naïve 12345", "<|im_start|>user\nHi<|im_end|>\n"] {
            XCTAssertEqual(try hf.encode(t, addSpecial: false, parseSpecial: true), try gguf.encode(t, addSpecial: false, parseSpecial: true), t)
        }
    }

    func testStreamingMatchesDecode() throws {
        for name in ["smollm2", "llama_spm_bpe", "mistral_metaspace_bpe", "unigram_byte_fallback", "gpt2_bpe"] {
            let tok = try HFTokenizerTests.load(name)
            for text in ["Hello world, 日本語 😀 e\u{301}!", "x  y\n\n z"] {
                let ids = try tok.encode(text, addSpecial: false, parseSpecial: true)
                var s = StreamingDetokenizer(tokenizer: tok)
                var streamed = ""
                for id in ids { streamed += s.push(id) }
                streamed += s.flush()
                var decoded = tok.decode(ids, skipSpecial: false)
                // The stream continues a prompt: the leading space the decoders strip is kept.
                if streamed.hasPrefix(" ") && !decoded.hasPrefix(" ") { decoded = " " + decoded }
                XCTAssertEqual(streamed, decoded, "\(name): \(text)")
            }
        }
    }

    func testChatTemplateFile() throws {
        let dir = Fixtures.repo.appendingPathComponent(".cache/hf/smollm2-tokenizer")
        let tj = try [UInt8](Data(contentsOf: dir.appendingPathComponent("tokenizer.json")))
        let jinja = try [UInt8](Data(contentsOf: dir.appendingPathComponent("chat_template.jinja")))
        let tok = try Tokenizer.fromHuggingFace(tokenizerJSON: tj, tokenizerConfigJSON: nil, chatTemplateFile: jinja)
        XCTAssertTrue(tok.chatTemplate?.contains("<|im_start|>") == true)
        XCTAssertThrowsError(try Tokenizer.fromHuggingFace(tokenizerJSON: tj, tokenizerConfigJSON: nil, chatTemplateFile: [0xFF, 0x41]))
    }

    func testLlamaConfig() throws {
        let tok = try HFTokenizerTests.load("llama_spm_bpe")
        XCTAssertEqual(tok.chatTemplate, "{{ messages }}")  // the "default" of a named list
        XCTAssertTrue(tok.addBOS)
        XCTAssertFalse(tok.addEOS)
        XCTAssertEqual(tok.bosId, tok.tokenId(forText: "<s>"))
        XCTAssertTrue(tok.isEndOfGeneration(tok.tokenId(forText: "</s>")!))
        XCTAssertEqual(tok.piece(tok.tokenId(forText: "<0x41>")!), [0x41])
        let ids = try tok.encode("Hello", addSpecial: true, parseSpecial: true)
        XCTAssertEqual(ids.first, tok.bosId)
    }

    func testAddEOSFromConfigRebuildsTemplate() throws {
        let url = Fixtures.root.appendingPathComponent("hf_tokenizers/llama_spm_bpe.tokenizer.json")
        let tj = try [UInt8](Data(contentsOf: url))
        let cfg = Array(#"{"bos_token": "<s>", "eos_token": "</s>", "add_bos_token": false, "add_eos_token": true}"#.utf8)
        let tok = try Tokenizer.fromHuggingFace(tokenizerJSON: tj, tokenizerConfigJSON: cfg)
        let ids = try tok.encode("Hello", addSpecial: true, parseSpecial: true)
        XCTAssertNotEqual(ids.first, tok.bosId)
        XCTAssertEqual(ids.last, tok.eosId)
        XCTAssertTrue(tok.addEOS)
        XCTAssertFalse(tok.addBOS)
        let pair = tok.encodePair("a", "b", addSpecial: true)
        XCTAssertEqual(pair.ids.filter { $0 == tok.eosId }.count, 2)
    }

    func testMiniLMQAPair() throws {
        let tok = try HFTokenizerTests.load("all_minilm_l6_v2")
        XCTAssertEqual(tok.kind, .wordPiece)
        XCTAssertEqual(tok.modelMaxLength, 512)
        let r = tok.encodePair("Who wrote it?", "Alice wrote it.", addSpecial: true)
        XCTAssertEqual(r.ids.first, tok.tokenId(forText: "[CLS]"))
        XCTAssertEqual(r.ids.filter { $0 == tok.tokenId(forText: "[SEP]") }.count, 2)
        XCTAssertEqual(r.typeIds.first, 0)
        XCTAssertEqual(r.typeIds.last, 1)
        XCTAssertEqual(tok.decode(r.ids, skipSpecial: true), "who wrote it? alice wrote it.")
    }

    /// Encoding a few hundred KB stays fast on the real tokenizers (and matches the GGUF path's ids).
    func testEncodeSpeed() throws {
        var text = ""
        let words = ["The", " quick", " brown", " fox", ",", " naïve", " 日本語", " 12345", "\n", "  ", " don't", " 😀", "def", " f(x):"]
        var rng = SystemRandomNumberGenerator()
        while text.utf8.count < 300_000 { text += words.randomElement(using: &rng)! }
        for name in ["smollm2", "all_minilm_l6_v2", "unigram_t5", "llama_spm_bpe"] {
            let tok = try HFTokenizerTests.load(name)
            let start = Date()
            let ids = try tok.encode(text, addSpecial: true, parseSpecial: true)
            let dt = Date().timeIntervalSince(start)
            XCTAssertGreaterThan(ids.count, 1000)
            XCTAssertLessThan(dt, 10, "\(name): \(dt) s for 300 KB")
        }
    }
}
