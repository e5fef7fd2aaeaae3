import Foundation
@testable import MIICore
import XCTest

/// Missing, inconsistent or hostile tokenizer metadata must throw an MIIError with a clear message,
/// never trap.
final class HostileTokenizerTests: XCTestCase {
    typealias G = TokenizerGGUF

    func expectError(_ kv: [(String, G.Value)], _ code: MIIError.Code, containing words: [String],
                     file: StaticString = #filePath, line: UInt = #line) {
        do {
            _ = try G.load(kv)
            XCTFail("loaded, expected an error mentioning \(words)", file: file, line: line)
        } catch let e as MIIError {
            XCTAssertEqual(e.code, code, e.message, file: file, line: line)
            for w in words {
                XCTAssertTrue(e.message.contains(w), "message \(e.message.debugDescription) lacks \(w.debugDescription)",
                              file: file, line: line)
            }
        } catch {
            XCTFail("unexpected error \(error)", file: file, line: line)
        }
    }

    func testBaseVocabulariesLoad() throws {
        XCTAssertNoThrow(try G.load(G.bpe()))
        XCTAssertNoThrow(try G.load(G.spm()))
    }

    func testModelType() {
        expectError(G.replacing(G.bpe(), "tokenizer.ggml.model", with: nil), .invalidFormat, containing: ["tokenizer.ggml.model"])
        expectError(G.replacing(G.bpe(), "tokenizer.ggml.model", with: .str("nosuch")), .invalidFormat, containing: ["nosuch"])
        expectError(G.replacing(G.bpe(), "tokenizer.ggml.model", with: .str("t5")), .unsupported, containing: ["t5"])
        // WordPiece ("bert"): the separator and unknown tokens are required.
        let wpm = G.replacing(G.bpe(), "tokenizer.ggml.model", with: .str("bert"))
        expectError(G.replacing(wpm, "tokenizer.ggml.seperator_token_id", with: .u32(1_000_000)), .invalidFormat,
                    containing: ["seperator_token_id"])
        expectError(G.replacing(wpm, "tokenizer.ggml.seperator_token_id", with: .i32(-1)), .invalidFormat, containing: ["separator"])
        expectError(G.replacing(wpm, "tokenizer.ggml.unknown_token_id", with: .i32(-1)), .invalidFormat, containing: ["unknown token"])
        expectError(G.replacing(G.bpe(), "tokenizer.ggml.model", with: .u32(2)), .invalidFormat, containing: ["tokenizer.ggml.model"])
        expectError(G.replacing(G.bpe(), "tokenizer.ggml.pre", with: .str("nosuch-pre")), .unsupported, containing: ["nosuch-pre"])
    }

    func testTokenList() {
        expectError(G.replacing(G.bpe(), "tokenizer.ggml.tokens", with: nil), .invalidFormat, containing: ["tokenizer.ggml.tokens"])
        expectError(G.replacing(G.bpe(), "tokenizer.ggml.tokens", with: .i32s([1, 2, 3])), .invalidFormat, containing: ["tokenizer.ggml.tokens"])
        expectError(G.replacing(G.spm(), "tokenizer.ggml.tokens", with: .strs([])), .invalidFormat, containing: ["empty"])
        var spm = G.spm()
        if case .strs(var t) = spm.first(where: { $0.0 == "tokenizer.ggml.tokens" })!.1 {
            t[270] = ""
            spm = G.replacing(spm, "tokenizer.ggml.tokens", with: .strs(t))
            expectError(spm, .invalidFormat, containing: ["270", "empty"])
            t[270] = t[271]
            expectError(G.replacing(spm, "tokenizer.ggml.tokens", with: .strs(t)), .invalidFormat, containing: ["270", "271", "same text"])
            t[270] = "x"
            t[5] = "<0xZZ>"  // a byte-type token that is not <0xXX>
            expectError(G.replacing(spm, "tokenizer.ggml.tokens", with: .strs(t)), .invalidFormat, containing: ["<0xZZ>"])
        }
    }

    func testCountsMustMatch() {
        let n = 256 + 9 + 4
        expectError(G.replacing(G.bpe(), "tokenizer.ggml.token_type", with: .i32s([Int32](repeating: 1, count: n - 1))),
                    .invalidFormat, containing: ["\(n - 1) token types", "\(n) tokens"])
        expectError(G.replacing(G.bpe(), "tokenizer.ggml.token_type", with: .i32s([Int32](repeating: 1, count: n + 1))),
                    .invalidFormat, containing: ["token types"])
        expectError(G.replacing(G.bpe(), "tokenizer.ggml.scores", with: .f32s([0, 1])), .invalidFormat, containing: ["2 scores"])
        expectError(G.replacing(G.bpe(), "tokenizer.ggml.token_type", with: .strs(["a"])), .invalidFormat, containing: ["token_type"])
    }

    func testMerges() {
        expectError(G.replacing(G.bpe(), "tokenizer.ggml.merges", with: nil), .invalidFormat, containing: ["merges"])
        expectError(G.replacing(G.bpe(), "tokenizer.ggml.merges", with: .strs(["He"])), .invalidFormat, containing: ["merge 0", "\"He\""])
        expectError(G.replacing(G.bpe(), "tokenizer.ggml.merges", with: .strs(["H e", "H "])), .invalidFormat, containing: ["merge 1"])
        expectError(G.replacing(G.bpe(), "tokenizer.ggml.merges", with: .strs(["H e", "Hx e"])), .invalidFormat,
                    containing: ["merge 1", "unknown token", "left"])
        expectError(G.replacing(G.bpe(), "tokenizer.ggml.merges", with: .strs(["e H"])), .invalidFormat,
                    containing: ["merge 0", "merged token"])
        expectError(G.replacing(G.bpe(), "tokenizer.ggml.merges", with: .i32s([1])), .invalidFormat, containing: ["merges"])
    }

    func testSpecialIds() throws {
        let n = 256 + 9 + 4
        expectError(G.replacing(G.bpe(), "tokenizer.ggml.bos_token_id", with: .u32(100_000)), .invalidFormat,
                    containing: ["bos_token_id", "100000"])
        expectError(G.replacing(G.bpe(), "tokenizer.ggml.eos_token_id", with: .u32(UInt32(n))), .invalidFormat,
                    containing: ["eos_token_id", "\(n)"])
        expectError(G.replacing(G.spm(), "tokenizer.ggml.eot_token_id", with: .u32(1 << 31)), .invalidFormat, containing: ["eot_token_id"])
        expectError(G.replacing(G.spm(), "tokenizer.ggml.unknown_token_id", with: .u32(9999)), .invalidFormat, containing: ["unknown_token_id"])
        expectError(G.replacing(G.spm(), "tokenizer.ggml.bos_token_id", with: .str("1")), .invalidFormat, containing: ["bos_token_id"])
        // BOS required by add_bos_token but absent (chatglm-bpe clears llama.cpp's default).
        var kv = G.replacing(G.bpe(), "tokenizer.ggml.bos_token_id", with: nil)
        kv = G.replacing(kv, "tokenizer.ggml.pre", with: .str("chatglm-bpe"))
        kv = G.replacing(kv, "tokenizer.ggml.add_bos_token", with: .bool(true))
        expectError(kv, .invalidFormat, containing: ["add_bos_token"])
        // Tolerated like llama.cpp: an out-of-range padding id is ignored, -1 means "none".
        let t = try G.load(G.replacing(G.bpe(), "tokenizer.ggml.padding_token_id", with: .u32(UInt32(n + 5))))
        XCTAssertNil(t.padId)
        let u = try G.load(G.replacing(G.bpe(), "tokenizer.ggml.eot_token_id", with: .i32(-1)))
        XCTAssertEqual(u.eotId, u.tokenId(forText: "<|im_end|>"))  // then detected by text
    }

    /// Random byte soup through encode/decode/streaming: never traps.
    func testGarbageTextAndIds() throws {
        for kv in [G.bpe(), G.spm()] {
            let t = try G.load(kv)
            var rng = SystemRandomNumberGenerator()
            for _ in 0..<200 {
                let bytes = (0..<Int.random(in: 0..<64, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
                let ids = bytes.withUnsafeBufferPointer { t.encode(bytes: $0, addSpecial: true, parseSpecial: true) }
                XCTAssertTrue(ids.allSatisfy { $0 >= 0 && Int($0) < t.vocabSize })
                _ = t.decode(ids, skipSpecial: false)
                let junk = (0..<16).map { _ in Int32.random(in: -10...Int32(t.vocabSize + 10), using: &rng) }
                var s = StreamingDetokenizer(tokenizer: t)
                for j in junk { _ = s.push(j) }
                _ = s.flush()
                _ = t.decode(junk, skipSpecial: true, cleanUpSpaces: true)
            }
        }
    }
}
