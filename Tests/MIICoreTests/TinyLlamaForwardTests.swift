import Foundation
import MIICore
import XCTest

/// The Llama forward pass on tiny random-weight GGUF files (every weight type the kernels support),
/// against logits computed independently in numpy float64 from the gguf package's dequantized
/// weights (scripts/fixtures/tiny_llama_reference.py).
final class TinyLlamaForwardTests: XCTestCase {
    struct Reference {
        let sequences: [[Int32]]
        let logits: [String: [[[Double]]]]
        let greedy: [String: [(seq: Int, continuation: [Int32])]]
    }

    static func reference() throws -> Reference {
        let d = try Fixtures.json("tiny/reference_logits.json") as! [String: Any]
        let seqs = (d["sequences"] as! [[String: Any]]).map { ($0["tokens"] as! [Int]).map(Int32.init) }
        var logits: [String: [[[Double]]]] = [:]
        var greedy: [String: [(Int, [Int32])]] = [:]
        for (name, v) in d["models"] as! [String: [String: Any]] {
            logits[name] = (v["logits"] as! [[[NSNumber]]]).map { $0.map { $0.map { $0.doubleValue } } }
            greedy[name] = (v["greedy"] as! [[String: Any]]).map {
                ($0["sequence"] as! Int, ($0["continuation"] as! [Int]).map(Int32.init))
            }
        }
        return Reference(sequences: seqs, logits: logits, greedy: greedy)
    }

    func checkLogits(file: String, mode: PrecisionMode, tolerance: Double, threads: Int,
                     quantize: WeightQuantization = .auto) throws {
        let ref = try Self.reference()
        var opts = ModelOptions()
        opts.mode = mode
        opts.quantize = quantize
        let model = try Model(path: Fixtures.path("tiny/\(file)"), options: opts)
        var so = SessionOptions()
        so.threads = threads
        so.batch = 7  // several chunks per sequence
        let session = try Session(model: model, options: so)
        for (si, seq) in ref.sequences.enumerated() {
            session.reset()
            let got = try session.evaluate(seq, allLogits: true)
            let want = ref.logits[file]![si]
            XCTAssertEqual(want.count, seq.count)
            var maxErr = 0.0
            for (t, row) in want.enumerated() {
                for (v, w) in row.enumerated() {
                    maxErr = max(maxErr, abs(Double(got[t * model.vocabSize + v]) - w))
                }
            }
            XCTAssertLessThan(maxErr, tolerance, "\(file) \(mode) seq \(si): max |Δlogit| \(maxErr)")
        }
    }

    func testPreciseLogitsQuantizedMix() throws {
        try checkLogits(file: "tiny-llama.gguf", mode: .precise, tolerance: 1e-4, threads: 2)
    }

    func testPreciseLogitsF32() throws {
        try checkLogits(file: "tiny-llama-f32.gguf", mode: .precise, tolerance: 1e-4, threads: 1)
    }

    /// Fast mode on the file's own mix of types (quantized, F16, BF16, F32 matrices).
    func testFastModeStaysClose() throws {
        try checkLogits(file: "tiny-llama.gguf", mode: .fast, tolerance: 0.05, threads: 2, quantize: .none)
    }

    /// Fast mode's default (`quantize: auto`) also turns the float matrices into Q8_0 at load: a
    /// little further from the float reference (measured 0.062).
    func testFastModeAutoQuantizesFloatMatrices() throws {
        try checkLogits(file: "tiny-llama.gguf", mode: .fast, tolerance: 0.1, threads: 2)
    }

    func testIncrementalDecodeEqualsBatch() throws {
        let ref = try Self.reference()
        let model = try Model(path: Fixtures.path("tiny/tiny-llama.gguf"))
        let a = try Session(model: model)
        let b = try Session(model: model)
        let seq = ref.sequences[0]
        let all = try a.evaluate(seq, allLogits: true)
        var last: [Float] = []
        for id in seq { last = try b.evaluate([id]) }
        let v = model.vocabSize
        let tail = Array(all[(seq.count - 1) * v..<seq.count * v])
        for i in 0..<v { XCTAssertEqual(tail[i], last[i], accuracy: 1e-4) }
    }

    func testGreedyContinuationMatchesReference() throws {
        let ref = try Self.reference()
        for file in ["tiny-llama.gguf", "tiny-llama-f32.gguf"] {
            let model = try Model(path: Fixtures.path("tiny/\(file)"))
            let session = try Session(model: model)
            for g in ref.greedy[file]! {
                var p = GenerationParams()
                p.maxNewTokens = g.continuation.count
                p.ignoreEOS = true
                let r = try session.generate(prompt: ref.sequences[g.seq], params: p)
                XCTAssertEqual(r.tokens, g.continuation, "\(file) greedy from sequence \(g.seq)")
            }
        }
    }
}
