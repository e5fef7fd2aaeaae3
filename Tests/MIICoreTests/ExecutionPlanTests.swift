import Foundation
import MIICore
import XCTest

/// The automatic configuration that `mii info` explains: values computed from the model and the
/// machine, each with a reason and an override.
final class ExecutionPlanTests: XCTestCase {
    func testPlanForSmolLM2() throws {
        var o = ModelOptions()
        o.threads = 1
        let model = try Model(path: try Fixtures.smolLM2(), options: o)
        let plan = ExecutionPlan.make(model: model, contextLength: 1000)
        XCTAssertEqual(plan.threads, 1)
        // 30 layers x (keys + values) x 3 KV heads x 64 x float32
        XCTAssertEqual(plan.kvBytesPerToken, 30 * 2 * 3 * 64 * 4)
        XCTAssertEqual(plan.kvBytes, 1000 * 46080)
        XCTAssertEqual(plan.weightBytes, 98_362_432)  // the GGUF file, mapped
        XCTAssertEqual(plan.contextLength, 1000)
        XCTAssertEqual(plan.mode, .precise)
        XCTAssertGreaterThan(plan.activationBytes, 0)
        XCTAssertEqual(plan.estimatedPeakBytes, plan.weightBytes + plan.kvBytes + plan.activationBytes)
        let names = plan.choices.map(\.name)
        for n in ["threads", "numa", "kernels", "precision", "weights", "context", "prompt chunk", "batched decoding", "memory"] {
            XCTAssertTrue(names.contains(n), n)
        }
        for c in plan.choices {
            XCTAssertFalse(c.reason.isEmpty, c.name)
            XCTAssertFalse(c.override.isEmpty, c.name)
        }
        XCTAssertEqual(plan.choices.first { $0.name == "threads" }?.reason, "set by the caller")
        XCTAssertEqual(plan.choices.first { $0.name == "kv cache" }?.value, "float32")
        // Fast mode keeps keys and values as fp16: half the bytes per token.
        o.mode = .fast
        let fastPlan = ExecutionPlan.make(model: try Model(path: try Fixtures.smolLM2(), options: o), contextLength: 1000)
        XCTAssertEqual(fastPlan.kvBytesPerToken, 30 * 2 * 3 * 64 * 2)
        XCTAssertEqual(fastPlan.kvBytes, 1000 * 23040)
        XCTAssertEqual(fastPlan.choices.first { $0.name == "kv cache" }?.value, "fp16")
        // Every matrix of this file has an 8-bit-activation path; fast mode uses it for q, gate and up.
        let net = try XCTUnwrap(model.network)
        let bytes = { (ms: [WeightMatrix]) in ms.reduce(0) { $0 + $1.rowBytes * $1.rows } }
        XCTAssertEqual(net.fastModeMatrices.count, 3 * 30)
        let share = Int((Double(bytes(net.fastModeMatrices)) / Double(bytes(net.weightMatrices)) * 100).rounded())
        XCTAssertTrue((40..<90).contains(share), "\(share)")
        let reason = plan.choices.first { $0.name == "precision" }!.reason
        XCTAssertTrue(reason.contains("\(share)% of the weight bytes"), reason)
        // Default context: the model's 8192 tokens.
        XCTAssertEqual(ExecutionPlan.make(model: model).contextLength, 8192)
        XCTAssertEqual(Hardware.availableCPUs >= 1, true)
        XCTAssertEqual(ExecutionPlan.make(model: try Model(path: try Fixtures.smolLM2())).threads, Hardware.availableCPUs)
    }
}
