import Foundation
import MIICore
import XCTest

/// The real all-MiniLM-L6-v2 (BERT stored without the `bert.` prefix, mean pooling + Normalize)
/// against sentence-transformers' `encode` (Tests/Fixtures/minilm/reference.json, made by
/// scripts/fixtures/make_minilm_reference.py with the token ids its tokenizer produced): English,
/// code, accents, CJK, emoji, Cyrillic, a 197-token paragraph, a single word.
final class MiniLMEmbeddingTests: XCTestCase {
    struct Ref { let text: String; let ids: [Int32]; let embedding: [Float] }

    static func reference() throws -> [Ref] {
        let d = try Fixtures.json("minilm/reference.json") as! [String: Any]
        return (d["sentences"] as! [[String: Any]]).map {
            Ref(text: $0["text"] as! String, ids: ($0["ids"] as! [Int]).map(Int32.init),
                embedding: ($0["embedding"] as! [NSNumber]).map(\.floatValue))
        }
    }

    static func cosine(_ a: [Float], _ b: [Float]) -> Double {
        var ab = 0.0, aa = 0.0, bb = 0.0
        for (x, y) in zip(a, b) { ab += Double(x * y); aa += Double(x * x); bb += Double(y * y) }
        return ab / (aa.squareRoot() * bb.squareRoot())
    }

    func testSentenceEmbeddingsMatchSentenceTransformers() throws {
        let folder = try HFFolder(path: try Fixtures.miniLMFolder())
        let cfg = try SentenceEmbeddingConfig(folder: folder)
        XCTAssertEqual(cfg, SentenceEmbeddingConfig(pooling: [.mean], includePrompt: true, normalize: true, maxSequenceLength: 256))
        let net = try ArchitectureRegistry.loadHFEncoder(folder)
        XCTAssertEqual(net.architecture, "bert")
        XCTAssertEqual(net.hiddenSize, 384)
        XCTAssertEqual(net.heads, [])
        let refs = try Self.reference()
        let pool = try ThreadPool(threads: 2)
        // One packed batch, and each sentence alone.
        let batch = try net.sentenceEmbeddings(refs.map { EncoderInput(tokens: $0.ids) }, config: cfg, pool: pool)
        var minCos = 1.0
        for (i, r) in refs.enumerated() {
            let alone = try cfg.embed(hidden: try net.hiddenStates(tokens: r.ids, pool: pool), hiddenSize: net.hiddenSize)
            XCTAssertEqual(alone.count, 384)
            let c = min(Self.cosine(batch[i], r.embedding), Self.cosine(alone, r.embedding))
            XCTAssertGreaterThanOrEqual(c, 0.9999, "\(r.text.prefix(40)) (\(r.ids.count) tokens)")
            minCos = min(minCos, c)
            var norm: Float = 0
            for v in batch[i] { norm += v * v }
            XCTAssertEqual(norm, 1, accuracy: 1e-5)
        }
        print("MiniLM: min cosine to sentence-transformers \(minCos) over \(refs.count) sentences")
    }

    /// Weights quantized at load against sentence-transformers' float32 embeddings (measured: Q8_0
    /// precise 0.99972, Q8_0 fast 0.99918, Q4_0 fast 0.942: 4-bit is rough on a 384-wide model).
    func testQuantizedAtLoad() throws {
        let refs = try Self.reference()
        let pool = try ThreadPool(threads: 2)
        for (type, mode, floor) in [(GGMLType.q8_0, PrecisionMode.precise, 0.9995), (.q8_0, .fast, 0.998), (.q4_0, .fast, 0.9)] {
            let folder = try HFFolder(path: try Fixtures.miniLMFolder())
            let cfg = try SentenceEmbeddingConfig(folder: folder)
            folder.quantizeWeights(to: type)
            let net = try ArchitectureRegistry.loadHFEncoder(folder)
            XCTAssertTrue(net.weightMatrices.contains { $0.type == type })
            let emb = try net.sentenceEmbeddings(refs.map { EncoderInput(tokens: $0.ids) }, config: cfg, pool: pool, mode: mode)
            var minCos = 1.0
            for (e, r) in zip(emb, refs) { minCos = min(minCos, Self.cosine(e, r.embedding)) }
            print("MiniLM \(type.name) \(mode.rawValue): min cosine \(minCos)")
            XCTAssertGreaterThanOrEqual(minCos, floor, "\(type.name) \(mode.rawValue)")
        }
    }

    /// CPU seconds of the calling thread (the machine is shared: wall time alone says little).
    static func threadCPU() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }

    /// Single-thread CPU time of one short sentence and of 32 packed sentences.
    func testEmbeddingCPUTimeOneThread() throws {
        let folder = try HFFolder(path: try Fixtures.miniLMFolder())
        let cfg = try SentenceEmbeddingConfig(folder: folder)
        let net = try ArchitectureRegistry.loadHFEncoder(folder)
        let refs = try Self.reference()
        let pool = try ThreadPool(threads: 1)
        let single = [EncoderInput(tokens: refs[0].ids)]
        _ = try net.sentenceEmbeddings(single, config: cfg, pool: pool)
        var c0 = Self.threadCPU()
        for _ in 0..<20 { _ = try net.sentenceEmbeddings(single, config: cfg, pool: pool) }
        let single1 = (Self.threadCPU() - c0) / 20
        let short = refs.filter { $0.ids.count < 100 }
        let batch = (0..<32).map { EncoderInput(tokens: short[$0 % short.count].ids) }
        let tokens = batch.reduce(0) { $0 + $1.tokens.count }
        c0 = Self.threadCPU()
        for _ in 0..<3 { _ = try net.sentenceEmbeddings(batch, config: cfg, pool: pool) }
        let batch1 = (Self.threadCPU() - c0) / 3
        print(String(format: "MiniLM CPU time, 1 thread: single %d-token sentence %.2f ms; batch of 32 (%d tokens) %.1f ms (%.0f sentences per CPU-second)",
                     refs[0].ids.count, single1 * 1000, tokens, batch1 * 1000, 32 / batch1))
    }

    /// Rough throughput (2 threads on a shared machine): one short sentence at a time, and batches of
    /// 32 sentences packed into one pass.
    func testEmbeddingThroughput() throws {
        let folder = try HFFolder(path: try Fixtures.miniLMFolder())
        let cfg = try SentenceEmbeddingConfig(folder: folder)
        let net = try ArchitectureRegistry.loadHFEncoder(folder)
        let refs = try Self.reference()
        let pool = try ThreadPool(threads: 2)
        let single = [EncoderInput(tokens: refs[0].ids)]
        _ = try net.sentenceEmbeddings(single, config: cfg, pool: pool)
        var t0 = Date()
        let reps = 50
        for _ in 0..<reps { _ = try net.sentenceEmbeddings(single, config: cfg, pool: pool) }
        let perSingle = Date().timeIntervalSince(t0) / Double(reps)
        // 32 sentences: the nine short ones cycled (10-37 tokens each).
        let short = refs.filter { $0.ids.count < 100 }
        let batch = (0..<32).map { EncoderInput(tokens: short[$0 % short.count].ids) }
        let tokens = batch.reduce(0) { $0 + $1.tokens.count }
        _ = try net.sentenceEmbeddings(batch, config: cfg, pool: pool)
        t0 = Date()
        let breps = 5
        for _ in 0..<breps { _ = try net.sentenceEmbeddings(batch, config: cfg, pool: pool) }
        let perBatch = Date().timeIntervalSince(t0) / Double(breps)
        print(String(format: "MiniLM throughput (2 threads): single %d-token sentence %.2f ms (%.0f sentences/s); batch of 32 (%d tokens) %.1f ms (%.0f sentences/s, %.0f tokens/s)",
                     refs[0].ids.count, perSingle * 1000, 1 / perSingle, tokens, perBatch * 1000, 32 / perBatch, Double(tokens) / perBatch))
    }
}
