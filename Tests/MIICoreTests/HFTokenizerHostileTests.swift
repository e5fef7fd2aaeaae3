import Foundation
@testable import MIICore
import XCTest

/// Hostile tokenizer.json / tokenizer_config.json files (scripts/fixtures/make_hf_tokenizer_hostile.py):
/// each must load or fail with the expected MIIError code, never trap; loadable ones must encode and
/// decode arbitrary text quickly.
final class HFTokenizerHostileTests: XCTestCase {
    static let dir = Fixtures.root.appendingPathComponent("hf_tokenizers/hostile")

    static let texts: [String] = [
        "", "a", "ab ab abab", String(repeating: "a", count: 20000), String(repeating: "a", count: 5000) + "b",
        "b a b a  <s> <s>a", "日本語 😀 e\u{301}", String(repeating: "ab ", count: 3000),
        String(repeating: "\u{FF21}\u{301}", count: 2000),
    ]

    func testCatalogue() throws {
        let data = try Data(contentsOf: HFTokenizerHostileTests.dir.appendingPathComponent("expected.json"))
        guard let manifest = try JSONSerialization.jsonObject(with: data) as? [String: [String: Any]] else {
            return XCTFail("bad manifest")
        }
        XCTAssertGreaterThan(manifest.count, 60)
        for (name, e) in manifest.sorted(by: { $0.key < $1.key }) {
            let tj = try [UInt8](Data(contentsOf: HFTokenizerHostileTests.dir.appendingPathComponent("bad_" + name + ".json")))
            var cj: [UInt8]? = nil
            if e["config"] as? Bool == true {
                cj = try [UInt8](Data(contentsOf: HFTokenizerHostileTests.dir.appendingPathComponent("bad_" + name + ".config.json")))
            }
            let want = e["error"] as? String
            do {
                let tok = try Tokenizer.fromHuggingFace(tokenizerJSON: tj, tokenizerConfigJSON: cj)
                if let want { XCTFail("\(name): loaded, expected \(want)"); continue }
                let start = Date()
                for t in HFTokenizerHostileTests.texts {
                    let ids = try tok.encode(t, addSpecial: true, parseSpecial: true)
                    _ = tok.decode(ids, skipSpecial: false)
                    _ = tok.encodePair(t, "a b", addSpecial: true)
                    var s = StreamingDetokenizer(tokenizer: tok)
                    for id in ids.prefix(200) { _ = s.push(id) }
                    _ = s.flush()
                }
                _ = tok.decode([-1, 0, Int32.max, 1], skipSpecial: true)
                XCTAssertLessThan(Date().timeIntervalSince(start), 5, "\(name): encoding is too slow")
            } catch let err as MIIError {
                guard let want else { XCTFail("\(name): expected to load, got \(err.code): \(err.message)"); continue }
                let code = err.code == .invalidFormat ? "invalidFormat" : err.code == .unsupported ? "unsupported" : "\(err.code)"
                XCTAssertEqual(code, want, "\(name): \(err.message)")
                XCTAssertFalse(err.message.isEmpty)
            }
        }
    }

    /// Every truncation of a real tokenizer.json fails cleanly (no trap), and so do single-byte edits.
    func testTruncationsAndCorruptions() throws {
        let url = Fixtures.root.appendingPathComponent("hf_tokenizers/unigram_t5.tokenizer.json")
        let bytes = try [UInt8](Data(contentsOf: url))
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<150 {
            let cut = Int.random(in: 0..<bytes.count, using: &rng)
            XCTAssertThrowsError(try Tokenizer.fromHuggingFace(tokenizerJSON: Array(bytes[0..<cut]), tokenizerConfigJSON: nil))
        }
        for _ in 0..<300 {
            var b = bytes
            let i = Int.random(in: 0..<b.count, using: &rng)
            b[i] = [UInt8(ascii: "\""), UInt8(ascii: "1"), UInt8(ascii: "}"), UInt8(ascii: "-"), 0xFF, UInt8(ascii: "A")].randomElement(using: &rng)!
            if let tok = try? Tokenizer.fromHuggingFace(tokenizerJSON: b, tokenizerConfigJSON: nil) {
                for t in HFTokenizerHostileTests.texts.prefix(7) { _ = try tok.encode(t, addSpecial: true, parseSpecial: true) }
            }
        }
    }
}
