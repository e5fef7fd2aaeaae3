import Foundation
import MIICore
import XCTest

/// Generation behaviour on the tiny model: seeds, stop strings, limits, streaming, errors, cancellation.
final class GenerationTests: XCTestCase {
    static let model: Model = try! Model(path: Fixtures.path("tiny/tiny-llama.gguf"))
    let prompt: [Int32] = [39, 320, 75, 78, 339, 0, 220, 290]

    func params(_ n: Int = 24, temperature: Float = 0, seed: UInt64 = 1) -> GenerationParams {
        var p = GenerationParams()
        p.maxNewTokens = n
        p.ignoreEOS = true
        p.sampling.temperature = temperature
        p.sampling.seed = seed
        return p
    }

    func testSameSeedSameTokensDifferentSeedsDiffer() throws {
        let s = try Session(model: Self.model)
        let a = try s.generate(prompt: prompt, params: params(temperature: 1.0, seed: 42))
        let b = try s.generate(prompt: prompt, params: params(temperature: 1.0, seed: 42))
        XCTAssertEqual(a.tokens, b.tokens)
        var differs = false
        for seed in 1...5 where try s.generate(prompt: prompt, params: params(temperature: 1.0, seed: UInt64(seed))).tokens != a.tokens {
            differs = true
        }
        XCTAssertTrue(differs, "five other seeds all gave the same tokens")
    }

    func testTopKOneIsGreedy() throws {
        let s = try Session(model: Self.model)
        let greedy = try s.generate(prompt: prompt, params: params())
        var p = params(temperature: 1.5, seed: 9)
        p.sampling.topK = 1
        XCTAssertEqual(try s.generate(prompt: prompt, params: p).tokens, greedy.tokens)
    }

    func testMaxNewTokensAndFinishLength() throws {
        let s = try Session(model: Self.model)
        let r = try s.generate(prompt: prompt, params: params(5))
        XCTAssertEqual(r.tokens.count, 5)
        XCTAssertEqual(r.finishReason, .length)
        XCTAssertEqual(r.promptTokens, prompt.count)
    }

    func testStreamedPiecesConcatenateToText() throws {
        let s = try Session(model: Self.model)
        var pieces: [String] = []
        let r = try s.generate(prompt: prompt, params: params(30)) { pieces.append($0); return true }
        XCTAssertEqual(pieces.joined(), r.text)
        XCTAssertEqual(r.text, Self.model.tokenizer!.decode(r.tokens, skipSpecial: false))
    }

    func testStopStringCutsTextAndIsNotReturned() throws {
        let s = try Session(model: Self.model)
        let full = try s.generate(prompt: prompt, params: params(40)).text
        let chars = Array(full)
        XCTAssertGreaterThan(chars.count, 12, "need a longer continuation to pick a stop string")
        let stop = String(chars[6..<9])
        let expected = String(full[..<full.range(of: stop)!.lowerBound])
        var p = params(40)
        p.stop = [stop, "this-never-appears"]
        var streamed = ""
        let r = try s.generate(prompt: prompt, params: p) { streamed += $0; return true }
        XCTAssertEqual(r.text, expected)
        XCTAssertEqual(streamed, expected)
        XCTAssertEqual(r.finishReason, .stop)
    }

    func testCallbackReturningFalseStops() throws {
        let s = try Session(model: Self.model)
        var calls = 0
        let r = try s.generate(prompt: prompt, params: params(40)) { _ in calls += 1; return calls < 3 }
        XCTAssertEqual(r.finishReason, .cancelled)
        XCTAssertEqual(calls, 3)
        XCTAssertLessThan(r.tokens.count, 40)
    }

    func testInvalidTokenIsAnErrorAndLeavesSessionUnchanged() throws {
        let s = try Session(model: Self.model)
        _ = try s.evaluate([1, 2, 3])
        for bad: Int32 in [-1, Int32(Self.model.vocabSize), Int32.max] {
            XCTAssertThrowsError(try s.evaluate([4, bad])) { e in
                XCTAssertEqual((e as? MIIError)?.code, .invalidToken)
            }
            XCTAssertThrowsError(try s.generate(prompt: [bad], params: params())) { e in
                XCTAssertEqual((e as? MIIError)?.code, .invalidToken)
            }
        }
        XCTAssertEqual(s.tokens, [1, 2, 3])
    }

    func testContextFull() throws {
        var o = SessionOptions()
        o.contextLength = 12
        let s = try Session(model: Self.model, options: o)
        XCTAssertThrowsError(try s.evaluate(Array(repeating: 5, count: 13))) { e in
            XCTAssertEqual((e as? MIIError)?.code, .contextFull)
        }
        XCTAssertEqual(s.tokens.count, 0)
        let r = try s.generate(prompt: prompt, params: params(50))
        XCTAssertEqual(r.finishReason, .contextFull)
        XCTAssertEqual(r.tokens.count, 12 - prompt.count + 1)
    }

    func testBadParametersAreRejected() throws {
        let s = try Session(model: Self.model)
        var p = params()
        p.sampling.topP = 0
        XCTAssertThrowsError(try s.generate(prompt: prompt, params: p))
        p = params()
        p.sampling.temperature = -1
        XCTAssertThrowsError(try s.generate(prompt: prompt, params: p))
        p = params()
        p.maxNewTokens = -1
        XCTAssertThrowsError(try s.generate(prompt: prompt, params: p))
        p = params()
        p.stop = [""]
        XCTAssertThrowsError(try s.generate(prompt: prompt, params: p))
        XCTAssertThrowsError(try s.generate(prompt: [], params: params()))
    }

    func testCancelFromAnotherThreadDuringPromptAndGeneration() throws {
        var o = SessionOptions()
        o.contextLength = 4096
        o.batch = 16
        let s = try Session(model: Self.model, options: o)
        let long = (0..<4000).map { Int32($0 % 300) }
        let t0 = Date()
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.05) { s.cancel() }
        XCTAssertThrowsError(try s.evaluate(long)) { e in
            XCTAssertEqual((e as? MIIError)?.code, .cancelled)
        }
        XCTAssertLessThan(Date().timeIntervalSince(t0), 2.0)
        XCTAssertEqual(s.tokens.count, 0, "a cancelled evaluation leaves the session unchanged")
        // Reusable afterwards, with the same result as a fresh session.
        let fresh = try Session(model: Self.model).generate(prompt: prompt, params: params(8))
        XCTAssertEqual(try s.generate(prompt: prompt, params: params(8)).tokens, fresh.tokens)
        // Cancel during generation.
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.05) { s.cancel() }
        let r = try s.generate(prompt: prompt, params: params(3000))
        XCTAssertTrue(r.finishReason == .cancelled || r.finishReason == .contextFull)
    }

    func testCancelWhileIdleIsIgnored() throws {
        let s = try Session(model: Self.model)
        s.cancel()
        s.cancel()
        let r = try s.generate(prompt: prompt, params: params(6))
        XCTAssertEqual(r.finishReason, .length)
        XCTAssertEqual(r.tokens.count, 6)
        _ = try s.evaluate([5])
    }

    func testPrefixReuseGivesSameResult() throws {
        let s = try Session(model: Self.model)
        let a = try s.generate(prompt: prompt, params: params(10))
        let b = try s.generate(prompt: prompt, params: params(10))
        XCTAssertEqual(a.tokens, b.tokens)
        let fresh = try Session(model: Self.model).generate(prompt: prompt + [7], params: params(10))
        XCTAssertEqual(try s.generate(prompt: prompt + [7], params: params(10)).tokens, fresh.tokens)
    }
}

/// The sampler's transforms against hand-computed expectations (Hugging Face semantics).
final class SamplerTests: XCTestCase {
    func sample(_ logits: [Float], _ configure: (inout SamplingParams) -> Void, history: [Int32] = [],
                draws: Int = 400) -> [Int32: Int] {
        var p = SamplingParams()
        p.temperature = 1
        configure(&p)
        var s = Sampler(params: p)
        var counts: [Int32: Int] = [:]
        for _ in 0..<draws {
            var l = logits
            let id = l.withUnsafeMutableBufferPointer { s.sample($0, history: history[...]) }
            counts[id, default: 0] += 1
        }
        return counts
    }

    func testGreedyPicksArgmaxLowestIdOnTies() {
        var s = Sampler(params: SamplingParams())
        var l: [Float] = [0, 3, 1, 3]
        XCTAssertEqual(l.withUnsafeMutableBufferPointer { s.sample($0, history: []) }, 1)
    }

    func testTopPKeepsSmallestSetReachingP() {
        // probabilities ~ [0.6, 0.3, 0.1]: top_p 0.5 keeps only token 0, 0.8 keeps {0, 1}.
        let l: [Float] = [log(0.6), log(0.3), log(0.1)]
        XCTAssertEqual(Set(sample(l, { $0.topP = 0.5 }).keys), [0])
        XCTAssertEqual(Set(sample(l, { $0.topP = 0.8 }).keys), [0, 1])
        XCTAssertEqual(Set(sample(l, { _ in }).keys), [0, 1, 2])
    }

    func testMinPDropsTokensBelowFractionOfTop() {
        let l: [Float] = [log(0.6), log(0.3), log(0.1)]
        // 0.1 < 0.25 * 0.6 = 0.15 is dropped; 0.3 stays.
        XCTAssertEqual(Set(sample(l, { $0.minP = 0.25 }).keys), [0, 1])
    }

    func testTopK() {
        let l: [Float] = [1, 2, 3, 4]
        XCTAssertEqual(Set(sample(l, { $0.topK = 2 }).keys), [2, 3])
    }

    func testRepetitionPenaltyHuggingFaceSemantics() {
        let s = Sampler(params: { var p = SamplingParams(); p.repetitionPenalty = 2; return p }())
        var l: [Float] = [4, -4, 1]
        l.withUnsafeMutableBufferPointer { s.applyPenalties($0, history: [0, 1, 0]) }
        XCTAssertEqual(l, [2, -8, 1])
    }

    func testPresenceAndFrequencyPenalties() {
        var p = SamplingParams()
        p.presencePenalty = 0.5
        p.frequencyPenalty = 0.25
        var l: [Float] = [1, 1, 1]
        l.withUnsafeMutableBufferPointer { Sampler(params: p).applyPenalties($0, history: [0, 0, 2]) }
        XCTAssertEqual(l, [1 - 0.5 - 0.5, 1, 1 - 0.5 - 0.25])
    }

    func testTemperatureSharpens() {
        let l: [Float] = [0, 1]
        let hot = sample(l, { $0.temperature = 5 }, draws: 2000)[0] ?? 0
        let cold = sample(l, { $0.temperature = 0.2 }, draws: 2000)[0] ?? 0
        // p(0) at T=5: 1/(1+e^0.2) = 0.45; at T=0.2: 1/(1+e^5) = 0.0067
        XCTAssertEqual(Double(hot) / 2000, 0.45, accuracy: 0.05)
        XCTAssertLessThan(cold, 40)
    }
}

/// Non-finite values never crash the sampler, and generation reports them as an error.
final class NonFiniteLogitsTests: XCTestCase {
    func testSamplerSurvivesNaN() {
        var p = SamplingParams()
        p.temperature = 0.8
        p.topP = 0.9
        p.minP = 0.1
        var s = Sampler(params: p)
        var l: [Float] = [.nan, .nan, .nan]
        let id = l.withUnsafeMutableBufferPointer { s.sample($0, history: []) }
        XCTAssertTrue((0..<3).contains(id))
        var inf: [Float] = [0, .infinity, 1]
        XCTAssertEqual(inf.withUnsafeMutableBufferPointer { s.sample($0, history: []) }, 1)
    }
}
