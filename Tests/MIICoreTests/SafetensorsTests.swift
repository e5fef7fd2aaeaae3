import Foundation
import MIICore
import XCTest

/// The safetensors reader against files written by the `safetensors` package
/// (Tests/Fixtures/safetensors, from scripts/fixtures/make_safetensors_fixtures.py): values and shapes
/// as the package reads them back, a sharded checkpoint, and hostile files that must be rejected with
/// an MIIError quickly.
final class SafetensorsTests: XCTestCase {
    static let dir = Fixtures.path("safetensors")
    static let timeLimit: Duration = .seconds(1)

    func expected() throws -> [String: Any] {
        try Fixtures.json("safetensors/expected.json") as! [String: Any]
    }

    /// Element `i` (row-major) of a tensor as a Double.
    func element(_ t: SafetensorsTensorInfo, _ p: UnsafeRawPointer, _ i: Int) -> Double? {
        switch t.dtype {
        case "F32": return Double(p.loadUnaligned(fromByteOffset: 4 * i, as: Float.self))
        case "F16":
            return Double(Float16(bitPattern: p.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
        case "BF16":
            let b = UInt32(p.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) << 16
            return Double(Float(bitPattern: b))
        case "I64": return Double(p.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self))
        case "U8": return Double(p.loadUnaligned(fromByteOffset: i, as: UInt8.self))
        default: return nil
        }
    }

    /// Checks one tensor against its expected.json entry; returns the number of values compared.
    @discardableResult
    func check(_ name: String, _ exp: [String: Any], info: SafetensorsTensorInfo?, source: TensorSource,
               data: (SafetensorsTensorInfo) -> UnsafeRawPointer) -> Int {
        guard let t = info else { XCTFail("tensor '\(name)' not found"); return 0 }
        let dtype = exp["dtype"] as! String
        let shape = (exp["shape"] as! [Int]).map(Int64.init)
        XCTAssertEqual(t.dtype, dtype, name)
        XCTAssertEqual(t.shape, shape, name)
        XCTAssertEqual(t.dims, shape.isEmpty ? [1] : shape.reversed(), name)
        XCTAssertEqual(Int64(t.byteCount), shape.reduce(1, *) * t.elementBytes, name)
        let ggml: GGMLType? = (["F32": .f32, "F16": .f16, "BF16": .bf16, "I64": .i64] as [String: GGMLType])[dtype]
        XCTAssertEqual(t.type, ggml, name)
        XCTAssertEqual(t.isComputable, ["F32", "F16", "BF16"].contains(dtype), name)
        if let g = ggml {
            guard let l = source.lookup(name) else { XCTFail("lookup('\(name)') failed"); return 0 }
            XCTAssertEqual(l.type, g, name)
            XCTAssertEqual(l.dims, t.dims, name)
            XCTAssertEqual(l.data, data(t), name)
        } else {
            XCTAssertNil(source.lookup(name), name)
        }
        let p = data(t)
        var n = 0
        for pair in exp["values"] as! [[Any]] {
            let i = (pair[0] as! NSNumber).intValue
            let want = (pair[1] as! NSNumber).doubleValue
            let bits = (pair[2] as! NSNumber).uint32Value
            guard let got = element(t, p, i) else { XCTFail("\(name): cannot read dtype \(dtype)"); continue }
            // Exact comparison through the float32 bit pattern (Foundation's JSON doubles are inexact).
            XCTAssertEqual(Float(got).bitPattern, bits, "\(name)[\(i)] = \(got), expected \(want)")
            XCTAssertEqual(got, want, accuracy: 1e-6 * max(1, abs(want)), "\(name)[\(i)]")
            n += 1
        }
        return n
    }

    func testBasicFileMatchesPackage() throws {
        let exp = try expected()["basic.safetensors"] as! [String: Any]
        let f = try SafetensorsFile(path: Self.dir + "/basic.safetensors")
        let tensors = exp["tensors"] as! [String: [String: Any]]
        XCTAssertEqual(f.tensors.count, tensors.count)
        var compared = 0
        for (name, e) in tensors {
            compared += check(name, e, info: f.tensor(name), source: f, data: f.data)
        }
        XCTAssertGreaterThan(compared, 25)
        let meta = exp["metadata"] as! [String: String]
        XCTAssertEqual(f.metadata.count, meta.count)
        for (k, v) in meta { XCTAssertEqual(f.metadataValue(k), v, k) }
        XCTAssertNil(f.lookup("no.such.tensor"))
        // The data section follows the 8-byte length and the header.
        let n = f.file.base.loadUnaligned(as: UInt64.self)
        XCTAssertEqual(f.dataOffset, 8 + Int(n))
    }

    func testMixedDtypes() throws {
        let exp = try expected()["mixed.safetensors"] as! [String: Any]
        let f = try SafetensorsFile(path: Self.dir + "/mixed.safetensors")
        let tensors = exp["tensors"] as! [String: [String: Any]]
        XCTAssertEqual(f.tensors.count, 4)
        for (name, e) in tensors {
            check(name, e, info: f.tensor(name), source: f, data: f.data)
        }
        XCTAssertEqual(f.tensor("empty")?.byteCount, 0)
        XCTAssertEqual(f.tensor("mask")?.type, nil)
    }

    func testShardedCheckpoint() throws {
        let exp = try expected()["sharded"] as! [String: Any]
        let idx = try SafetensorsIndex(path: Self.dir + "/sharded/model.safetensors.index.json")
        XCTAssertEqual(idx.shards.count, 2)
        let tensors = exp["tensors"] as! [String: [String: Any]]
        XCTAssertEqual(idx.weightMap.count, tensors.count)
        var compared = 0
        for (name, e) in tensors {
            let shard = try XCTUnwrap(idx.shard(for: name), name)
            XCTAssertTrue(shard.file.path.hasSuffix("/" + (e["shard"] as! String)), shard.file.path)
            compared += check(name, e, info: idx.tensor(name), source: idx, data: shard.data)
        }
        XCTAssertGreaterThan(compared, 10)
        XCTAssertNil(idx.lookup("layers.2.weight"))
        XCTAssertEqual(idx.metadata?["total_size"]?.int, 112)
    }

    /// Why each hostile index must be rejected (a fragment of the message).
    static let indexMessages: [String: String] = [
        "bad_absolute.index.json": "not a plain file name",
        "bad_dotdot.index.json": "not a plain file name",
        "bad_dotdot_plain.index.json": "not a plain file name",
        "bad_missing_shard.index.json": "cannot open",
        "bad_missing_tensor.index.json": "does not contain it",
        "bad_wrong_shard.index.json": "does not contain it",
        "bad_non_string.index.json": "not a file name",
        "bad_no_weight_map.index.json": "no weight_map",
        "bad_not_json.index.json": "expected an object key",
    ]

    func testBadIndexesRejected() throws {
        let names = try expected()["bad_indexes"] as! [String]
        XCTAssertGreaterThanOrEqual(names.count, 8)
        for name in names {
            let clock = ContinuousClock()
            let start = clock.now
            do {
                _ = try SafetensorsIndex(path: Self.dir + "/sharded/" + name)
                XCTFail("\(name) should be rejected")
            } catch let e as MIIError {
                let fragment = Self.indexMessages[name] ?? "?"
                XCTAssertTrue(e.message.contains(fragment), "\(name): '\(e.message)' lacks '\(fragment)'")
            } catch {
                XCTFail("\(name): unexpected error \(error)")
            }
            XCTAssertLessThan(clock.now - start, Self.timeLimit, name)
        }
    }

    func testHostileFilesRejected() throws {
        let url = URL(fileURLWithPath: Self.dir + "/hostile/manifest.json")
        let entries = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [[String: String]]
        XCTAssertGreaterThanOrEqual(entries.count, 15)
        let verbose = ProcessInfo.processInfo.environment["MII_TEST_VERBOSE"] == "1"
        var rejected = 0
        for e in entries {
            let file = e["file"]!, what = e["what"]!
            let path = Self.dir + "/hostile/" + file
            let clock = ContinuousClock()
            let start = clock.now
            do {
                let f = try SafetensorsFile(path: path)
                if file.hasPrefix("ok_") {
                    XCTAssertEqual(f.tensors.count, 1, file)
                } else {
                    XCTFail("\(file) (\(what)) should be rejected")
                }
            } catch let err as MIIError {
                if file.hasPrefix("ok_") { XCTFail("\(file) should load: \(err)") }
                XCTAssertFalse(err.message.isEmpty, file)
                let fragment = e["message"] ?? ""
                XCTAssertFalse(fragment.isEmpty, "\(file): manifest gives no expected message")
                XCTAssertTrue(err.message.contains(fragment), "\(file): '\(err.message)' lacks '\(fragment)'")
                XCTAssertTrue(err.code == .invalidFormat || err.code == .unsupported, "\(file): \(err.code)")
                rejected += 1
                if verbose { print("\(file): \(err.message)") }
            } catch {
                XCTFail("\(file): unexpected error \(error)")
            }
            XCTAssertLessThan(clock.now - start, Self.timeLimit, "\(file) (\(what))")
        }
        XCTAssertEqual(rejected, entries.count - 1)
    }

    /// A header length of 2^63 or 101 MB is rejected before anything is read or allocated.
    func testHugeHeaderLengthIsFast() throws {
        let clock = ContinuousClock()
        for file in ["header_2pow63.safetensors", "header_101mb.safetensors", "header_99mb_tiny.safetensors"] {
            let t = try clock.measure {
                XCTAssertThrowsError(try SafetensorsFile(path: Self.dir + "/hostile/" + file))
            }
            XCTAssertLessThan(t, .milliseconds(50), file)
        }
    }
}
