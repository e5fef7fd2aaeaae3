import Foundation
import MIICore
import MIIKernels
import XCTest

/// The GGUF reader against the `gguf` package: a file written by its GGUFWriter with every value type,
/// and the values its GGUFReader reads back (scripts/fixtures/make_metadata_gguf.py).
final class GGUFReaderTests: XCTestCase {
    func expected() throws -> [String: Any] { try Fixtures.json("gguf/all_types.json") as! [String: Any] }

    func check(_ g: GGUFFile) throws {
        let e = try expected()
        let fields = e["fields"] as! [String: [String: Any]]
        for (key, f) in fields {
            guard let v = g.metadata[key] else { XCTFail("missing \(key)"); continue }
            let want = f["value"]!
            switch v {
            case .string(let s): XCTAssertEqual(s, want as? String, key)
            case .bool(let b): XCTAssertEqual(b, want as? Bool, key)
            case .float32(let x): XCTAssertEqual(Double(x), (want as! NSNumber).doubleValue, key)
            case .float64(let x): XCTAssertEqual(x, (want as! NSNumber).doubleValue, key)
            case .stringArray(let a): XCTAssertEqual(Array(a), want as? [String], key)
            case .floatArray(let a): XCTAssertEqual(a.map(Double.init), (want as! [NSNumber]).map { $0.doubleValue }, key)
            case .intArray(let a):
                if key == "t.arr_bool" {
                    XCTAssertEqual(a.map { $0 != 0 }, want as? [Bool], key)
                } else {
                    XCTAssertEqual(a, (want as! [NSNumber]).map { $0.int64Value }, key)
                }
            case .array(let a):
                XCTAssertEqual(want as? String, "nested", key)
                XCTAssertEqual(a.count, 2)
                if case .intArray(let inner) = a[0] { XCTAssertEqual(inner, [1, 2]) } else { XCTFail("nested[0]") }
            default:
                XCTAssertEqual(v.int, (want as! NSNumber).int64Value, key)
            }
        }
        XCTAssertEqual(g.metadata["t.u64"]?.int, 9_223_372_036_854_775_803)
        let tensors = e["tensors"] as! [[String: Any]]
        XCTAssertEqual(g.tensors.count, tensors.count)
        for t in tensors {
            let info = try XCTUnwrap(g.tensor(t["name"] as! String))
            XCTAssertEqual(Int(info.type.rawValue), t["type"] as! Int)
            // GGUFReader's tensor shape is in GGML order (innermost first), like ours.
            XCTAssertEqual(info.dims.map(Int.init), t["dims"] as! [Int])
            XCTAssertEqual(info.fileOffset, t["offset"] as! Int)
            var vals = [Float](repeating: 0, count: Int(info.elementCount))
            miik_dequantize(Int32(info.type.rawValue), g.data(info), &vals, info.elementCount)
            XCTAssertEqual(Double(vals[1]), (t["first"] as! NSNumber).doubleValue)
        }
    }

    func testReadsEveryValueTypeV3() throws {
        let g = try GGUFFile(path: Fixtures.path("gguf/all_types.gguf"))
        XCTAssertEqual(g.version, 3)
        XCTAssertEqual(g.architecture, "testarch")
        try check(g)
    }

    func testVersion2ReadsTheSame() throws {
        // GGUF v2 and v3 share the layout (v3 added big-endian files, which carry a byte-swapped version).
        var bytes = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("gguf/all_types.gguf")))
        bytes[4] = 2
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("mii-v2-\(getpid()).gguf")
        try bytes.write(to: tmp)
        defer { try? FileManager.default.removeItem(at: tmp) }
        let g = try GGUFFile(path: tmp.path)
        XCTAssertEqual(g.version, 2)
        try check(g)
    }

    func testRealModelTensorTable() throws {
        let g = try GGUFFile(path: try Fixtures.smolLM2())
        XCTAssertEqual(g.architecture, "llama")
        var counts: [GGMLType: Int] = [:]
        for t in g.tensors { counts[t.type, default: 0] += 1 }
        XCTAssertEqual(counts, [.q4_1: 210, .f32: 61, .q8_0: 1])
        XCTAssertEqual(try g.int("llama.block_count"), 30)
        XCTAssertEqual(try g.stringArray("tokenizer.ggml.merges")?.count, 48900)
    }
}
