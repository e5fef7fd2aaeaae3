import Foundation
import MIIKernels
import XCTest

/// Dequantizers vs the `gguf` package's numpy reference (fixtures made by
/// scripts/fixtures/make_dequant_fixtures.py): bit-exact, for the reference and every ISA level.
final class DequantTests: XCTestCase {
    static let fixtureTypes: [KType] = [.f32, .f16, .bf16, .q4_0, .q4_1, .q5_0, .q5_1, .q8_0,
                                        .q2_K, .q3_K, .q4_K, .q5_K, .q6_K]

    func loadFixture(_ t: KType) throws -> (blocks: [UInt8], values: [Float]) {
        let dir = fixturesDir.appendingPathComponent("dequant")
        let blocks = try Data(contentsOf: dir.appendingPathComponent("\(t.name).blocks"))
        let raw = try Data(contentsOf: dir.appendingPathComponent("\(t.name).f32"))
        var values = [Float](repeating: 0, count: raw.count / 4)
        _ = values.withUnsafeMutableBytes { raw.copyBytes(to: $0) }
        let n = values.count
        XCTAssertGreaterThan(n, 0, t.name)
        XCTAssertEqual(n % t.blockElems, 0, t.name)
        XCTAssertEqual(blocks.count, n / t.blockElems * t.blockBytes, "\(t.name): fixture sizes disagree")
        return (Array(blocks), values)
    }

    func compareBits(_ got: [Float], _ want: [Float], _ what: String) {
        XCTAssertEqual(got.count, want.count)
        var mismatches = 0
        for i in 0..<min(got.count, want.count) where got[i].bitPattern != want[i].bitPattern {
            if mismatches < 5 { XCTFail("\(what): element \(i) = \(got[i]), want \(want[i])") }
            mismatches += 1
        }
        XCTAssertEqual(mismatches, 0, "\(what): \(mismatches) mismatching elements")
    }

    func testReferenceMatchesGGUF() throws {
        for t in Self.fixtureTypes {
            let (blocks, want) = try loadFixture(t)
            var got = [Float](repeating: .nan, count: want.count)
            blocks.withUnsafeBytes { bp in
                got.withUnsafeMutableBufferPointer { miik_dequantize_ref(t.id, bp.baseAddress, $0.baseAddress, Int64(want.count)) }
            }
            compareBits(got, want, "ref \(t.name)")
        }
    }

    func testDispatchedMatchesGGUFAllISAs() throws {
        var levels = 0
        try forEachISA { _, isa in
            levels += 1
            for t in Self.fixtureTypes {
                let (blocks, want) = try loadFixture(t)
                var got = [Float](repeating: .nan, count: want.count)
                blocks.withUnsafeBytes { bp in
                    got.withUnsafeMutableBufferPointer { miik_dequantize(t.id, bp.baseAddress, $0.baseAddress, Int64(want.count)) }
                }
                compareBits(got, want, "\(isa) \(t.name)")

                // A partial run (first block only; odd start block) must match too.
                let be = t.blockElems, bb = t.blockBytes
                let nBlocks = want.count / be
                if nBlocks >= 3 {
                    var part = [Float](repeating: .nan, count: be)
                    blocks.withUnsafeBytes { bp in
                        part.withUnsafeMutableBufferPointer {
                            miik_dequantize(t.id, bp.baseAddress! + bb, $0.baseAddress, Int64(be))
                        }
                    }
                    compareBits(part, Array(want[be..<(2 * be)]), "\(isa) \(t.name) single block")
                }
            }
        }
        XCTAssertGreaterThanOrEqual(levels, 1)
    }

    /// Q4_1 with every fp16 bit pattern as its scale d (normal, subnormal, zero, inf, NaN, both signs)
    /// and varied mins: every ISA's dequantizer equals the reference bit for bit (any NaN for NaN).
    func testQ4_1EveryScaleAllISAs() {
        let t = KType.q4_1
        let nBlocks = 65536
        var w = [UInt8](repeating: 0, count: nBlocks * t.blockBytes)
        var rng = SplitMix64(seed: 41)
        let specialM: [UInt16] = [0x0000, 0x8000, 0x0001, 0x83FF, 0x3C00, 0xBC00, 0x7BFF, 0xFBFF, 0x7C00, 0xFC00]
        for b in 0..<nBlocks {
            let o = b * t.blockBytes
            let m: UInt16 = b % 3 == 0 ? specialM[(b / 3) % specialM.count] : UInt16(truncatingIfNeeded: rng.next())
            w[o] = UInt8(b & 0xFF); w[o + 1] = UInt8(b >> 8)
            w[o + 2] = UInt8(m & 0xFF); w[o + 3] = UInt8(m >> 8)
            for j in 0..<16 { w[o + 4 + j] = UInt8(truncatingIfNeeded: rng.next()) }
        }
        let n = nBlocks * 32
        var want = [Float](repeating: 0, count: n)
        w.withUnsafeBytes { bp in want.withUnsafeMutableBufferPointer { miik_dequantize_ref(t.id, bp.baseAddress, $0.baseAddress, Int64(n)) } }
        forEachISA { _, isa in
            var got = [Float](repeating: 0, count: n)
            w.withUnsafeBytes { bp in got.withUnsafeMutableBufferPointer { miik_dequantize(t.id, bp.baseAddress, $0.baseAddress, Int64(n)) } }
            var bad = 0
            for i in 0..<n where !(got[i].bitPattern == want[i].bitPattern || (got[i].isNaN && want[i].isNaN)) {
                if bad < 5 { XCTFail("\(isa): block \(i / 32) element \(i % 32) = \(got[i]), want \(want[i])") }
                bad += 1
            }
            XCTAssertEqual(bad, 0, "\(isa)")
        }
    }

    /// Q8_1 and Q8_K have no gguf dequantizer; check them by construction (value = d * q).
    func testQ8_1AndQ8_K() {
        var rng = SplitMix64(seed: 99)
        for t in [KType.q8_1, .q8_K] {
            let w = randomWeights(t, rows: 3, cols: 256, rng: &rng)
            let got = refDequant(t, w, rows: 3, cols: 256)
            let be = t.blockElems, bb = t.blockBytes
            for i in 0..<(3 * 256) {
                let blk = i / be, j = i % be
                let d: Float
                let qOff: Int
                if t.name == "Q8_1" {
                    d = miik_fp16_to_fp32(UInt16(w[blk * bb]) | UInt16(w[blk * bb + 1]) << 8)
                    qOff = 4
                } else {
                    var bits: UInt32 = 0
                    for k in 0..<4 { bits |= UInt32(w[blk * bb + k]) << (8 * UInt32(k)) }
                    d = Float(bitPattern: bits)
                    qOff = 4
                }
                let q = Int8(bitPattern: w[blk * bb + qOff + j])
                XCTAssertEqual(got[i], d * Float(q), "\(t.name) \(i)")
            }
            forEachISA { _, isa in
                var opt = [Float](repeating: .nan, count: 3 * 256)
                w.withUnsafeBytes { bp in
                    opt.withUnsafeMutableBufferPointer { miik_dequantize(t.id, bp.baseAddress, $0.baseAddress, 768) }
                }
                XCTAssertEqual(opt.map(\.bitPattern), got.map(\.bitPattern), "\(isa) \(t.name)")
            }
        }
    }
}
