import Foundation
@testable import MIICore
import XCTest

/// BERT from GGUF files written by llama.cpp's converter: the tiny random-weight BertModel of
/// scripts/fixtures/make_tiny_encoders.py (Tests/Fixtures/hf_tiny_gguf/bert-base.f32.gguf) against the
/// transformers reference of its folder, its WordPiece vocabulary against the Hugging Face tokenizer,
/// and the real all-MiniLM-L6-v2 converted at test-setup time against sentence-transformers.
final class GGUFEncoderTests: XCTestCase {
    static let tinyPath = Fixtures.path("hf_tiny_gguf/bert-base.f32.gguf")

    /// Hidden states of every reference sequence (the pair with token type ids 1 included), one at a
    /// time and packed, within 1e-4 of transformers float32; the GGUF and folder networks agree.
    func testTinyBertHiddenStates() throws {
        let net = try ArchitectureRegistry.loadGGUFEncoder(GGUFFile(path: Self.tinyPath))
        XCTAssertEqual(net.architecture, "bert")
        XCTAssertEqual(net.hiddenSize, 32)
        XCTAssertEqual(net.vocabSize, 96)
        XCTAssertEqual(net.typeVocabSize, 2)
        XCTAssertEqual(net.maxPositions, 40)
        XCTAssertEqual(net.heads, [])
        let folder = try EncoderParityTests.network("bert-base")
        let seqs = try EncoderParityTests.reference("bert-base")
        let pool = try ThreadPool(threads: 2)
        let batched = try net.hiddenStates(batch: seqs.map(\.input), pool: pool, mode: .precise, shouldCancel: { false })
        var worst = 0.0, worstFolder = 0.0
        for (i, s) in seqs.enumerated() {
            let h = try net.hiddenStates(tokens: s.input.tokens, typeIds: s.input.typeIds, pool: pool)
            worst = max(worst, EncoderParityTests.maxDiff(h, s.hidden), EncoderParityTests.maxDiff(batched[i], s.hidden))
            let hf = try folder.hiddenStates(tokens: s.input.tokens, typeIds: s.input.typeIds, pool: pool)
            worstFolder = max(worstFolder, EncoderParityTests.maxDiff(h, hf.map(Double.init)))
        }
        print("gguf bert: max |Δ hidden| vs transformers \(worst), vs the folder \(worstFolder)")
        XCTAssertLessThan(worst, 1e-4)
        XCTAssertLessThan(worstFolder, 1e-5)
    }

    /// The GGUF WordPiece vocabulary (phantom-space form) tokenizes as the Hugging Face tokenizer the
    /// converter read: lower-casing, accents, punctuation, continuation pieces, [UNK], [MASK].
    func testTinyBertTokenizer() throws {
        let model = try Model(path: Self.tinyPath)
        let tok = try model.requireTokenizer()
        XCTAssertEqual(tok.kindName, "WPM")
        XCTAssertEqual(tok.bosId, 2)
        XCTAssertEqual(tok.sepId, 3)
        let d = try Fixtures.json("hf_tiny_gguf/bert-base.f32.tokens.json") as! [String: Any]
        for c in d["cases"] as! [[String: Any]] {
            let text = c["text"] as! String
            let want = (c["ids"] as! [Int]).map(Int32.init)
            XCTAssertEqual(try tok.encode(text, addSpecial: true, parseSpecial: true), want, text.debugDescription)
            XCTAssertEqual(try tok.encode(text, addSpecial: false, parseSpecial: true), Array(want.dropFirst().dropLast()))
        }
        XCTAssertEqual(tok.decode(try tok.encode("the cat sat.", addSpecial: false, parseSpecial: false), skipSpecial: true,
                                  cleanUpSpaces: true), " the cat sat.")
    }

    /// `Model.embed` on a GGUF encoder: tokenized with [CLS]/[SEP], mean-pooled, L2-normalised; the
    /// same vector as pooling the folder network's hidden states of those ids by hand.
    func testTinyBertModelEmbed() throws {
        let model = try Model(path: Self.tinyPath)
        XCTAssertTrue(model.isEncoder)
        XCTAssertNil(model.network)
        XCTAssertEqual(model.sentenceEmbedding, SentenceEmbeddingConfig(pooling: [.mean], includePrompt: true, normalize: true))
        XCTAssertEqual(model.sentenceEmbeddingDimension, 32)
        let texts = ["the cat sat.", "Hello, World!", "seaside cats singing"]
        let emb = try model.embed(texts, threads: 2)
        let folder = try EncoderParityTests.network("bert-base")
        let pool = try ThreadPool(threads: 2)
        for (t, e) in zip(texts, emb) {
            let ids = try model.requireTokenizer().encode(t, addSpecial: true, parseSpecial: false)
            let h = try folder.hiddenStates(tokens: ids, pool: pool)
            var mean = [Float](repeating: 0, count: 32)
            for r in 0..<ids.count { for j in 0..<32 { mean[j] += h[r * 32 + j] / Float(ids.count) } }
            let norm = mean.reduce(0) { $0 + $1 * $1 }.squareRoot()
            XCTAssertEqual(EncoderParityTests.maxDiff(e, mean.map { Double($0 / norm) }), 0, accuracy: 1e-5, t)
        }
        XCTAssertThrowsError(try model.requireDecoder())
    }

    /// Hostile variants of the tiny file's metadata are errors, not traps.
    func testTinyBertMetadataErrors() throws {
        let g = try GGUFFile(path: Self.tinyPath)
        XCTAssertThrowsError(try ArchitectureRegistry.loadGGUF(g)) { e in
            XCTAssertTrue((e as? MIIError)?.message.contains("is an encoder") == true, "\(e)")
        }
        // A fused Q/K/V tensor of the wrong size: renamed by the test through a tensor source.
        struct Fused: TensorSource {
            let g: GGUFFile
            func lookup(_ name: String) -> (type: GGMLType, dims: [Int64], data: UnsafeRawPointer)? {
                if name == "blk.1.attn_qkv.weight" { return g.lookup("blk.1.ffn_up.weight") }
                return g.lookup(name)
            }
        }
        XCTAssertThrowsError(try ArchitectureRegistry.loadGGUFEncoder(g, tensors: Fused(g: g))) { e in
            XCTAssertTrue((e as? MIIError)?.message.contains("attn_qkv") == true, "\(e)")
        }
    }

    /// Q, K, V fused into one tensor (the converter's --fuse-qkv layout) load as row ranges, weights
    /// and biases.
    func testTinyBertFusedQKV() throws {
        let g = try GGUFFile(path: Self.tinyPath)
        final class FusedQKV: TensorSource {
            let g: GGUFFile
            var keep: [[Float]] = []
            var made: [String: (type: GGMLType, dims: [Int64], data: UnsafeRawPointer)] = [:]
            init(_ g: GGUFFile) { self.g = g }
            func lookup(_ name: String) -> (type: GGMLType, dims: [Int64], data: UnsafeRawPointer)? {
                if let m = made[name] { return m }
                for part in ["q", "k", "v"] where name.hasSuffix(".attn_\(part).weight") || name.hasSuffix(".attn_\(part).bias") {
                    return nil  // only the fused tensors exist
                }
                guard name.hasSuffix(".attn_qkv.weight") || name.hasSuffix(".attn_qkv.bias") else { return g.lookup(name) }
                var all: [Float] = []
                var dims: [Int64] = []
                for part in ["q", "k", "v"] {
                    guard let t = g.lookup(name.replacingOccurrences(of: "attn_qkv", with: "attn_" + part)) else { return nil }
                    let n = Int(t.dims.reduce(1, *))
                    all += Array(UnsafeBufferPointer(start: t.data.assumingMemoryBound(to: Float.self), count: n))
                    dims = t.dims
                }
                dims[dims.count - 1] *= 3
                keep.append(all)
                let p = keep[keep.count - 1].withUnsafeBufferPointer { UnsafeRawPointer($0.baseAddress!) }
                made[name] = (.f32, dims, p)
                return made[name]
            }
        }
        let fused = try ArchitectureRegistry.loadGGUFEncoder(g, tensors: FusedQKV(g))
        let plain = try ArchitectureRegistry.loadGGUFEncoder(g)
        let pool = try ThreadPool(threads: 1)
        let ids: [Int32] = [2, 5, 17, 90, 33, 64, 12, 3]
        XCTAssertEqual(try fused.hiddenStates(tokens: ids, pool: pool), try plain.hiddenStates(tokens: ids, pool: pool))
    }

    // MARK: all-MiniLM-L6-v2

    /// The real model converted by llama.cpp's converter (F32 and F16): the GGUF WordPiece tokenizer
    /// gives the reference's ids (made by the Hugging Face tokenizer) and `Model.embed` the
    /// sentence-transformers embeddings (mean pooling + Normalize).
    func testMiniLMGGUFMatchesSentenceTransformers() throws {
        let refs = try MiniLMEmbeddingTests.reference()
        for (outtype, floor) in [("f32", 0.99999), ("f16", 0.9999)] {
            let model = try Model(path: try Fixtures.miniLMGGUF(outtype))
            XCTAssertEqual(model.architecture, "bert")
            XCTAssertEqual(model.sentenceEmbeddingDimension, 384)
            let tok = try model.requireTokenizer()
            for r in refs {
                XCTAssertEqual(try tok.encode(r.text, addSpecial: true, parseSpecial: false), r.ids, "\(outtype): \(r.text.prefix(40))")
            }
            let emb = try model.embed(refs.map(\.text), threads: 2)
            var minCos = 1.0, worst = 0.0
            for (e, r) in zip(emb, refs) {
                minCos = min(minCos, MiniLMEmbeddingTests.cosine(e, r.embedding))
                worst = max(worst, EncoderParityTests.maxDiff(e, r.embedding.map(Double.init)))
            }
            print("MiniLM GGUF \(outtype): min cosine \(minCos), max |Δ| \(worst) over \(refs.count) sentences")
            XCTAssertGreaterThanOrEqual(minCos, floor, outtype)
            if outtype == "f32" { XCTAssertLessThan(worst, 1e-4) }
        }
    }

    /// Quantized at load: the F32 file's matrices as Q8_0 (position and token-type tables stay F32,
    /// as in llama.cpp's quantized files), against sentence-transformers' float32 embeddings (the
    /// folder quantized at load measures 0.99972).
    func testMiniLMGGUFQuantizedAtLoad() throws {
        var o = ModelOptions()
        o.quantize = .q8_0
        let model = try Model(path: try Fixtures.miniLMGGUF("f32"), options: o)
        XCTAssertTrue(model.formatDescription.contains("quantized to Q8_0 at load"), model.formatDescription)
        XCTAssertEqual(model.tensorTypeCounts.first { $0.0 == "Q8_0" }?.1, 37)  // 6 x 6 layer matrices + token_embd
        let refs = try MiniLMEmbeddingTests.reference()
        let emb = try model.embed(refs.map(\.text), threads: 2)
        var minCos = 1.0
        for (e, r) in zip(emb, refs) { minCos = min(minCos, MiniLMEmbeddingTests.cosine(e, r.embedding)) }
        print("MiniLM GGUF Q8_0 at load: min cosine \(minCos)")
        XCTAssertGreaterThanOrEqual(minCos, 0.9995)
    }
}
