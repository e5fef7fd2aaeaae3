import Foundation
import MIICore
import XCTest

/// SmolLM2 as a Hugging Face folder (float32 safetensors written by transformers' save_pretrained)
/// against the same transformers float32 reference as the GGUF (Tests/Fixtures/smollm2/reference.json:
/// the folder holds exactly the weights transformers computed that reference with).
final class SmolLM2FolderTests: XCTestCase {
    static func compare(quantize: GGMLType?, mode: PrecisionMode) throws -> (Double, Double, Double) {
        let folder = try HFFolder(path: try Fixtures.smolLM2Folder())
        XCTAssertEqual(folder.modelType, "llama")
        if let q = quantize { folder.quantizeWeights(to: q) }
        let net = try ArchitectureRegistry.loadHF(folder)
        if let q = quantize {
            // 4-bit targets keep the embedding / output head (vocab rows) at Q8_0.
            let want: Set<GGMLType> = q == .q8_0 ? [q] : [q, .q8_0]
            XCTAssertEqual(Set(net.weightMatrices.map { $0.type }), want, "every matrix quantized")
        }
        let pool = try ThreadPool(threads: 2)
        let v = net.vocabSize
        return try SmolLM2ReferenceTests.compare(vocab: v) { ids in
            let state = try net.makeState(maxContext: 512, batch: 64, threads: 2, kvFormat: KVFormat(mode: mode))
            var out = [Float](repeating: 0, count: ids.count * v)
            try ids.withUnsafeBufferPointer { tp in
                try out.withUnsafeMutableBufferPointer { lp in
                    try net.forward(tp, startPos: 0, state: state, pool: pool, mode: mode, allLogits: true,
                                    logits: lp.baseAddress!, shouldCancel: { false })
                }
            }
            return out
        }
    }

    func testPreciseLogProbsMatchTransformers() throws {
        let (top1, meanAbs, maxAbs) = try Self.compare(quantize: nil, mode: .precise)
        print("HF folder precise: top-1 agreement \(top1), mean |Δ log-prob| \(meanAbs), max \(maxAbs)")
        XCTAssertGreaterThanOrEqual(top1, 0.995)
        XCTAssertLessThanOrEqual(meanAbs, 0.01)
    }

    /// DeepSpeed-Inference-style int8: the float32 folder quantized to Q8_0 at load keeps the fast-mode
    /// thresholds (top-1 >= 93%, mean |Δ log-prob| <= 0.06) against the float32 model, with float
    /// activations (precise: measured 97.8%, 0.045) and with fast mode's 8-bit activations (measured
    /// 97.0%, 0.057 since k, v and the attention output keep float activations; 0.075 with 8-bit ones
    /// everywhere, 0.058-0.061 with float ones for v and o only, depending on summation order).
    /// With fast mode's fp16 key/value cache (session 10, Zen 4): 97.1%, 0.0588 (0.0576 with a float32
    /// cache in the same build): the margin to 0.06 is thin, and this number moves by ~0.002 with any
    /// change of rounding (the Q4_1 GGUF's moved the other way, 0.0369 -> 0.0350).
    func testQ8QuantizedAtLoadKeepsFastModeFidelity() throws {
        for mode in [PrecisionMode.precise, .fast] {
            let (top1, meanAbs, maxAbs) = try Self.compare(quantize: .q8_0, mode: mode)
            print("HF folder quantized to Q8_0 at load, \(mode): top-1 \(top1), mean |Δ log-prob| \(meanAbs), max \(maxAbs)")
            XCTAssertGreaterThanOrEqual(top1, 0.93)
            XCTAssertLessThanOrEqual(meanAbs, 0.06)
        }
    }

    /// 4-bit at load. This folder holds SmolLM2's Q4_1 weights (and Q8_0 head) dequantized, so
    /// re-quantizing to Q4_1 with the head at Q8_0 must be lossless: the whole load-time path
    /// (quantizer, block layout, vocab-row rule) reproduces the float results. Q4_0 cannot represent
    /// the asymmetric Q4_1 grid: measured top-1 63%, mean |Δ log-prob| 0.73 — it does NOT meet the
    /// fast-mode thresholds here (a floor guards against regressions; use Q4_1 or Q8_0 for fidelity).
    /// llama.cpp on a GGUF of the same Q4_0 blocks gives the same 63% / 0.73 (bench/RESULTS.md).
    func testFourBitQuantizedAtLoad() throws {
        let (t1, m1, x1) = try Self.compare(quantize: .q4_1, mode: .precise)
        print("HF folder quantized to Q4_1 at load: top-1 \(t1), mean |Δ log-prob| \(m1), max \(x1)")
        XCTAssertGreaterThanOrEqual(t1, 0.995)
        XCTAssertLessThanOrEqual(m1, 1e-4)
        let (t0, m0, x0) = try Self.compare(quantize: .q4_0, mode: .precise)
        print("HF folder quantized to Q4_0 at load: top-1 \(t0), mean |Δ log-prob| \(m0), max \(x0)")
        XCTAssertGreaterThanOrEqual(t0, 0.55)
        XCTAssertLessThanOrEqual(m0, 1.0)
    }

    /// The whole model from the folder: tokenizer.json gives transformers' ids for the reference
    /// texts, greedy generation starts " Paris", and the chat template renders like the GGUF's.
    func testModelFromFolderEndToEnd() throws {
        let model = try Model(path: try Fixtures.smolLM2Folder())
        let tok = try model.requireTokenizer()
        for t in try SmolLM2ReferenceTests.texts() {
            XCTAssertEqual(try tok.encode(t.text, addSpecial: false, parseSpecial: true), t.ids, t.name)
            XCTAssertEqual(tok.decode(t.ids, skipSpecial: false), t.text, t.name)
        }
        let session = try Session(model: model)
        var p = GenerationParams()
        p.maxNewTokens = 8
        let r = try session.generate(prompt: try tok.encode("The capital of France is", addSpecial: true, parseSpecial: false),
                                     params: p)
        XCTAssertTrue(r.text.hasPrefix(" Paris"), r.text)
        let gguf = try Model(path: try Fixtures.smolLM2())
        let msgs = [ChatMessage(role: "user", content: "Hi there")]
        XCTAssertNotNil(model.chatTemplate)
        XCTAssertEqual(try model.chatTemplate?.apply(msgs, addGenerationPrompt: true),
                       try gguf.chatTemplate?.apply(msgs, addGenerationPrompt: true))
        XCTAssertEqual(model.metadataText("general.architecture"), "llama")
        XCTAssertEqual(model.metadataText("num_hidden_layers"), "30")
    }
}
