import MIIKernels
import XCTest

/// Precise-mode matvec / matmul: optimized (every ISA level) vs reference vs exact Double.
final class MatvecTests: XCTestCase {
    /// Relative tolerance against sum_i |w_i x_i|. Float summation errors are ~1e-7 of that.
    let tol = 1e-5

    /// Column counts per type: a single block, the model's sizes, and one longer than the kernels'
    /// internal 2048-element chunk.
    func colsFor(_ t: KType) -> [Int] {
        switch t.blockElems {
        case 1: return [1, 37, 576, 2085]
        case 32: return [32, 576, 1536, 2080]
        default: return [256, 768, 2304]
        }
    }

    func testMatvecAllTypesAllISAs() {
        var rng = SplitMix64(seed: 1234)
        let rows = 13
        let ranges: [(Int, Int)] = [(0, 13), (1, 10), (5, 6), (4, 4)]
        for t in KType.all {
            for cols in colsFor(t) {
                let w = randomWeights(t, rows: rows, cols: cols, rng: &rng)
                let x = (0..<cols).map { _ in rng.float() }
                let deq = refDequant(t, w, rows: rows, cols: cols)
                let rb = t.rowBytes(cols)
                XCTAssertEqual(w.count, rows * rb)

                // Reference vs exact.
                var yref = [Float](repeating: .nan, count: rows)
                w.withUnsafeBytes { wp in
                    miik_matvec_ref(t.id, wp.baseAddress, rb, Int64(cols), x, &yref, 0, Int64(rows))
                }
                for r in 0..<rows {
                    let row = deq[(r * cols)..<((r + 1) * cols)]
                    XCTAssertEqual(Double(yref[r]), exactDot(row, x[...]), accuracy: tol * absDot(row, x[...]) + 1e-30,
                                   "ref \(t) cols \(cols) row \(r)")
                }

                forEachISA { _, isa in
                    for (r0, r1) in ranges {
                        let sentinel: Float = 12345
                        var y = [Float](repeating: sentinel, count: rows)
                        w.withUnsafeBytes { wp in
                            miik_matvec(t.id, wp.baseAddress, rb, Int64(cols), x, &y, Int64(r0), Int64(r1))
                        }
                        for r in 0..<rows {
                            if r < r0 || r >= r1 {
                                XCTAssertEqual(y[r], sentinel, "\(isa) \(t) wrote outside [\(r0),\(r1)) at \(r)")
                                continue
                            }
                            let row = deq[(r * cols)..<((r + 1) * cols)]
                            XCTAssertEqual(y[r], yref[r], accuracy: Float(tol * absDot(row, x[...])) + 1e-30,
                                           "\(isa) \(t) cols \(cols) row \(r)")
                        }
                    }
                }
            }
        }
    }

    func testMatmulAllTypesAllISAs() {
        var rng = SplitMix64(seed: 4321)
        let rows = 7
        for t in KType.all {
            let cols = t.blockElems == 1 ? 75 : (t.blockElems == 32 ? 576 : 512)
            let w = randomWeights(t, rows: rows, cols: cols, rng: &rng)
            let deq = refDequant(t, w, rows: rows, cols: cols)
            let rb = t.rowBytes(cols)
            // 1..4, 8, 9 tokens: every token-group size of the 4-row x 3-token tiles and the 1x4 tiles
            for nTok in [1, 2, 3, 4, 8, 9] {
                let ldx = cols + 5, ldy = rows + 3
                let x = (0..<(nTok * ldx)).map { _ in rng.float() }
                var scratch = [Float](repeating: 0, count: 4 * cols)

                var yref = [Float](repeating: .nan, count: nTok * ldy)
                w.withUnsafeBytes { wp in
                    miik_matmul_ref(t.id, wp.baseAddress, rb, Int64(cols), x, Int64(ldx), Int64(nTok),
                                    &yref, Int64(ldy), 0, Int64(rows), &scratch)
                }
                forEachISA { _, isa in
                    let (r0, r1) = (1, rows - 1)
                    let sentinel: Float = -777
                    var y = [Float](repeating: sentinel, count: nTok * ldy)
                    w.withUnsafeBytes { wp in
                        miik_matmul(t.id, wp.baseAddress, rb, Int64(cols), x, Int64(ldx), Int64(nTok),
                                    &y, Int64(ldy), Int64(r0), Int64(r1), &scratch)
                    }
                    for tok in 0..<nTok {
                        let xs = x[(tok * ldx)..<(tok * ldx + cols)]
                        for r in 0..<ldy {
                            let got = y[tok * ldy + r]
                            if r < r0 || r >= r1 {
                                XCTAssertEqual(got, sentinel, "\(isa) \(t) wrote outside rows at tok \(tok) r \(r)")
                                continue
                            }
                            let row = deq[(r * cols)..<((r + 1) * cols)]
                            let scale = absDot(row, xs)
                            XCTAssertEqual(Double(got), exactDot(row, xs), accuracy: tol * scale + 1e-30,
                                           "\(isa) \(t) nTok \(nTok) tok \(tok) row \(r)")
                            XCTAssertEqual(got, yref[tok * ldy + r], accuracy: Float(tol * scale) + 1e-30,
                                           "\(isa) \(t) vs ref, tok \(tok) row \(r)")
                        }
                    }
                }
            }
        }
    }

    /// Rows that are not packed back to back (row_bytes larger than the row) and an unaligned base.
    func testStridedUnalignedRows() {
        var rng = SplitMix64(seed: 77)
        let rows = 9, cols = 512
        for t in KType.all {
            let rb = t.rowBytes(cols)
            let stride = rb + 3
            let packed = randomWeights(t, rows: rows, cols: cols, rng: &rng)
            var w = [UInt8](repeating: 0xEE, count: 1 + rows * stride)
            for r in 0..<rows { for i in 0..<rb { w[1 + r * stride + i] = packed[r * rb + i] } }
            let x = (0..<cols).map { _ in rng.float() }
            var want = [Float](repeating: 0, count: rows)
            packed.withUnsafeBytes { miik_matvec_ref(t.id, $0.baseAddress, rb, Int64(cols), x, &want, 0, Int64(rows)) }
            let deq = refDequant(t, packed, rows: rows, cols: cols)
            forEachISA { _, isa in
                var y = [Float](repeating: 0, count: rows)
                w.withUnsafeBytes { wp in
                    miik_matvec(t.id, wp.baseAddress! + 1, stride, Int64(cols), x, &y, 0, Int64(rows))
                }
                for r in 0..<rows {
                    let row = deq[(r * cols)..<((r + 1) * cols)]
                    XCTAssertEqual(y[r], want[r], accuracy: Float(tol * absDot(row, x[...])) + 1e-30, "\(isa) \(t) row \(r)")
                }
            }
        }
    }

    /// With small-integer data every partial sum is exact in float, so all ISA levels must agree
    /// with the reference bit for bit: catches element-order mistakes that a tolerance could hide.
    func testExactIntegerMatvec() {
        var rng = SplitMix64(seed: 5)
        let rows = 6, cols = 256
        for t in KType.all where t.blockElems > 1 {
            var w = randomWeights(t, rows: rows, cols: cols, rng: &rng)
            // scale fields -> 1.0 (0x3C00) and offsets/mins -> -2.0 (0xC000): values become integers
            let nb = rows * cols / t.blockElems
            for b in 0..<nb {
                let base = b * t.blockBytes
                if t.name == "Q8_K" {
                    withUnsafeBytes(of: Float(1).bitPattern.littleEndian) { for k in 0..<4 { w[base + k] = $0[k] } }
                }
                for (i, f) in t.halfFields.enumerated() {
                    let h: UInt16 = i == 0 ? 0x3C00 : 0xC000
                    w[base + f.0] = UInt8(h & 0xFF)
                    w[base + f.0 + 1] = UInt8(h >> 8)
                }
            }
            let x = (0..<cols).map { _ in Float(Int.random(in: -3...3, using: &rng)) }
            var want = [Float](repeating: 0, count: rows)
            w.withUnsafeBytes { miik_matvec_ref(t.id, $0.baseAddress, t.rowBytes(cols), Int64(cols), x, &want, 0, Int64(rows)) }
            let deq = refDequant(t, w, rows: rows, cols: cols)
            for r in 0..<rows {
                XCTAssertEqual(Double(want[r]), exactDot(deq[(r * cols)..<((r + 1) * cols)], x[...]), "\(t) row \(r)")
            }
            forEachISA { _, isa in
                var y = [Float](repeating: 0, count: rows)
                w.withUnsafeBytes { miik_matvec(t.id, $0.baseAddress, t.rowBytes(cols), Int64(cols), x, &y, 0, Int64(rows)) }
                XCTAssertEqual(y, want, "\(isa) \(t)")
            }
        }
    }
}
