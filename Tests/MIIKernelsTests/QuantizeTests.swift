import Foundation
import MIIKernels
import XCTest

/// Load-time weight quantizers vs the `gguf` package's quantizers (bit-exact ports of ggml's reference
/// code; fixtures by scripts/fixtures/make_quantize_fixtures.py): every output byte must match.
final class QuantizeTests: XCTestCase {
    func testQuantizersMatchGGUFBitForBit() throws {
        let dir = fixturesDir.appendingPathComponent("quantize")
        let raw = try Data(contentsOf: dir.appendingPathComponent("input.f32"))
        var x = [Float](repeating: 0, count: raw.count / 4)
        _ = x.withUnsafeMutableBytes { raw.copyBytes(to: $0) }
        XCTAssertEqual(x.count, 64 * 32)
        for (name, type, blockBytes) in [("q8_0", Int32(MIIK_Q8_0.rawValue), 34), ("q4_0", Int32(MIIK_Q4_0.rawValue), 18),
                                         ("q4_1", Int32(MIIK_Q4_1.rawValue), 20)] {
            let want = [UInt8](try Data(contentsOf: dir.appendingPathComponent("\(name).bin")))
            var got = [UInt8](repeating: 0xAA, count: x.count / 32 * blockBytes)
            XCTAssertEqual(got.count, want.count, name)
            let rc = got.withUnsafeMutableBytes { miik_quantize(type, x, $0.baseAddress, Int64(x.count)) }
            XCTAssertEqual(rc, 0, name)
            var bad = 0
            for i in 0..<min(got.count, want.count) where got[i] != want[i] {
                if bad < 5 { XCTFail("\(name): byte \(i) (block \(i / blockBytes)) = \(got[i]), want \(want[i])") }
                bad += 1
            }
            XCTAssertEqual(bad, 0, "\(name): \(bad) bytes differ")
            // And the round trip through our dequantizer stays within half a step of each block.
            var back = [Float](repeating: 0, count: x.count)
            got.withUnsafeBytes { miik_dequantize_ref(type, $0.baseAddress, &back, Int64(x.count)) }
            for b in 0..<64 where ![4, 5, 9].contains(b) {  // huge, fp16-subnormal scale, near the half range
                let blk = x[(b * 32)..<(b * 32 + 32)]
                // half a step (Q8_0, Q4_1) or one step (Q4_0 clips the side opposite its largest value) plus the fp16 scale rounding, relative to the block's
                // largest magnitude
                let amax = blk.map { abs($0) }.max()!
                for j in 0..<32 {
                    XCTAssertLessThanOrEqual(abs(back[b * 32 + j] - x[b * 32 + j]), amax * (name == "q8_0" ? 0.005 : 0.13),
                                             "\(name) block \(b)")
                }
            }
        }
    }

    func testRejectsOtherTypesAndPartialBlocks() {
        var x = [Float](repeating: 1, count: 64)
        var out = [UInt8](repeating: 0, count: 256)
        XCTAssertEqual(out.withUnsafeMutableBytes { miik_quantize(Int32(MIIK_Q4_K.rawValue), &x, $0.baseAddress, 64) }, -1)
        XCTAssertEqual(out.withUnsafeMutableBytes { miik_quantize(Int32(MIIK_Q8_0.rawValue), &x, $0.baseAddress, 48) }, -1)
    }
}
