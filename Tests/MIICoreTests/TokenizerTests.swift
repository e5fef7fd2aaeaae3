import Foundation
@testable import MIICore
import XCTest

/// Tokenizer behaviour on small synthetic vocabularies (always run) and on llama.cpp's vocab files
/// in .cache/vocab (skipped when absent).
final class TokenizerTests: XCTestCase {
    typealias G = TokenizerGGUF

    func id(_ t: Tokenizer, _ text: String, file: StaticString = #filePath, line: UInt = #line) throws -> Int32 {
        try XCTUnwrap(t.tokenId(forText: text), "no token \(text.debugDescription)", file: file, line: line)
    }

    // MARK: byte-level BPE (synthetic)

    /// The BMP flag table fills some ranges from their first scalar; every entry must still equal
    /// what the Unicode tables say for that scalar.
    func testCharFlagTableMatchesUnicodeProperties() {
        var mismatches = 0
        for c in 0..<0x10000 where CharFlags.bmpTable[c] != CharFlags.compute(UInt32(c)) { mismatches += 1 }
        XCTAssertEqual(mismatches, 0)
        // the filled ranges are what they claim: ideographs and syllables are letters, the rest control
        XCTAssertEqual(CharFlags.of(0x4E2D), CharFlags.letter)
        XCTAssertEqual(CharFlags.of(0xD55C), CharFlags.letter)
        XCTAssertEqual(CharFlags.of(0xE000), CharFlags.control)
    }

    /// The UTF-8 check GGUF string arrays use agrees with the standard library's validating
    /// initializer on edge cases and on many random byte strings biased towards non-ASCII bytes.
    func testUTF8ValidityMatchesStandardLibrary() {
        func stdlib(_ b: [UInt8]) -> Bool { String(validating: b, as: UTF8.self) != nil }
        func ours(_ b: [UInt8]) -> Bool { b.withUnsafeBufferPointer { UTF8Util.isValid($0) } }
        let edges: [[UInt8]] = [
            [], [0x41], [0xC2, 0x80], [0xC1, 0xBF], [0xE0, 0x9F, 0x80], [0xE0, 0xA0, 0x80], [0xED, 0x9F, 0xBF],
            [0xED, 0xA0, 0x80], [0xEF, 0xBF, 0xBF], [0xF0, 0x8F, 0xBF, 0xBF], [0xF0, 0x90, 0x80, 0x80],
            [0xF4, 0x8F, 0xBF, 0xBF], [0xF4, 0x90, 0x80, 0x80], [0xF5, 0x80, 0x80, 0x80], [0x80], [0xC2],
            [0xE2, 0x82], [0xF0, 0x9F, 0x98], [0xFF], [0xC4, 0xA0, 0x61],
        ]
        for e in edges { XCTAssertEqual(ours(e), stdlib(e), "\(e)") }
        var rng = SystemRandomNumberGenerator()
        var valid = 0
        for _ in 0..<200_000 {
            let n = Int.random(in: 0...6, using: &rng)
            let b = (0..<n).map { _ in
                Bool.random(using: &rng) ? UInt8.random(in: 0x80...0xFF, using: &rng) : UInt8.random(in: 0...0xFF, using: &rng)
            }
            XCTAssertEqual(ours(b), stdlib(b), "\(b)")
            if stdlib(b) { valid += 1 }
        }
        XCTAssertGreaterThan(valid, 1000)  // both outcomes were exercised
    }

    func testBPEMergesAndBytes() throws {
        let t = try G.load(G.bpe())
        XCTAssertEqual(t.kind, .bpe)
        XCTAssertEqual(t.kindName, "BPE")
        XCTAssertEqual(t.preTokenizer, "gpt-2")
        XCTAssertEqual(try t.encode("Hello world", addSpecial: false, parseSpecial: false),
                       [try id(t, "Hello"), try id(t, "Ġworld")])
        // Characters without merges come out as their byte tokens; "é" is two bytes.
        XCTAssertEqual(try t.encode("é!", addSpecial: false, parseSpecial: false),
                       [try id(t, G.byteChar(0xC3)), try id(t, G.byteChar(0xA9)), try id(t, "!")])
        XCTAssertEqual(t.piece(try id(t, "Ġworld")), Array(" world".utf8))
        XCTAssertEqual(t.decode(try t.encode("Hello world é", addSpecial: false, parseSpecial: false), skipSpecial: false),
                       "Hello world é")
        XCTAssertEqual(try t.encode("", addSpecial: false, parseSpecial: false), [])
    }

    func testBPESpecialTokens() throws {
        let t = try G.load(G.bpe())
        let start = try id(t, "<|im_start|>"), end = try id(t, "<|im_end|>"), eot = try id(t, "<|endoftext|>")
        let tool = try id(t, "<tool>")
        let hello = try id(t, "Hello")
        XCTAssertEqual(try t.encode("<|im_start|>Hello<|im_end|>", addSpecial: false, parseSpecial: true), [start, hello, end])
        // Without parse_special the control texts are ordinary text...
        let plain = try t.encode("<|im_start|>Hello", addSpecial: false, parseSpecial: false)
        XCTAssertFalse(plain.contains(start))
        XCTAssertTrue(plain.contains(hello))
        XCTAssertEqual(t.decode(plain, skipSpecial: true), "<|im_start|>Hello")
        // ...but user-defined tokens are always matched whole.
        XCTAssertEqual(try t.encode("<tool>Hello", addSpecial: false, parseSpecial: false), [tool, hello])
        XCTAssertTrue(t.isControl(start))
        XCTAssertFalse(t.isControl(tool))
        XCTAssertFalse(t.isControl(hello))
        XCTAssertTrue(t.isEndOfGeneration(eot))  // eos
        XCTAssertTrue(t.isEndOfGeneration(end))  // <|im_end|> by its text
        XCTAssertFalse(t.isEndOfGeneration(start))
        XCTAssertEqual(t.eosId, eot)
        XCTAssertEqual(t.eotId, end)  // detected by text, as llama.cpp does
        XCTAssertEqual(t.decode([start, hello, end], skipSpecial: false), "<|im_start|>Hello<|im_end|>")
        XCTAssertEqual(t.decode([start, hello, end], skipSpecial: true), "Hello")
        XCTAssertEqual(t.tokenText(start), "<|im_start|>")
        XCTAssertNil(t.tokenId(forText: "<|nope|>"))
        // GPT-2 vocabularies do not add BOS unless asked to.
        XCTAssertFalse(t.addBOS)
        XCTAssertEqual(try t.encode("Hello", addSpecial: true, parseSpecial: false), [hello])
        let withBOS = try G.load(G.replacing(G.bpe(), "tokenizer.ggml.add_bos_token", with: .bool(true)))
        XCTAssertEqual(try withBOS.encode("Hello", addSpecial: true, parseSpecial: false), [eot, hello])
        let withEOS = try G.load(G.replacing(G.bpe(), "tokenizer.ggml.add_eos_token", with: .bool(true)))
        XCTAssertEqual(try withEOS.encode("Hello", addSpecial: true, parseSpecial: false), [hello, eot])
    }

    func testInvalidIdsNeverTrap() throws {
        let t = try G.load(G.bpe())
        for bad: Int32 in [-1, -100, Int32(t.vocabSize), Int32.max, Int32.min] {
            XCTAssertEqual(t.piece(bad), [])
            XCTAssertEqual(t.tokenText(bad), "")
            XCTAssertFalse(t.isControl(bad))
            XCTAssertFalse(t.isEndOfGeneration(bad))
        }
        XCTAssertEqual(t.decode([-1, Int32(t.vocabSize), Int32.max], skipSpecial: false), "")
        let hello = try id(t, "Hello")
        XCTAssertEqual(t.decode([-5, hello, 1 << 30], skipSpecial: true), "Hello")
        var s = StreamingDetokenizer(tokenizer: t)
        XCTAssertEqual(s.push(-1), "")
        XCTAssertEqual(s.push(hello), "Hello")
        XCTAssertEqual(s.flush(), "")
    }

    func testStreamingHoldsBackIncompleteUTF8() throws {
        let t = try G.load(G.bpe())
        let b = { (x: UInt8) in t.tokenId(forText: G.byteChar(x))! }
        var s = StreamingDetokenizer(tokenizer: t)
        // "🦙" is F0 9F A6 99: nothing comes out until the last byte.
        XCTAssertEqual(s.push(b(0x41)), "A")
        XCTAssertEqual(s.push(b(0xF0)), "")
        XCTAssertEqual(s.push(b(0x9F)), "")
        XCTAssertEqual(s.push(b(0xA6)), "")
        XCTAssertEqual(s.push(b(0x99)), "🦙")
        // A byte that can never start a character is replaced at once.
        XCTAssertEqual(s.push(b(0xFF)), "\u{FFFD}")
        // A lead byte followed by a non-continuation: the lead is invalid, the rest is text.
        XCTAssertEqual(s.push(b(0xE2)), "")
        XCTAssertEqual(s.push(b(0x41)), "\u{FFFD}A")
        // E0 80 is not a valid prefix (overlong): replaced at once.
        XCTAssertEqual(s.push(b(0xE0)), "")
        XCTAssertEqual(s.push(b(0x80)), "\u{FFFD}\u{FFFD}")
        // An incomplete tail becomes U+FFFD at flush.
        XCTAssertEqual(s.push(b(0xE2)), "")
        XCTAssertEqual(s.push(b(0x82)), "")
        XCTAssertEqual(s.flush(), "\u{FFFD}")
        XCTAssertEqual(s.flush(), "")
        // Special tokens: rendered unless skipped.
        let end = try id(t, "<|im_end|>")
        var r = StreamingDetokenizer(tokenizer: t)
        XCTAssertEqual(r.push(end), "<|im_end|>")
        var q = StreamingDetokenizer(tokenizer: t, skipSpecial: true)
        XCTAssertEqual(q.push(end), "")
    }

    func testCleanUpSpacesOnRequest() throws {
        let t = try G.load(G.bpe())
        XCTAssertTrue(t.cleanSpacesByDefault)
        let ids = try t.encode("Hello , world . I 'm here ' ok", addSpecial: false, parseSpecial: false)
        XCTAssertEqual(t.decode(ids, skipSpecial: false), "Hello , world . I 'm here ' ok")
        XCTAssertEqual(t.decode(ids, skipSpecial: false, cleanUpSpaces: true), "Hello, world. I'm here'ok")
    }

    // MARK: SentencePiece (synthetic)

    func testSPMScoresPrefixAndByteFallback() throws {
        let t = try G.load(G.spm())
        XCTAssertEqual(t.kind, .spm)
        XCTAssertEqual(t.bosId, 1)
        XCTAssertEqual(t.eosId, 2)
        XCTAssertEqual(t.unkId, 0)
        XCTAssertTrue(t.addBOS)
        XCTAssertTrue(t.addSpacePrefix)
        let hello = try id(t, "▁Hello")
        XCTAssertEqual(try t.encode("Hello", addSpecial: false, parseSpecial: false), [hello])
        XCTAssertEqual(try t.encode("Hello", addSpecial: true, parseSpecial: false), [1, hello])
        // "€" has no piece: its bytes E2 82 AC as <0xXX> tokens (ids 3 + byte).
        XCTAssertEqual(try t.encode("€", addSpecial: false, parseSpecial: false), [try id(t, "▁"), 3 + 0xE2, 3 + 0x82, 3 + 0xAC])
        XCTAssertEqual(t.piece(3 + 0xE2), [0xE2])
        XCTAssertEqual(t.piece(hello), Array(" Hello".utf8))
        // The dummy prefix is removed when decoding from the start (not after BOS, as in llama.cpp).
        XCTAssertEqual(t.decode([hello], skipSpecial: false), "Hello")
        XCTAssertEqual(t.decode([1, hello], skipSpecial: true), " Hello")
        XCTAssertEqual(t.decode(try t.encode("  Hello €", addSpecial: false, parseSpecial: false), skipSpecial: false), "  Hello €")
        // Special-token text: split out with parse_special, then the text after it gets a new prefix.
        XCTAssertEqual(try t.encode("</s>Hello", addSpecial: false, parseSpecial: true), [2, hello])
        // Without parse_special "<s>" stays text (never merged into the control token).
        XCTAssertFalse(try t.encode("<s>", addSpecial: false, parseSpecial: false).contains(1))
        // Streaming the byte tokens of "€" gives the character once complete.
        var s = StreamingDetokenizer(tokenizer: t)
        XCTAssertEqual(s.push(3 + 0xE2), "")
        XCTAssertEqual(s.push(3 + 0x82), "")
        XCTAssertEqual(s.push(3 + 0xAC), "€")
        XCTAssertEqual(s.push(hello), " Hello")
    }

    // MARK: pre-tokenizers

    func testPreTokenizerSplits() throws {
        XCTAssertEqual(try Tokenizer.preTokenize("Hello world's  test\n\n", preTokenizer: "gpt-2"),
                       ["Hello", " world", "'s", " ", " test", "\n\n"])
        XCTAssertEqual(try Tokenizer.preTokenize("I'VE 12345 abc\r\n\r\n  x", preTokenizer: "llama-bpe"),
                       ["I", "'VE", " ", "123", "45", " abc", "\r\n\r\n", " ", " x"])
        XCTAssertEqual(try Tokenizer.preTokenize("ab 123", preTokenizer: "qwen2"), ["ab", " ", "1", "2", "3"])
        XCTAssertEqual(try Tokenizer.preTokenize("x=12345", preTokenizer: "smollm"), ["x", "=", "1", "2", "3", "4", "5"])
        XCTAssertEqual(try Tokenizer.preTokenize("a, b.", preTokenizer: "bloom"), ["a", ",", " b", "."])
        XCTAssertEqual(try Tokenizer.preTokenize("HelloWorld ÉCOLE", preTokenizer: "tekken"), ["Hello", "World", " É", "COLE"])  // non-ASCII letters count as lower case too (llama.cpp)
        XCTAssertEqual(try Tokenizer.preTokenize("1234567", preTokenizer: "default"), ["123", "456", "7"])
        XCTAssertEqual(try Tokenizer.preTokenize("", preTokenizer: "gpt-2"), [])
        XCTAssertThrowsError(try Tokenizer.preTokenize("x", preTokenizer: "no-such-thing"))
    }

    /// Long runs that a naive backtracking matcher would make quadratic.
    func testPreTokenizerLongRuns() throws {
        let n = 20000
        for pre in ["gpt-2", "llama-bpe", "deepseek-llm", "tekken", "jais-2"] {
            let spaces = String(repeating: " ", count: n) + "x"
            let p = try Tokenizer.preTokenize(spaces, preTokenizer: pre)
            XCTAssertEqual(p.joined(), spaces, pre)
            let letters = String(repeating: "A", count: n) + " b"
            XCTAssertEqual(try Tokenizer.preTokenize(letters, preTokenizer: pre).joined(), letters, pre)
        }
    }

    // MARK: llama.cpp vocabularies (skipped without .cache/vocab)

    func testQwen2ChatTokens() throws {
        let t = try VocabTokenizerTests.tokenizer("qwen2")
        let ids = try t.encode("<|im_start|>user\nHi<|im_end|>\n", addSpecial: false, parseSpecial: true)
        XCTAssertEqual(ids.first, 151644)
        XCTAssertTrue(ids.contains(151645))
        XCTAssertFalse(try t.encode("<|im_start|>", addSpecial: false, parseSpecial: false).contains(151644))
        XCTAssertTrue(t.isEndOfGeneration(151645))
        XCTAssertTrue(t.isEndOfGeneration(151643))
        XCTAssertFalse(t.isEndOfGeneration(151644))
        XCTAssertEqual(t.tokenId(forText: "<|im_end|>"), 151645)
        XCTAssertEqual(t.decode(ids, skipSpecial: false), "<|im_start|>user\nHi<|im_end|>\n")
        XCTAssertEqual(t.decode(ids, skipSpecial: true), "user\nHi\n")
    }

    func testLlama3BOSAndEOG() throws {
        let t = try VocabTokenizerTests.tokenizer("llama-bpe")
        XCTAssertTrue(t.addBOS)  // llama.cpp's default for llama-bpe
        XCTAssertEqual(try t.encode("Hello", addSpecial: true, parseSpecial: false).first, 128000)
        XCTAssertEqual(t.eotId, 128009)
        XCTAssertTrue(t.isEndOfGeneration(128009))
        XCTAssertTrue(t.isEndOfGeneration(128001))
        XCTAssertTrue(t.isControl(128006))
    }

    func testDeepseekUserDefinedTokensAlwaysSplit() throws {
        let t = try VocabTokenizerTests.tokenizer("deepseek-coder")
        // 'õ' (32000) is a user-defined token there.
        XCTAssertEqual(try t.encode("õ", addSpecial: false, parseSpecial: false), [32000])
    }

    func testPhi3SpecialTokensStripFollowingSpace() throws {
        let t = try VocabTokenizerTests.tokenizer("phi-3")
        let assistant = try id(t, "<|assistant|>")
        let hello = try t.encode("Hello", addSpecial: false, parseSpecial: false)
        XCTAssertEqual(try t.encode("<|assistant|> Hello", addSpecial: false, parseSpecial: true), [assistant] + hello)
        XCTAssertTrue(t.isEndOfGeneration(try id(t, "<|end|>")))
    }

    func testSPMAddsBOSAndStreamsLikeDecode() throws {
        let t = try VocabTokenizerTests.tokenizer("llama-spm")
        let text = "Hello 🦙 world, ünïcödé 中文 \n\t end"
        let ids = try t.encode(text, addSpecial: true, parseSpecial: false)
        XCTAssertEqual(ids.first, 1)
        var s = StreamingDetokenizer(tokenizer: t, skipSpecial: true)
        var streamed = ""
        for i in ids { streamed += s.push(i) }
        streamed += s.flush()
        // Streaming keeps the dummy-prefix space (the text continues whatever came before).
        XCTAssertEqual(streamed, " " + text)
        XCTAssertEqual(t.decode(Array(ids.dropFirst()), skipSpecial: true), text)
    }

    func testStreamingMatchesDecodeOnLongText() throws {
        let t = try VocabTokenizerTests.tokenizer("qwen2")
        var text = ""
        for i in 0..<200 { text += "Line \(i): ünïcödé 中文字符 🦙🎉 <|im_end|> 'quoted' \t\n" }
        let ids = try t.encode(text, addSpecial: false, parseSpecial: true)
        var s = StreamingDetokenizer(tokenizer: t)
        var out = ""
        var sawPartial = false
        for i in ids {
            let p = s.push(i)
            if p.isEmpty { sawPartial = true }
            out += p
        }
        out += s.flush()
        XCTAssertEqual(out, text)
        XCTAssertEqual(t.decode(ids, skipSpecial: false), text)
        XCTAssertTrue(sawPartial, "expected some token to end inside a character")
    }

    /// SentencePiece text is cut into words before merging where no token can span the cut; the
    /// result must equal merging the whole text at once (llama.cpp's way).
    func testSPMWordCutsDoNotChangeResults() throws {
        let pool = Array("aeiou tnsrlHWT   .,!?'\n\t12éü中文🦙▁-").map { String($0) } + ["  ", "   "]
        var seed: UInt64 = 12345
        func next() -> Int {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            return Int(seed >> 33)
        }
        for name in ["llama-spm", "phi-3"] {
            let t = try VocabTokenizerTests.tokenizer(name)
            let spm = try XCTUnwrap(t.spm)
            for _ in 0..<300 {
                var text = " "
                for _ in 0..<(next() % 60) { text += pool[next() % pool.count] }
                let escaped = Array(text.replacingOccurrences(of: " ", with: "▁").utf8)
                var whole: [Int32] = [], cut: [Int32] = []
                var s1 = SPMModel.Scratch(), s2 = SPMModel.Scratch()
                escaped.withUnsafeBufferPointer {
                    spm.encode($0, vocab: t.vocab, into: &whole, scratch: &s1)
                    spm.encodeText($0, vocab: t.vocab, into: &cut, scratch: &s2)
                }
                XCTAssertEqual(whole, cut, "\(name): \(text.debugDescription)")
            }
        }
    }

    /// Rough encode speed (printed); a loose bound catches accidental quadratic behaviour.
    func testEncodeSpeed() throws {
        let t = try VocabTokenizerTests.tokenizer("llama-bpe")
        var text = ""
        let para = "The quick brown fox jumps over the lazy dog. Le cœur a ses raisons; 中文字符 123456 — done!\n"
        while text.utf8.count < 1_000_000 { text += para }
        let start = DispatchTime.now()
        let ids = try t.encode(text, addSpecial: false, parseSpecial: false)
        let secs = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
        print(String(format: "encode: %.2f MB in %.3f s = %.2f MB/s (%d tokens, debug build)",
                     Double(text.utf8.count) / 1e6, secs, Double(text.utf8.count) / 1e6 / secs, ids.count))
        XCTAssertLessThan(secs, 60)
    }
}
