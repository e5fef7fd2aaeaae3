import Foundation
import MIICore
import XCTest

/// Pipeline post-processing on top of the heads: QA spans against transformers' span selection
/// (select_starts_ends, recorded by scripts/fixtures/make_tiny_encoders.py), fill-mask top-k and
/// classification scores.
final class EncoderTasksTests: XCTestCase {
    func testQuestionAnsweringSpansMatchTransformers() throws {
        let pool = try ThreadPool(threads: 2)
        for name in ["bert-qa", "distilbert-qa"] {
            let net = try EncoderParityTests.network(name)
            let seq = try EncoderParityTests.reference(name).first { $0.entry["qa_spans"] != nil }!
            let ref = seq.entry["qa_spans"] as! [String: Any]
            let ctx = ref["context"] as! [Int]
            let expected = (ref["spans"] as! [[NSNumber]]).map {
                EncoderTasks.Span(start: $0[0].intValue, end: $0[1].intValue, score: $0[2].floatValue)
            }
            let h = try net.hiddenStates(tokens: seq.input.tokens, typeIds: seq.input.typeIds, pool: pool)
            let (st, en) = try net.questionAnsweringLogits(hidden: h, pool: pool, mode: .precise)
            let allowed = (0..<st.count).map { $0 >= ctx[0] && $0 < ctx[1] }
            let spans = try EncoderTasks.bestSpans(start: st, end: en, allowed: allowed, nullIndex: 0,
                                                   maxAnswerLength: ref["max_answer_len"] as! Int, topK: 3)
            XCTAssertEqual(spans.map { [$0.start, $0.end] }, expected.map { [$0.start, $0.end] }, name)
            for (a, b) in zip(spans, expected) { XCTAssertEqual(a.score, b.score, accuracy: 1e-5, name) }
        }
        XCTAssertEqual(try EncoderTasks.bestSpans(start: [1, 2], end: [1, 2], allowed: [false, false]), [])
        XCTAssertThrowsError(try EncoderTasks.bestSpans(start: [1, 2], end: [1], allowed: [true, true]))
    }

    func testFillMaskAndClassificationScores() throws {
        let pool = try ThreadPool(threads: 2)
        let net = try EncoderParityTests.network("bert-mlm")
        let seq = try EncoderParityTests.reference("bert-mlm")[1]
        let d = net.hiddenSize, v = net.vocabSize
        let h = try net.hiddenStates(tokens: seq.input.tokens, pool: pool)
        // Rows 2 and 5 as if they were masks.
        let rows = Array(h[(2 * d)..<(3 * d)]) + Array(h[(5 * d)..<(6 * d)])
        let top = try EncoderTasks.fillMask(logits: try net.maskedLMLogits(hidden: rows, pool: pool, mode: .precise), vocab: v, topK: 5)
        let refLogits = EncoderParityTests.flat(seq.entry["mlm_logits"])
        for (k, r) in [2, 5].enumerated() {
            let row = Array(refLogits[(r * v)..<((r + 1) * v)])
            let order = row.indices.sorted { row[$0] > row[$1] }
            XCTAssertEqual(top[k].map { Int($0.token) }, Array(order.prefix(5)))
            let mx = row.max()!
            let z = row.reduce(0.0) { $0 + exp($1 - mx) }
            XCTAssertEqual(Double(top[k][0].probability), exp(row[order[0]] - mx) / z, accuracy: 1e-5)
        }
        XCTAssertEqual(EncoderTasks.topK([3, 1, 3, 7], 3).map(\.index), [3, 0, 2])

        let cls = try EncoderParityTests.network("bert-cls")
        XCTAssertEqual(cls.classificationScores, .softmax)
        let p = cls.classificationScores.apply([1, 2, 3])
        XCTAssertEqual(p.reduce(0, +), 1, accuracy: 1e-6)
        XCTAssertEqual(ScoreFunction.forClassification(problemType: "multi_label_classification", labels: 3), .sigmoid)
        XCTAssertEqual(ScoreFunction.forClassification(problemType: nil, labels: 1), .sigmoid)
        XCTAssertEqual(ScoreFunction.forClassification(problemType: "regression", labels: 1), ScoreFunction.none)
    }
}
