import Foundation
import MIICore
import XCTest

/// Several threads, each with its own session on one shared model, give bit-identical logits and
/// tokens to a serial run (also run under ThreadSanitizer: scripts/test_tsan.sh).
final class ConcurrencyTests: XCTestCase {
    func testThreadsWithOwnSessionsMatchSerial() throws {
        let model = try Model(path: Fixtures.path("tiny/tiny-llama.gguf"))
        var prompts: [[Int32]] = []
        for k in 0..<6 {
            var p: [Int32] = []
            for j in 0..<(10 + k) { p.append(Int32((j * 31 + k * 7) % 300)) }
            prompts.append(p)
        }
        func run(_ prompt: [Int32], threads: Int) throws -> ([Float], [Int32]) {
            var o = SessionOptions()
            o.threads = threads
            o.batch = 5
            let s = try Session(model: model, options: o)
            let logits = try s.evaluate(prompt, allLogits: true)
            s.reset()
            var p = GenerationParams()
            p.maxNewTokens = 12
            p.ignoreEOS = true
            p.sampling.temperature = 0.9
            p.sampling.seed = 5
            return (logits, try s.generate(prompt: prompt, params: p).tokens)
        }
        let serial = try prompts.map { try run($0, threads: 1) }
        var results = [([Float], [Int32])?](repeating: nil, count: prompts.count)
        let lock = NSLock()
        DispatchQueue.concurrentPerform(iterations: prompts.count) { i in
            let r = try? run(prompts[i], threads: 1 + i % 2)
            lock.lock()
            results[i] = r
            lock.unlock()
        }
        for i in prompts.indices {
            let r = try XCTUnwrap(results[i])
            XCTAssertEqual(r.1, serial[i].1, "tokens of prompt \(i)")
            XCTAssertEqual(r.0.count, serial[i].0.count)
            // 1 and 2 threads split rows differently but every row is computed the same way.
            XCTAssertTrue(zip(r.0, serial[i].0).allSatisfy { $0 == $1 }, "logits of prompt \(i) not bit-identical")
        }
    }
}
