import Foundation
@testable import MIICore
import XCTest

/// Model.fillMask / classify / classifyTokens / answer on the tiny task checkpoints with real
/// tokenizers (WordPiece BERT/DistilBERT, byte-level BPE RoBERTa, Unigram/Metaspace XLM-R) against
/// transformers' pipeline outputs, committed next to each checkpoint as reference.json by
/// scripts/fixtures/make_tiny_encoder_tasks.py (question answering: the transformers 4 algorithm,
/// with contexts several times the model's 64 positions split into doc_stride windows).
/// Tokens, labels, indices, offsets, words and answers must be equal; scores within 1e-4.
final class EncoderTasksEndToEndTests: XCTestCase {
    static let tolerance: Float = 1e-4

    struct Reference {
        var task: String
        var cases: [(inputs: [String: Any], output: [[String: Any]])]
    }

    static func reference(_ name: String) throws -> Reference {
        let ref = try Fixtures.json("hf_tiny_tasks/\(name)/reference.json") as! [String: Any]
        let cases = (ref["cases"] as! [[String: Any]]).map {
            (inputs: $0["inputs"] as! [String: Any], output: $0["output"] as! [[String: Any]])
        }
        return Reference(task: ref["task"] as! String, cases: cases)
    }

    static func model(_ name: String) throws -> Model {
        try Model(path: Fixtures.path("hf_tiny_tasks/\(name)"))
    }

    /// Compares one result row with the reference row: every key of the reference, scores approximately.
    func check(_ got: [String: Any?], _ want: [String: Any], _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        for (k, w) in want {
            guard let g0 = got[k] else { XCTFail("\(what): no \(k) in the result", file: file, line: line); continue }
            if k == "score" {
                let gv = (g0 as? Float) ?? .nan, wv = (w as! NSNumber).floatValue
                XCTAssertEqual(gv, wv, accuracy: Self.tolerance, "\(what): score", file: file, line: line)
            } else if let wn = w as? NSNumber, !(w is String) {
                XCTAssertEqual((g0 as? Int).map { NSNumber(value: $0) }, wn, "\(what): \(k)", file: file, line: line)
            } else {
                XCTAssertEqual(g0 as? String, w as? String, "\(what): \(k)", file: file, line: line)
            }
        }
    }

    func checkRows(_ got: [[String: Any?]], _ want: [[String: Any]], _ what: String) {
        XCTAssertEqual(got.count, want.count, "\(what): number of results")
        for (i, (g, w)) in zip(got, want).enumerated() { check(g, w, "\(what) #\(i)") }
    }

    func testFillMaskMatchesTransformers() throws {
        for name in ["bert-mlm", "roberta-mlm"] {
            let m = try Self.model(name)
            let ref = try Self.reference(name)
            XCTAssertEqual(ref.task, "fill-mask")
            for c in ref.cases {
                let text = c.inputs["text"] as! String
                let rows = try m.fillMask(text, topK: c.inputs["top_k"] as! Int)
                XCTAssertEqual(rows.count, 1, text)
                checkRows(rows[0].map { ["score": $0.score, "token": Int($0.token), "token_str": $0.tokenString,
                                         "sequence": $0.sequence] }, c.output, "\(name) \(text)")
            }
        }
    }

    func testTextClassificationMatchesTransformers() throws {
        for name in ["bert-cls", "distilbert-cls"] {
            let m = try Self.model(name)
            for c in try Self.reference(name).cases {
                let text = c.inputs["text"] as! String
                checkRows(try m.classify(text).map { ["label": $0.label, "score": $0.score] }, c.output, "\(name) \(text)")
                let best = try m.classify(text, topK: 1)
                XCTAssertEqual(best.map(\.label), [c.output[0]["label"] as! String])
            }
        }
    }

    func testTokenClassificationMatchesTransformers() throws {
        var counts: [TokenAggregation: Int] = [:]
        var strided = 0
        for name in ["bert-tok", "roberta-tok", "xlmr-tok"] {
            let m = try Self.model(name)
            for c in try Self.reference(name).cases {
                let text = c.inputs["text"] as! String
                let ignore = (c.inputs["ignore_labels"] as? [String]).map(Set.init) ?? ["O"]
                let agg = try XCTUnwrap(TokenAggregation(rawValue: c.inputs["aggregation_strategy"] as? String ?? "none"))
                let stride = c.inputs["stride"] as? Int
                let got: [[String: Any?]]
                if agg == .none {
                    got = try m.classifyTokens(text, ignoreLabels: ignore).map { t in
                        ["entity": t.entity, "score": t.score, "index": t.index, "word": t.word, "start": t.start, "end": t.end]
                    }
                } else {
                    got = try m.groupEntities(text, aggregation: agg, ignoreLabels: ignore, stride: stride).map { g in
                        ["entity_group": g.entityGroup, "score": g.score, "word": g.word, "start": g.start, "end": g.end]
                    }
                    counts[agg, default: 0] += 1
                    if stride != nil { strided += 1 }
                }
                checkRows(got, c.output, "\(name) \(text.prefix(60).debugDescription) \(agg) stride \(stride.map(String.init) ?? "-") ignoring \(ignore.sorted())")
            }
        }
        // Every strategy was compared, and texts several times the model's length were split.
        XCTAssertEqual(Set(counts.keys), [.simple, .first, .average, .max])
        XCTAssertGreaterThanOrEqual(strided, 24)
    }

    /// A text longer than the model needs a stride (and an aggregation), and the stride must leave
    /// room in a window; the long text really gives several windows.
    func testTokenClassificationWindows() throws {
        let m = try Self.model("bert-tok")
        let long = String(repeating: "john smith lives in paris. ", count: 30)
        XCTAssertThrowsError(try m.classifyTokens(long)) { XCTAssertTrue("\($0)".contains("stride"), "\($0)") }
        XCTAssertThrowsError(try m.groupEntities(long, stride: 62)) { XCTAssertTrue("\($0)".contains("stride"), "\($0)") }
        XCTAssertThrowsError(try m.groupEntities(long, stride: -1))
        XCTAssertThrowsError(try m.groupEntities(long, aggregation: .none, stride: 8))
        let windows = try m.scoredTokenWindows(long, stride: 8, threads: 1, mode: nil)
        XCTAssertGreaterThan(windows.count, 3)
        XCTAssertTrue(windows.allSatisfy { $0.count <= 62 })
        // Each window after the first starts 8 tokens before the end of the previous one.
        let starts = windows.map { $0.first!.start! }
        XCTAssertEqual(starts, starts.sorted())
        let groups = try m.groupEntities(long, aggregation: .first, ignoreLabels: [], stride: 8)
        XCTAssertEqual(groups.last?.end, long.unicodeScalars.count - 1, "the last word is covered")
    }

    func testQuestionAnsweringMatchesTransformers() throws {
        var windowed = 0
        for name in ["bert-qa", "distilbert-qa", "roberta-qa", "xlmr-qa"] {
            let m = try Self.model(name)
            for c in try Self.reference(name).cases {
                let i = c.inputs
                let got = try m.answer(question: i["question"] as! String, context: i["context"] as! String,
                                       topK: i["top_k"] as? Int ?? 1, maxAnswerLength: i["max_answer_len"] as? Int ?? 15,
                                       maxSeqLen: i["max_seq_len"] as? Int, docStride: i["doc_stride"] as? Int,
                                       handleImpossibleAnswer: i["handle_impossible_answer"] as? Bool ?? false)
                if (i["context"] as! String).count > 500 { windowed += 1 }
                checkRows(got.map { ["score": $0.score, "start": $0.start, "end": $0.end, "answer": $0.text] }, c.output,
                          "\(name) \(i["question"]!) \(i.filter { $0.key != "context" && $0.key != "question" })")
            }
        }
        XCTAssertGreaterThanOrEqual(windowed, 12, "long-context cases")
    }

    /// The long context really is split: more windows than one, and a context 3-5x the model.
    func testQuestionAnsweringWindowsAndErrors() throws {
        let m = try Self.model("bert-qa")
        let tok = try XCTUnwrap(m.tokenizer)
        let long = try Self.reference("bert-qa").cases.first { ($0.inputs["context"] as! String).count > 500 }!
        let context = long.inputs["context"] as! String
        let n = tok.encodeWords(context).ids.count
        XCTAssertTrue(n >= 3 * 64 && n <= 5 * 64, "context of \(n) tokens")
        // Too long for one pass: the old single-window behaviour would have thrown.
        XCTAssertNoThrow(try m.answer(question: "Where?", context: context))
        // doc_stride must be below the context tokens per window; larger than max_seq_len is an error too.
        XCTAssertThrowsError(try m.answer(question: "Where?", context: context, maxSeqLen: 20, docStride: 16))
        XCTAssertThrowsError(try m.answer(question: "Where?", context: context, maxSeqLen: 20, docStride: 21))
        XCTAssertThrowsError(try m.answer(question: "Where?", context: context, maxSeqLen: 65))
        // A question longer than a window leaves no room for the context.
        let question = String(repeating: "where is the city? ", count: 20)
        XCTAssertThrowsError(try m.answer(question: question, context: context))
        XCTAssertNoThrow(try m.answer(question: question, context: context, maxQuestionLen: 10))
        // The null answer is there when asked for, with start = end = 0.
        let withNull = try m.answer(question: "Where?", context: context, topK: 100_000, handleImpossibleAnswer: true)
        XCTAssertEqual(withNull.filter { $0.text.isEmpty && $0.start == 0 && $0.end == 0 }.count, 1)
    }

    /// Words and pair templates, the building blocks of the windows.
    func testWordsAndPairTemplate() throws {
        let tok = try XCTUnwrap(try Self.model("roberta-qa").tokenizer)
        let e = tok.encodeWords("Hello, Zürich!")
        XCTAssertEqual(e.ids.count, e.words.count)
        XCTAssertEqual(e.words.first, 0)
        XCTAssertEqual(e.words, e.words.sorted(), "words are numbered in order")
        let (ids, types, source) = tok.applyPairTemplate([10, 11], [12])
        XCTAssertEqual(ids, [0, 10, 11, 2, 2, 12, 2])   // <s> A </s></s> B </s>
        XCTAssertEqual(types.count, ids.count)
        XCTAssertEqual(source.map { $0?.sequence ?? -1 }, [-1, 0, 0, -1, -1, 1, -1])
        XCTAssertEqual(source[5]?.index, 0)
        let bert = try XCTUnwrap(try Self.model("bert-qa").tokenizer)
        let p = bert.applyPairTemplate([10], [12, 13])
        XCTAssertEqual(p.typeIds, [0, 0, 0, 1, 1, 1])
        XCTAssertEqual(p.ids, [2, 10, 3, 12, 13, 3])   // [CLS] A [SEP] B [SEP]
    }
}
