import Foundation
@testable import MIICore
import XCTest

/// Hugging Face tokenizer.json loading, compared with the `tokenizers` library on the fixtures of
/// scripts/fixtures/make_hf_tokenizer_fixtures.py (Tests/Fixtures/hf_tokenizers/expected.json). The
/// real tokenizers (SmolLM2 as transformers converts it from the GGUF, all-MiniLM-L6-v2) are read from
/// .cache/hf/, made by scripts/fixtures/make_hf_tokenizer_cache.py.
final class HFTokenizerTests: XCTestCase {
    static let expected: [String: Any] = {
        guard let d = try? Data(contentsOf: Fixtures.root.appendingPathComponent("hf_tokenizers/expected.json")),
              let j = try? JSONSerialization.jsonObject(with: d) as? [String: Any] else { return [:] }
        return j
    }()

    static func load(_ name: String) throws -> Tokenizer {
        guard let e = expected[name] as? [String: Any], let tp = e["tokenizer"] as? String else {
            XCTFail("no fixture entry \(name) in hf_tokenizers/expected.json")
            throw XCTSkip("no fixture")
        }
        let url = Fixtures.root.appendingPathComponent(tp).standardizedFileURL
        guard let tj = try? Data(contentsOf: url) else {
            XCTFail("missing \(url.path): run python3 scripts/fixtures/make_hf_tokenizer_cache.py")
            throw XCTSkip("no file")
        }
        var cj: [UInt8]? = nil
        if let cp = e["config"] as? String {
            cj = (try? Data(contentsOf: Fixtures.root.appendingPathComponent(cp).standardizedFileURL)).map { [UInt8]($0) }
        }
        return try Tokenizer.fromHuggingFace(tokenizerJSON: [UInt8](tj), tokenizerConfigJSON: cj)
    }

    private func ints(_ v: Any?) -> [Int32] { ((v as? [Any]) ?? []).map { Int32(($0 as? NSNumber)?.intValue ?? -999) } }

    func check(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let tok = try HFTokenizerTests.load(name)
        guard let e = HFTokenizerTests.expected[name] as? [String: Any] else { return }
        var failures: [String] = []
        func cmp<T: Equatable>(_ what: String, _ text: String, _ got: T, _ want: T) {
            if got != want { failures.append("\(what) \(text.debugDescription):\n   got  \(got)\n   want \(want)") }
        }
        let cases = (e["cases"] as? [[String: Any]]) ?? []
        XCTAssertGreaterThan(cases.count, 10, file: file, line: line)
        for c in cases {
            let text = c["text"] as? String ?? ""
            let (ids, types) = tok.encodeWithTypes(text, addSpecial: true)
            cmp("ids", text, ids, ints(c["ids"]))
            cmp("type ids", text, types, ints(c["type_ids"]))
            cmp("ids without special", text, try tok.encode(text, addSpecial: false, parseSpecial: true), ints(c["ids_no_special"]))
            cmp("ids with special tokens not parsed", text, try tok.encode(text, addSpecial: true, parseSpecial: false), ints(c["ids_no_parse"]))
            let want = ints(c["ids"])
            cmp("decoded", text, tok.decode(want, skipSpecial: false), c["decoded"] as? String ?? "")
            cmp("decoded skipping special", text, tok.decode(want, skipSpecial: true), c["decoded_skip"] as? String ?? "")
        }
        for p in (e["pairs"] as? [[String: Any]]) ?? [] {
            let a = p["a"] as? String ?? "", b = p["b"] as? String ?? ""
            let r = tok.encodePair(a, b, addSpecial: true)
            cmp("pair ids", a + " | " + b, r.ids, ints(p["ids"]))
            cmp("pair type ids", a + " | " + b, r.typeIds, ints(p["type_ids"]))
            let r0 = tok.encodePair(a, b, addSpecial: false)
            cmp("pair ids without special", a + " | " + b, r0.ids, ints(p["ids_no_special"]))
            cmp("pair type ids without special", a + " | " + b, r0.typeIds, ints(p["type_ids_no_special"]))
        }
        for c in (e["random"] as? [[String: Any]]) ?? [] {
            let text = c["text"] as? String ?? ""
            cmp("random text ids", text, try tok.encode(text, addSpecial: true, parseSpecial: true), ints(c["ids"]))
            cmp("random text decoded", text, tok.decode(ints(c["ids"]), skipSpecial: false), c["decoded"] as? String ?? "")
        }
        if !failures.isEmpty {
            XCTFail("\(name): \(failures.count) mismatches with tokenizers:\n" + failures.prefix(8).joined(separator: "\n"), file: file, line: line)
        }
    }

    func testGpt2Bpe() throws { try check("gpt2_bpe") }
    func testRobertaBpe() throws { try check("roberta_bpe") }
    func testLlamaSpmBpe() throws { try check("llama_spm_bpe") }
    func testMistralMetaspaceBpe() throws { try check("mistral_metaspace_bpe") }
    func testSpmBpeUnk() throws { try check("spm_bpe_unk") }
    func testUnigramT5() throws { try check("unigram_t5") }
    func testUnigramByteFallback() throws { try check("unigram_byte_fallback") }
    func testBertUncased() throws { try check("bert_uncased") }
    func testBertCased() throws { try check("bert_cased") }
    func testQwen2Split() throws { try check("qwen2_split") }
    func testLlama3Split() throws { try check("llama3_split") }
    func testCharbpeMisc() throws { try check("charbpe_misc") }
    func testSplitRemoved() throws { try check("split_removed") }
    func testSplitIsolatedInvert() throws { try check("split_isolated_invert") }
    func testSplitMergedPrev() throws { try check("split_merged_prev") }
    func testSplitMergedNext() throws { try check("split_merged_next") }
    func testSplitContiguous() throws { try check("split_contiguous") }
    func testMetaspaceFirstNosplit() throws { try check("metaspace_first_nosplit") }
    func testMetaspaceNeverSplit() throws { try check("metaspace_never_split") }
    func testDigitsChardelim() throws { try check("digits_chardelim") }

    /// The normalizers on every character with a decomposition or a combining class, against
    /// tokenizers' normalizers (hf_tokenizers/normalizers.json).
    func testNormalizers() throws {
        let data = try Data(contentsOf: Fixtures.root.appendingPathComponent("hf_tokenizers/normalizers.json"))
        guard let cases = try JSONSerialization.jsonObject(with: data) as? [[String: String]] else { return XCTFail("bad fixture") }
        XCTAssertGreaterThan(cases.count, 1000)
        let forms: [(String, HFNormalizer)] = [
            ("NFC", .unicode(.nfc)), ("NFD", .unicode(.nfd)), ("NFKC", .unicode(.nfkc)), ("NFKD", .unicode(.nfkd)),
            ("Lowercase", .lowercase), ("Bert", .bert(cleanText: true, chineseChars: true, stripAccents: true, lowercase: true)),
            ("StripAccents", .sequence([.unicode(.nfd), .stripAccents])),
        ]
        var failures: [String: [String]] = [:]
        for c in cases {
            guard let text = c["text"] else { continue }
            for (name, n) in forms {
                let want = c[name] ?? text
                let got = String(decoding: HFChar.utf8(n.apply(HFChar.scalars(text))), as: UTF8.self)
                if Array(got.unicodeScalars) != Array(want.unicodeScalars) {
                    failures[name, default: []].append("\(text.unicodeScalars.map { String($0.value, radix: 16) }): got \(got.unicodeScalars.map { String($0.value, radix: 16) }) want \(want.unicodeScalars.map { String($0.value, radix: 16) })")
                }
            }
        }
        for (name, f) in failures.sorted(by: { $0.key < $1.key }) {
            XCTFail("\(name): \(f.count) mismatches, e.g.\n" + f.prefix(5).joined(separator: "\n"))
        }
    }

    // Real tokenizers (from .cache/hf, see scripts/fixtures/make_hf_tokenizer_cache.py).
    func testSmolLM2() throws { try check("smollm2") }
    func testAllMiniLML6v2() throws { try check("all_minilm_l6_v2") }
    /// XLM-R layout with SentencePiece's real nmt_nfkc precompiled_charsmap.
    func testXLMRLikeUnigram() throws { try check("xlmr_like_unigram") }
}
