import Foundation
import MIICore
import XCTest

/// Hugging Face folders of every decoder architecture against transformers: tiny random-weight
/// checkpoints saved by `save_pretrained` (scripts/fixtures/make_tiny_hf.py: F32, BF16, F16 and a
/// sharded checkpoint) with transformers' float32 logits for every position of two sequences and a
/// 32-token greedy continuation.
final class HFTinyParityTests: XCTestCase {
    struct Reference {
        let sequences: [(tokens: [Int32], logits: [[Double]])]
        let prompt: [Int32]
        let continuation: [Int32]
        let margins: [Double]
    }

    static func reference(_ name: String) throws -> Reference {
        let d = try Fixtures.json("hf_tiny/\(name)/reference.json") as! [String: Any]
        let seqs = (d["sequences"] as! [[String: Any]]).map {
            (($0["tokens"] as! [Int]).map(Int32.init),
             ($0["logits"] as! [[NSNumber]]).map { $0.map { $0.doubleValue } })
        }
        let g = d["greedy"] as! [String: Any]
        return Reference(sequences: seqs, prompt: (g["prompt"] as! [Int]).map(Int32.init),
                         continuation: (g["continuation"] as! [Int]).map(Int32.init),
                         margins: (g["margins"] as! [NSNumber]).map { $0.doubleValue })
    }

    static func network(_ name: String) throws -> LanguageModelNetwork {
        try ArchitectureRegistry.loadHF(HFFolder(path: Fixtures.path("hf_tiny/\(name)")))
    }

    /// Teacher-forced logits of every position, in chunks of `batch` tokens (positions continue across
    /// chunks and the KV cache carries the earlier ones), then greedy decoding token by token.
    func check(_ name: String, threads: Int = 2, batch: Int = 5, file: StaticString = #filePath, line: UInt = #line) throws {
        let ref = try Self.reference(name)
        let net = try Self.network(name)
        let pool = try ThreadPool(threads: threads)
        let vocab = net.vocabSize
        var worst = 0.0
        for seq in ref.sequences {
            let state = try net.makeState(maxContext: 64, batch: batch, threads: threads, kvFormat: .f32)
            var logits = [Float](repeating: .nan, count: seq.tokens.count * vocab)
            try seq.tokens.withUnsafeBufferPointer { tp in
                try logits.withUnsafeMutableBufferPointer { lp in
                    try net.forward(tp, startPos: 0, state: state, pool: pool, mode: .precise, allLogits: true,
                                    logits: lp.baseAddress!, shouldCancel: { false })
                }
            }
            for (t, row) in seq.logits.enumerated() {
                XCTAssertEqual(row.count, vocab, file: file, line: line)
                for (v, r) in row.enumerated() {
                    worst = max(worst, abs(Double(logits[t * vocab + v]) - r))
                }
            }
        }
        XCTAssertLessThan(worst, 1e-4, "\(name): max |Δ logit| vs transformers", file: file, line: line)

        // Greedy: one token at a time through the KV cache.
        let state = try net.makeState(maxContext: 64, batch: batch, threads: threads, kvFormat: .f32)
        var last = [Float](repeating: 0, count: vocab)
        var tokens = ref.prompt
        var pos = 0
        var produced: [Int32] = []
        var pending = tokens
        for _ in 0..<ref.continuation.count {
            try pending.withUnsafeBufferPointer { tp in
                try last.withUnsafeMutableBufferPointer { lp in
                    try net.forward(tp, startPos: pos, state: state, pool: pool, mode: .precise, allLogits: false,
                                    logits: lp.baseAddress!, shouldCancel: { false })
                }
            }
            pos += pending.count
            let next = Int32(last.indices.max(by: { last[$0] < last[$1] })!)
            produced.append(next)
            tokens.append(next)
            pending = [next]
        }
        XCTAssertEqual(produced, ref.continuation, "\(name): greedy 32 tokens (min margin \(ref.margins.min() ?? 0))",
                       file: file, line: line)
    }

    func testLlama() throws { try check("llama") }
    func testLlama3RopeScalingTiedBiases() throws { try check("llama3-rope") }
    func testMistralBF16SlidingWindow() throws { try check("mistral", threads: 1, batch: 3) }
    func testQwen2F16() throws { try check("qwen2") }
    func testPhi3ShardedFused() throws { try check("phi3", batch: 16) }

    /// The fixtures' features matter: loading the Mistral folder without its window, or the Llama-3
    /// folder without its frequency scaling, would give logits far outside the tolerance — checked by
    /// comparing against a config-edited copy.
    func testFeaturesAreExercised() throws {
        for (name, edit) in [("mistral", { (s: String) in s.replacingOccurrences(of: "\"sliding_window\": 6", with: "\"sliding_window\": null") }),
                             ("llama3-rope", { (s: String) in s.replacingOccurrences(of: "\"rope_type\": \"llama3\"", with: "\"rope_type\": \"default\"") })] {
            let src = URL(fileURLWithPath: Fixtures.path("hf_tiny/\(name)"))
            let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("mii-hf-\(name)-\(getpid())")
            try? FileManager.default.removeItem(at: tmp)
            try FileManager.default.copyItem(at: src, to: tmp)
            defer { try? FileManager.default.removeItem(at: tmp) }
            let cfgURL = tmp.appendingPathComponent("config.json")
            let edited = edit(try String(contentsOf: cfgURL, encoding: .utf8))
            XCTAssertNotEqual(edited, try String(contentsOf: cfgURL, encoding: .utf8), "edit did not apply to \(name)")
            try edited.write(to: cfgURL, atomically: true, encoding: .utf8)
            let net = try ArchitectureRegistry.loadHF(HFFolder(path: tmp.path))
            let ref = try Self.reference(name)
            let seq = ref.sequences[1]
            let state = try net.makeState(maxContext: 64, batch: 16, threads: 1, kvFormat: .f32)
            let pool = try ThreadPool(threads: 1)
            var logits = [Float](repeating: 0, count: seq.tokens.count * net.vocabSize)
            try seq.tokens.withUnsafeBufferPointer { tp in
                try logits.withUnsafeMutableBufferPointer { lp in
                    try net.forward(tp, startPos: 0, state: state, pool: pool, mode: .precise, allLogits: true,
                                    logits: lp.baseAddress!, shouldCancel: { false })
                }
            }
            var worst = 0.0
            for (t, row) in seq.logits.enumerated() {
                for (v, r) in row.enumerated() { worst = max(worst, abs(Double(logits[t * net.vocabSize + v]) - r)) }
            }
            XCTAssertGreaterThan(worst, 0.01, "\(name) without its feature should differ from transformers")
        }
    }

    /// A folder without tokenizer.json loads as a token-id model: sessions generate from ids (greedy
    /// equals transformers), generation_config's eos ends generation, text calls fail clearly.
    func testTokenIdOnlyModelThroughSessions() throws {
        let ref = try Self.reference("qwen2")
        let model = try Model(path: Fixtures.path("hf_tiny/qwen2"))
        XCTAssertNil(model.tokenizer)
        XCTAssertEqual(model.metadataText("general.architecture"), "qwen2")
        XCTAssertEqual(model.metadataText("hidden_size"), "32")
        let session = try Session(model: model)
        var p = GenerationParams()
        p.maxNewTokens = ref.continuation.count
        p.ignoreEOS = true
        let r = try session.generate(prompt: ref.prompt, params: p)
        XCTAssertEqual(r.tokens, ref.continuation)
        XCTAssertEqual(r.text, "")
        XCTAssertThrowsError(try model.requireTokenizer().encode("x", addSpecial: false, parseSpecial: false)) { e in
            XCTAssertEqual((e as? MIIError)?.code, .unsupported)
        }
        p.stop = ["x"]
        XCTAssertThrowsError(try session.generate(prompt: ref.prompt, params: p))
    }

    func testUnsupportedModelTypeAndMissingFiles() throws {
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("mii-hf-bad-\(getpid())")
        try? FileManager.default.removeItem(at: tmp)
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: tmp) }
        func expectError(_ contains: String, line: UInt = #line) {
            do {
                _ = try ArchitectureRegistry.loadHF(HFFolder(path: tmp.path))
                XCTFail("expected an error containing '\(contains)'", line: line)
            } catch let e as MIIError {
                XCTAssertTrue(e.message.contains(contains), "\(e.message)", line: line)
            } catch { XCTFail("\(error)", line: line) }
        }
        expectError("no config.json")
        let cfg = tmp.appendingPathComponent("config.json")
        try #"{"model_type": "llama"}"#.write(to: cfg, atomically: true, encoding: .utf8)
        expectError("neither model.safetensors")
        try FileManager.default.copyItem(at: URL(fileURLWithPath: Fixtures.path("hf_tiny/llama/model.safetensors")),
                                         to: tmp.appendingPathComponent("model.safetensors"))
        expectError("'hidden_size' is missing")
        try #"{"model_type": "llama", "hidden_size": "32"}"#.write(to: cfg, atomically: true, encoding: .utf8)
        expectError("'hidden_size' is \"32\", expected an integer")
        try #"{"model_type": "t5"}"#.write(to: cfg, atomically: true, encoding: .utf8)
        expectError("model_type 't5' is not supported")
        // A config whose shapes disagree with the tensors.
        var good = try String(contentsOfFile: Fixtures.path("hf_tiny/llama/config.json"), encoding: .utf8)
        good = good.replacingOccurrences(of: "\"intermediate_size\": 64", with: "\"intermediate_size\": 65")
        try good.write(to: cfg, atomically: true, encoding: .utf8)
        expectError("has shape")
        var yarn = try String(contentsOfFile: Fixtures.path("hf_tiny/llama/config.json"), encoding: .utf8)
        yarn = yarn.replacingOccurrences(of: "\"rope_type\": \"default\"", with: "\"rope_type\": \"yarn\"")
        try yarn.write(to: cfg, atomically: true, encoding: .utf8)
        expectError("rope type 'yarn' is not supported")
    }
}
