import Foundation
import MIICore
import XCTest

/// Architecture and RoPE variants of the tiny llama (scripts/fixtures/make_tiny_llama.py, VARIANTS),
/// against logits computed independently in numpy float64 (scripts/fixtures/tiny_llama_reference.py,
/// which follows llama.cpp's ggml rope and agrees with transformers' Qwen2 / GLM / Llama-3 models):
///  * tiny-qwen2.gguf: `qwen2`, q/k/v biases, rotate-half RoPE pairs (x[i], x[i + d/2]);
///  * tiny-llama-rope-linear.gguf: `llama.rope.scaling.type` "linear", factor 4 (positions / 4), and
///    partial rotary: rope.dimension_count 8 of head dim 16 (pairs (x[2i], x[2i+1]) for 2i < 8);
///  * tiny-llama-rope-freqs.gguf: `rope_freqs.weight` (inverse frequency i divided by factor i).
/// Each `<name>.reference.json` records in "sensitivity" how far the logits move when the feature is
/// switched off in the reference (0.78 ... 3.0): far above the 1e-4 tolerance used here.
final class TinyVariantsTests: XCTestCase {
    static let qwen2 = "tiny-qwen2.gguf"
    static let ropeLinear = "tiny-llama-rope-linear.gguf"
    static let ropeFreqs = "tiny-llama-rope-freqs.gguf"
    static let files = [qwen2, ropeLinear, ropeFreqs]

    /// Greedy steps are compared only while the reference's top-1 minus top-2 logit is at least this
    /// (100x the logit tolerance); the fixtures' smallest margin is 0.032.
    static let minMargin = 0.01

    struct Reference {
        let texts: [String]
        let sequences: [[Int32]]
        let logits: [[[Double]]]   // [sequence][position][vocab]
        let greedy: [(seq: Int, continuation: [Int32], margins: [Double])]
    }

    static func reference(_ file: String) throws -> Reference {
        let stem = (file as NSString).deletingPathExtension
        let d = try Fixtures.json("tiny/\(stem).reference.json") as! [String: Any]
        let seqs = d["sequences"] as! [[String: Any]]
        let m = (d["models"] as! [String: [String: Any]])[file]!
        return Reference(
            texts: seqs.map { $0["text"] as! String },
            sequences: seqs.map { ($0["tokens"] as! [Int]).map(Int32.init) },
            logits: (m["logits"] as! [[[NSNumber]]]).map { $0.map { $0.map { $0.doubleValue } } },
            greedy: (m["greedy"] as! [[String: Any]]).map {
                ($0["sequence"] as! Int, ($0["continuation"] as! [Int]).map(Int32.init),
                 ($0["margins"] as! [NSNumber]).map { $0.doubleValue })
            })
    }

    static func load(_ file: String) throws -> Model {
        var opts = ModelOptions()
        opts.mode = .precise
        return try Model(path: Fixtures.path("tiny/\(file)"), options: opts)
    }

    // MARK: - logits

    func checkLogits(_ file: String, threads: Int, batch: Int, tolerance: Double = 1e-4) throws {
        let ref = try Self.reference(file)
        let model = try Self.load(file)
        var so = SessionOptions()
        so.threads = threads
        so.batch = batch  // several chunks per sequence: RoPE positions continue across chunks
        so.mode = .precise
        let session = try Session(model: model, options: so)
        let v = model.vocabSize
        for (si, seq) in ref.sequences.enumerated() {
            session.reset()
            let got = try session.evaluate(seq, allLogits: true)
            let want = ref.logits[si]
            XCTAssertEqual(want.count, seq.count)
            XCTAssertEqual(got.count, seq.count * v)
            var maxErr = 0.0
            var at = (0, 0)
            for (t, row) in want.enumerated() {
                XCTAssertEqual(row.count, v)
                for (k, w) in row.enumerated() {
                    let e = abs(Double(got[t * v + k]) - w)
                    if e > maxErr { maxErr = e; at = (t, k) }
                }
            }
            XCTAssertLessThan(maxErr, tolerance,
                              "\(file) threads \(threads) seq \(si): max |Δlogit| \(maxErr) at position \(at.0), token \(at.1)")
        }
    }

    func testQwen2LogitsOneThread() throws { try checkLogits(Self.qwen2, threads: 1, batch: 7) }
    func testQwen2LogitsTwoThreads() throws { try checkLogits(Self.qwen2, threads: 2, batch: 5) }
    func testRopeLinearPartialLogitsOneThread() throws { try checkLogits(Self.ropeLinear, threads: 1, batch: 7) }
    func testRopeLinearPartialLogitsTwoThreads() throws { try checkLogits(Self.ropeLinear, threads: 2, batch: 5) }
    func testRopeFreqsLogitsOneThread() throws { try checkLogits(Self.ropeFreqs, threads: 1, batch: 7) }
    func testRopeFreqsLogitsTwoThreads() throws { try checkLogits(Self.ropeFreqs, threads: 2, batch: 5) }

    // MARK: - greedy continuations (prompt in one chunk, then one token at a time)

    func checkGreedy(_ file: String) throws {
        let ref = try Self.reference(file)
        let model = try Self.load(file)
        let session = try Session(model: model)
        for g in ref.greedy {
            // compare up to (not including) the first step whose margin is too small to be sure of
            let n = g.margins.firstIndex { $0 < Self.minMargin } ?? g.continuation.count
            XCTAssertGreaterThanOrEqual(n, 8, "\(file): reference margins too small to test greedy decoding")
            var p = GenerationParams()
            p.maxNewTokens = n
            p.ignoreEOS = true
            let r = try session.generate(prompt: ref.sequences[g.seq], params: p)
            XCTAssertEqual(r.tokens, Array(g.continuation.prefix(n)), "\(file) greedy from sequence \(g.seq)")
        }
    }

    func testQwen2Greedy() throws { try checkGreedy(Self.qwen2) }
    func testRopeLinearPartialGreedy() throws { try checkGreedy(Self.ropeLinear) }
    func testRopeFreqsGreedy() throws { try checkGreedy(Self.ropeFreqs) }

    // MARK: - what the loader read, and the tokenizer

    /// The hyper-parameters the variants exist for, as the loader read them (a failure here explains a
    /// logits failure above).
    func testLoaderReadsVariantMetadata() throws {
        func config(_ file: String) throws -> DecoderConfig {
            let m = try Self.load(file)
            guard let d = m.network as? LlamaDecoder else {
                XCTFail("\(file): network is \(type(of: m.network))")
                throw XCTSkip("not a LlamaDecoder")
            }
            return d.config
        }
        let q = try config(Self.qwen2)
        XCTAssertEqual(q.architecture, "qwen2")
        XCTAssertEqual(q.ropePairing, .half)
        XCTAssertEqual(q.ropeDims, 16)          // no rope.dimension_count: the head dimension
        XCTAssertEqual(q.ropeBase, 1_000_000)
        XCTAssertEqual(q.normEps, 1e-6)
        XCTAssertEqual(q.ropeLinearScale, 1)

        let l = try config(Self.ropeLinear)
        XCTAssertEqual(l.architecture, "llama")
        XCTAssertEqual(l.ropePairing, .adjacent)
        XCTAssertEqual(l.ropeDims, 8)
        XCTAssertEqual(l.headDim, 16)
        XCTAssertEqual(l.ropeLinearScale, 4)

        let f = try config(Self.ropeFreqs)
        XCTAssertEqual(f.ropePairing, .adjacent)
        XCTAssertEqual(f.ropeDims, 16)
        XCTAssertEqual(f.ropeLinearScale, 1)
    }

    /// The reference token ids come from the reference BPE with each file's pre-tokenizer (qwen2's
    /// regex for tiny-qwen2.gguf); the engine's tokenizer must produce the same ids.
    func testTokenizerMatchesReferenceSequences() throws {
        for file in Self.files {
            let ref = try Self.reference(file)
            let model = try Self.load(file)
            for (text, ids) in zip(ref.texts, ref.sequences) {
                let got = try model.tokenizer!.encode(text, addSpecial: false, parseSpecial: true)
                XCTAssertEqual(got, ids, "\(file): \(text.debugDescription)")
            }
        }
    }
}
