import Foundation
import MIICore
import XCTest

/// Cancellation from another thread on the real model: the running call returns within one decode
/// step plus 50 ms, during a long prompt and during generation, and the session stays usable.
final class CancellationTests: XCTestCase {
    func cancel(_ s: Session, after seconds: Double, stamp: UnsafeMutablePointer<Double>) {
        DispatchQueue.global().asyncAfter(deadline: .now() + seconds) {
            stamp.pointee = Date().timeIntervalSinceReferenceDate
            s.cancel()
        }
    }

    func testCancelLatencyOnSmolLM2() throws {
        let model = try Model(path: try Fixtures.smolLM2())
        var o = SessionOptions()
        o.contextLength = 3000
        let s = try Session(model: model, options: o)
        // One decode step's time on this machine, now.
        var logits = try s.evaluate([504, 3575, 282, 4649, 314])
        var steps: [Double] = []
        for _ in 0..<5 {
            let t = Date()
            let id = logits.withUnsafeBufferPointer { Sampler.argmax($0) }
            logits = try s.evaluate([id])
            steps.append(Date().timeIntervalSince(t))
        }
        let step = steps.sorted()[2]
        let bound = step + 0.05
        s.reset()

        let stamp = UnsafeMutablePointer<Double>.allocate(capacity: 1)
        defer { stamp.deallocate() }
        // During a long prompt (2,500 tokens: several seconds here).
        let prompt = (0..<2500).map { Int32(100 + ($0 * 7919) % 40000) }
        cancel(s, after: 0.3, stamp: stamp)
        XCTAssertThrowsError(try s.evaluate(prompt)) { e in
            XCTAssertEqual((e as? MIIError)?.code, .cancelled)
        }
        let promptLatency = Date().timeIntervalSinceReferenceDate - stamp.pointee
        XCTAssertLessThan(promptLatency, bound, "prompt: returned \(promptLatency) s after cancel (step \(step) s)")
        XCTAssertEqual(s.tokens.count, 0)

        // During generation.
        var p = GenerationParams()
        p.maxNewTokens = 2000
        p.ignoreEOS = true
        cancel(s, after: 0.5, stamp: stamp)
        let r = try s.generate(prompt: [504, 3575, 282, 4649, 314], params: p)
        let genLatency = Date().timeIntervalSinceReferenceDate - stamp.pointee
        XCTAssertEqual(r.finishReason, .cancelled)
        XCTAssertLessThan(genLatency, bound, "generation: returned \(genLatency) s after cancel (step \(step) s)")

        // Reusable: the same greedy text as a fresh session.
        var q = GenerationParams()
        q.maxNewTokens = 6
        let again = try s.generate(prompt: [504, 3575, 282, 4649, 314], params: q)
        let fresh = try Session(model: model).generate(prompt: [504, 3575, 282, 4649, 314], params: q)
        XCTAssertEqual(again.tokens, fresh.tokens)
        print("cancel latency: prompt \(promptLatency) s, generation \(genLatency) s, decode step \(step) s")
    }
}
