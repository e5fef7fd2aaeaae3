import Foundation
import MIICore
import XCTest

/// Text to sentence embedding with the folder's own tokenizer.json: the ids match what
/// sentence-transformers' tokenizer produced and the embeddings match `encode`.
final class MiniLMTextEndToEndTests: XCTestCase {
    func testTextToEmbedding() throws {
        let folder = try HFFolder(path: try Fixtures.miniLMFolder())
        guard let tj = folder.tokenizerJSON else { return XCTFail("no tokenizer.json") }
        let tok = try Tokenizer.fromHuggingFace(tokenizerJSON: tj, tokenizerConfigJSON: folder.tokenizerConfigJSON)
        let cfg = try SentenceEmbeddingConfig(folder: folder)
        let net = try ArchitectureRegistry.loadHFEncoder(folder)
        let pool = try ThreadPool(threads: 2)
        let refs = try MiniLMEmbeddingTests.reference()
        var minCos = 1.0
        for r in refs {
            let ids = try tok.encode(r.text, addSpecial: true, parseSpecial: false)
            XCTAssertEqual(ids, r.ids, r.text)
            let e = try net.sentenceEmbeddings([EncoderInput(tokens: ids)], config: cfg, pool: pool)[0]
            minCos = min(minCos, MiniLMEmbeddingTests.cosine(e, r.embedding))
        }
        print("MiniLM end to end (text): min cosine \(minCos)")
        XCTAssertGreaterThanOrEqual(minCos, 0.9999)
    }
}
