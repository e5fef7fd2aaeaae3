import Foundation
import MIICore
import XCTest

/// Encoders from Hugging Face folders against transformers: tiny random-weight BERT, RoBERTa,
/// XLM-RoBERTa and DistilBERT checkpoints with their task heads (scripts/fixtures/make_tiny_encoders.py:
/// F32, BF16 and F16 weights, tied and untied MLM decoders, prefixed and bare tensor names), with
/// transformers' float32 last hidden states and head outputs for several sequences, one a pair with
/// token type ids.
final class EncoderParityTests: XCTestCase {
    struct Sequence {
        let input: EncoderInput
        let hidden: [Double]
        let entry: [String: Any]
    }

    static func flat(_ v: Any?) -> [Double] {
        if let a = v as? [NSNumber] { return a.map(\.doubleValue) }
        if let a = v as? [[NSNumber]] { return a.flatMap { $0.map(\.doubleValue) } }
        return []
    }

    static func reference(_ name: String) throws -> [Sequence] {
        let d = try Fixtures.json("hf_tiny_enc/\(name)/reference.json") as! [String: Any]
        return (d["sequences"] as! [[String: Any]]).map { e in
            let tokens = (e["tokens"] as! [Int]).map(Int32.init)
            let types = (e["type_ids"] as? [Int])?.map(Int32.init)
            return Sequence(input: EncoderInput(tokens: tokens, typeIds: types), hidden: flat(e["hidden"]), entry: e)
        }
    }

    static func network(_ name: String) throws -> EncoderNetwork {
        try ArchitectureRegistry.loadHFEncoder(HFFolder(path: Fixtures.path("hf_tiny_enc/\(name)")))
    }

    static func maxDiff(_ a: [Float], _ b: [Double]) -> Double {
        guard a.count == b.count else { return .infinity }
        var m = 0.0
        for (x, y) in zip(a, b) { m = max(m, abs(Double(x) - y)) }
        return m
    }

    /// Hidden states one sequence at a time and as one packed batch, then the checkpoint's head.
    /// Returns the worst |Δ| of (hidden, head).
    @discardableResult
    func check(_ name: String, heads: Set<EncoderHead>, threads: Int = 2,
               file: StaticString = #filePath, line: UInt = #line) throws -> (Double, Double) {
        let seqs = try Self.reference(name)
        let net = try Self.network(name)
        XCTAssertEqual(net.heads, heads, "\(name): heads", file: file, line: line)
        let pool = try ThreadPool(threads: threads)
        var worstHidden = 0.0, worstHead = 0.0
        let batched = try net.hiddenStates(batch: seqs.map(\.input), pool: pool, mode: .precise, shouldCancel: { false })
        for (i, s) in seqs.enumerated() {
            let h = try net.hiddenStates(tokens: s.input.tokens, typeIds: s.input.typeIds, pool: pool)
            XCTAssertEqual(h.count, s.input.tokens.count * net.hiddenSize, file: file, line: line)
            worstHidden = max(worstHidden, Self.maxDiff(h, s.hidden), Self.maxDiff(batched[i], s.hidden))
            if let ref = s.entry["mlm_logits"] {
                worstHead = max(worstHead, Self.maxDiff(try net.maskedLMLogits(hidden: h, pool: pool, mode: .precise), Self.flat(ref)))
                // Some rows only (fill-mask at the mask positions): row 1 alone.
                let d = net.hiddenSize, v = net.vocabSize
                let one = try net.maskedLMLogits(hidden: Array(h[d..<(2 * d)]), pool: pool, mode: .precise)
                worstHead = max(worstHead, Self.maxDiff(one, Array(Self.flat(ref)[v..<(2 * v)])))
            }
            if let ref = s.entry["cls_logits"] {
                worstHead = max(worstHead, Self.maxDiff(try net.sequenceClassificationLogits(hidden: h, pool: pool, mode: .precise), Self.flat(ref)))
            }
            if let ref = s.entry["tok_logits"] {
                worstHead = max(worstHead, Self.maxDiff(try net.tokenClassificationLogits(hidden: h, pool: pool, mode: .precise), Self.flat(ref)))
            }
            if let rs = s.entry["qa_start"], let re = s.entry["qa_end"] {
                let (st, en) = try net.questionAnsweringLogits(hidden: h, pool: pool, mode: .precise)
                worstHead = max(worstHead, Self.maxDiff(st, Self.flat(rs)), Self.maxDiff(en, Self.flat(re)))
            }
        }
        print("encoder \(name): max |Δ hidden| \(worstHidden), max |Δ head| \(worstHead)")
        XCTAssertLessThan(worstHidden, 1e-4, "\(name): hidden states vs transformers", file: file, line: line)
        XCTAssertLessThan(worstHead, 1e-4, "\(name): head outputs vs transformers", file: file, line: line)
        return (worstHidden, worstHead)
    }

    func testBertMaskedLMTied() throws { try check("bert-mlm", heads: [.maskedLM]) }
    func testBertSequenceClassificationGeluNew() throws {
        try check("bert-cls", heads: [.sequenceClassification])
        XCTAssertEqual(try Self.network("bert-cls").labels, ["negative", "neutral", "positive"])
    }
    func testBertTokenClassificationReluBF16() throws {
        try check("bert-tok", heads: [.tokenClassification], threads: 1)
        XCTAssertEqual(try Self.network("bert-tok").labels, ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"])
    }
    func testBertQuestionAnswering() throws { try check("bert-qa", heads: [.questionAnswering], threads: 3) }
    func testBertBareModelWithoutPrefix() throws { try check("bert-base", heads: []) }
    func testRobertaMaskedLMUntied() throws { try check("roberta-mlm", heads: [.maskedLM]) }
    func testRobertaSequenceClassification() throws { try check("roberta-cls", heads: [.sequenceClassification]) }
    func testXLMRobertaTokenClassificationF16() throws { try check("xlm-roberta", heads: [.tokenClassification]) }
    func testDistilBertMaskedLM() throws { try check("distilbert-mlm", heads: [.maskedLM]) }
    func testDistilBertQuestionAnswering() throws { try check("distilbert-qa", heads: [.questionAnswering]) }
    func testDistilBertSequenceClassification() throws { try check("distilbert-cls", heads: [.sequenceClassification]) }
}
