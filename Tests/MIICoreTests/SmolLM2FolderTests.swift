import Foundation
import MIICore
import XCTest

/// SmolLM2 as a Hugging Face folder (float32 safetensors written by transformers' save_pretrained)
/// against the same transformers float32 reference as the GGUF (Tests/Fixtures/smollm2/reference.json:
/// the folder holds exactly the weights transformers computed that reference with).
final class SmolLM2FolderTests: XCTestCase {
    func testPreciseLogProbsMatchTransformers() throws {
        let folder = try HFFolder(path: try Fixtures.smolLM2Folder())
        XCTAssertEqual(folder.modelType, "llama")
        let net = try ArchitectureRegistry.loadHF(folder)
        let pool = try ThreadPool(threads: 2)
        let v = net.vocabSize
        let (top1, meanAbs, maxAbs) = try SmolLM2ReferenceTests.compare(vocab: v) { ids in
            let state = try net.makeState(maxContext: 512, batch: 64, threads: 2)
            var out = [Float](repeating: 0, count: ids.count * v)
            try ids.withUnsafeBufferPointer { tp in
                try out.withUnsafeMutableBufferPointer { lp in
                    try net.forward(tp, startPos: 0, state: state, pool: pool, mode: .precise, allLogits: true,
                                    logits: lp.baseAddress!, shouldCancel: { false })
                }
            }
            return out
        }
        print("HF folder precise: top-1 agreement \(top1), mean |Δ log-prob| \(meanAbs), max \(maxAbs)")
        XCTAssertGreaterThanOrEqual(top1, 0.995)
        XCTAssertLessThanOrEqual(meanAbs, 0.01)
    }
}
