import Foundation
import MIICore
import XCTest

/// Batched decoding (BatchDecoder) against the one-sequence path, which the reference tests check
/// against transformers: the same logits up to the rounding of the batched products, the same greedy
/// tokens, and sequences that join and leave between steps.
final class BatchDecoderTests: XCTestCase {
    static let prompts = [
        "The capital of France is",
        "def fibonacci(n):",
        "Once upon a time, in a small village by the sea,",
        "<|im_start|>user\nWhat is 2 + 2?<|im_end|>\n<|im_start|>assistant\n",
        "La langue française est",
        "Numbers: 3.14159, 2.71828 and",
        "The quick brown fox",
        "In 1950, Alan Turing published",
        "SELECT name FROM users WHERE",
    ]

    static func ids(_ m: Model, _ i: Int) throws -> [Int32] {
        try m.requireTokenizer().encode(prompts[i], addSpecial: true, parseSpecial: true)
    }

    /// Steps of 3 and 9 sequences (below and above the GEMM threshold of the float path, and of the
    /// 4-token tiles of the 8-bit path) give each sequence the logits a lone session computes for it.
    func testStepMatchesSingleSessions() throws {
        for mode in [PrecisionMode.precise, .fast] {
            let model = try SmolLM2ReferenceTests.smol(mode)
            for n in [3, 9] {
                let batch = try BatchDecoder(model: model, maxSequences: n, threads: 2)
                var so = SessionOptions()
                so.contextLength = 96
                let batched = try (0..<n).map { _ in try batch.makeSession(options: so) }
                let single = try (0..<n).map { _ in try Session(model: model, options: so) }
                var next: [Int32] = []
                for i in 0..<n {
                    let p = try Self.ids(model, i)
                    _ = try batched[i].evaluate(p)
                    let l = try single[i].evaluate(p)
                    next.append(l.withUnsafeBufferPointer { Sampler.argmax($0) })
                }
                let v = model.vocabSize
                var worst: Float = 0
                var nearTies = 0
                for _ in 0..<6 {
                    let lb = try batch.step(batched, tokens: next)
                    XCTAssertEqual(lb.count, n * v)
                    var following: [Int32] = []
                    for i in 0..<n {
                        let ls = try single[i].evaluate([next[i]])
                        let row = Array(lb[(i * v)..<((i + 1) * v)])
                        for j in 0..<v { worst = max(worst, abs(row[j] - ls[j])) }
                        let a = ls.withUnsafeBufferPointer { Sampler.argmax($0) }
                        let b = row.withUnsafeBufferPointer { Sampler.argmax($0) }
                        if mode == .precise {
                            XCTAssertEqual(b, a, "\(mode) n=\(n) seq \(i)")
                        } else if a != b {
                            // Fast mode may pick another token only where the lone session's top two
                            // are closer than fast mode's own noise (see the bound below).
                            nearTies += 1
                            XCTAssertLessThan(ls[Int(a)] - ls[Int(b)], 1.5, "\(mode) n=\(n) seq \(i): \(a) vs \(b)")
                        }
                        following.append(a)
                    }
                    next = following
                }
                for i in 0..<n { XCTAssertEqual(batched[i].tokens, single[i].tokens) }
                print("batched step, \(mode), \(n) sequences: max |Δ logit| vs one session \(worst), argmax near-ties \(nearTies)")
                // At most 10% of the argmax comparisons (measured: 1 of 54, then 3 of 54 after the
                // prompt kernels changed their summation order).
                XCTAssertLessThanOrEqual(nearTies, max(2, n * 6 / 10), "\(mode) n=\(n)")
                // Precise mode: the batched float products round differently (measured <= 7e-5).
                // Fast mode: the kernels agree bit for bit, but a last-bit difference in a float
                // product (k, v, attention output and ffn_down keep float activations; batched rows go
                // through the 4-row x 3-token kernel, a lone session through the matvec kernel) can move an 8-bit
                // activation by one step, and the steps add up: measured up to ~1 on some sequences,
                // the scale of fast mode's own error against float.
                XCTAssertLessThan(worst, mode == .precise ? 1e-3 : 1.5, "\(mode) n=\(n)")
            }
        }
    }

    /// Continuous batching: 9 prompts through 4 slots (sequences finish at different times and queued
    /// prompts take their slots) give each prompt the greedy tokens of Session.generate alone.
    func testGenerateEqualsOneSessionEach() throws {
        let model = try SmolLM2ReferenceTests.smol(.precise)
        var p = GenerationParams()
        p.maxNewTokens = 14
        var lengths: [Int] = []
        let prompts = try Self.prompts.indices.map { try Self.ids(model, $0) }
        let batch = try BatchDecoder(model: model, maxSequences: 4, threads: 2)
        let results = try batch.generate(prompts, params: p, contextLength: 128)
        XCTAssertEqual(results.count, prompts.count)
        for (i, prompt) in prompts.enumerated() {
            let alone = try Session(model: model).generate(prompt: prompt, params: p)
            XCTAssertEqual(results[i].tokens, alone.tokens, "prompt \(i)")
            XCTAssertEqual(results[i].text, alone.text, "prompt \(i)")
            XCTAssertEqual(results[i].finishReason, alone.finishReason, "prompt \(i)")
            XCTAssertEqual(results[i].promptTokens, prompt.count)
            lengths.append(results[i].tokens.count)
        }
        // Stop strings and EOS end sequences early while others go on.
        p.stop = ["."]
        let stopped = try batch.generate(prompts, params: p, contextLength: 128)
        for (i, prompt) in prompts.enumerated() {
            var q = p
            q.stop = ["."]
            let alone = try Session(model: model).generate(prompt: prompt, params: q)
            XCTAssertEqual(stopped[i].text, alone.text, "prompt \(i) with a stop string")
            XCTAssertEqual(stopped[i].finishReason, alone.finishReason, "prompt \(i) with a stop string")
        }
        XCTAssertTrue(stopped.contains { $0.finishReason == .stop }, "no sequence stopped early: the test would not exercise leaving")
    }

    /// An architecture without a batched pass (GPT-2 decodes rows one by one) gives the same results.
    func testFallbackArchitecture() throws {
        let model = try Model(path: Fixtures.path("hf_tiny/gpt2"))
        let batch = try BatchDecoder(model: model, maxSequences: 3, threads: 1)
        let a = try batch.makeSession(), b = try batch.makeSession()
        let ref = try Session(model: model)
        _ = try a.evaluate([1, 2, 3])
        _ = try b.evaluate([4, 5])
        let out = try batch.step([a, b], tokens: [7, 8])
        _ = try ref.evaluate([1, 2, 3])
        let r = try ref.evaluate([7])
        XCTAssertEqual(Array(out[0..<model.vocabSize]), r)
        XCTAssertEqual(b.tokens, [4, 5, 8])
    }

    /// Bad steps are errors and change no session.
    func testStepErrorsLeaveSessionsUnchanged() throws {
        let model = try SmolLM2ReferenceTests.smol(.precise)
        let batch = try BatchDecoder(model: model, maxSequences: 2, threads: 1)
        var so = SessionOptions()
        so.contextLength = 4
        let a = try batch.makeSession(options: so), b = try batch.makeSession(options: so)
        _ = try a.evaluate([1, 2])
        _ = try b.evaluate([3])
        func expect(_ code: MIIError.Code, _ body: () throws -> Void, _ what: String) {
            XCTAssertThrowsError(try body(), what) { e in XCTAssertEqual((e as? MIIError)?.code, code, what) }
            XCTAssertEqual(a.tokens, [1, 2], what)
            XCTAssertEqual(b.tokens, [3], what)
        }
        expect(.invalidArgument, { _ = try batch.step([a, a], tokens: [1, 1]) }, "same session twice")
        expect(.invalidArgument, { _ = try batch.step([a, b], tokens: [1]) }, "count mismatch")
        expect(.invalidArgument, { _ = try batch.step([], tokens: []) }, "empty step")
        let c = try batch.makeSession(options: so)
        expect(.invalidArgument, { _ = try batch.step([a, b, c], tokens: [1, 1, 1]) }, "more than maxSequences")
        expect(.invalidToken, { _ = try batch.step([a, b], tokens: [1, Int32(model.vocabSize)]) }, "token out of range")
        expect(.invalidToken, { _ = try batch.step([a, b], tokens: [-1, 1]) }, "negative token")
        let other = try Session(model: try SmolLM2ReferenceTests.smol(.precise))
        expect(.invalidArgument, { _ = try batch.step([a, other], tokens: [1, 1]) }, "session of another model")
        _ = try a.evaluate([5, 6])
        XCTAssertThrowsError(try batch.step([a, b], tokens: [1, 1])) { e in
            XCTAssertEqual((e as? MIIError)?.code, .contextFull)
        }
        XCTAssertEqual(a.tokens, [1, 2, 5, 6])
        XCTAssertEqual(b.tokens, [3])
        XCTAssertThrowsError(try BatchDecoder(model: model, maxSequences: 0))
        XCTAssertThrowsError(try batch.generate([[]], params: GenerationParams()))
    }
}
