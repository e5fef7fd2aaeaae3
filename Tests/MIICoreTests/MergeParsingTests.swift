import Foundation
@testable import MIICore
import XCTest

/// Real-size BPE merge lists. A GGUF's are looked up on two threads (`BPEModel.parallelMergesMin`):
/// the table matches the list rank by rank, and a bad merge deep in the list is reported by its rank
/// (the first bad one when there are several), as the one-thread path reports it. tokenizer.json's
/// (read on one thread: two did not make the load measurably faster, the table's inserts dominate)
/// report the first bad rank the same way.
final class MergeParsingTests: XCTestCase {
    func testGGUFMergesMatchTheListAndReportTheFirstBadRank() throws {
        let g = try GGUFFile(path: try Fixtures.smolLM2())
        let tokens = try XCTUnwrap(try g.stringArray("tokenizer.ggml.tokens"))
        let list = try XCTUnwrap(try g.stringArray("tokenizer.ggml.merges"))
        XCTAssertGreaterThan(list.count, 4 * BPEModel.parallelMergesMin)
        let vocab = try TokenTextTable(texts: tokens)
        var merges: [[UInt8]] = (0..<list.count).map { i in list.withBytes(i) { Array($0) } }

        let table = try BPEModel.parseMerges(merges, vocab: vocab)
        var firstRank: [UInt64: Int] = [:]
        for (rank, m) in merges.enumerated() {
            let sp = try XCTUnwrap(m.dropFirst().firstIndex(of: 0x20))
            let l = vocab.find(Array(m[..<sp])), r = vocab.find(Array(m[(sp + 1)...]))
            let key = UInt64(UInt32(l)) << 32 | UInt64(UInt32(r))
            if firstRank[key] == nil { firstRank[key] = rank }
            let got = try XCTUnwrap(table.find(l, r), "merge \(rank)")
            XCTAssertEqual(Int(got.rank), firstRank[key], "merge \(rank)")  // the first of duplicates wins
            XCTAssertEqual(got.result, vocab.find(Array(m[..<sp]) + Array(m[(sp + 1)...])), "merge \(rank)")
        }
        XCTAssertEqual(table.count, firstRank.count)

        merges[40000] = Array("nosuchtoken ab".utf8)
        merges[30001] = Array("Ġ zzzzzzunknown".utf8)
        XCTAssertThrowsError(try BPEModel.parseMerges(merges, vocab: vocab)) { e in
            XCTAssertTrue("\(e)".contains("merge 30001") && "\(e)".contains("its right part"), "\(e)")
        }
        merges[20000] = Array("nospace".utf8)
        XCTAssertThrowsError(try BPEModel.parseMerges(merges, vocab: vocab)) { e in
            XCTAssertTrue("\(e)".contains("merge 20000") && "\(e)".contains("not two tokens"), "\(e)")
        }
    }

    func testTokenizerJSONMergesReportTheFirstBadRank() throws {
        let url = URL(fileURLWithPath: try Fixtures.smolLM2Folder()).appendingPathComponent("tokenizer.json")
        let original = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        func load(_ edit: (inout [Any]) -> Void) throws -> Tokenizer {
            var root = original
            var model = root["model"] as! [String: Any]
            var merges = model["merges"] as! [Any]
            edit(&merges)
            model["merges"] = merges
            root["model"] = model
            let bytes = try JSONSerialization.data(withJSONObject: root)
            return try Tokenizer.fromHuggingFace(tokenizerJSON: [UInt8](bytes), tokenizerConfigJSON: nil)
        }
        let tok = try load { _ in }
        XCTAssertEqual(try tok.encode("The capital of France is", addSpecial: false, parseSpecial: false),
                       [504, 3575, 282, 4649, 314])  // Hugging Face tokenizers gives these ids
        XCTAssertThrowsError(try load { m in
            m[45000] = ["ultane", "nosuchtoken"]
            m[30002] = ["nosuchtoken", "ously"]
        }) { e in
            XCTAssertTrue("\(e)".contains("merge 30002") && "\(e)".contains("nosuchtoken"), "\(e)")
        }
        XCTAssertThrowsError(try load { m in m[25000] = "a b c" }) { e in
            XCTAssertTrue("\(e)".contains("merge 25000") && "\(e)".contains("not two tokens"), "\(e)")
        }
        XCTAssertThrowsError(try load { m in m[26000] = 7 }) { e in
            XCTAssertTrue("\(e)".contains("merge 26000") && "\(e)".contains("neither"), "\(e)")
        }
    }
}
