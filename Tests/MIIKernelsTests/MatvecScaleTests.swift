import MIIKernels
import XCTest

/// Precise matvec at activation magnitudes and row lengths away from the common case. The AVX2
/// Q4_0 / Q4_1 kernels scale the quants by 2^-24 internally and switch to their plain path for
/// very small or very large |x| and for rows of more than 8192 elements: every route must agree
/// with the exact dot product.
final class MatvecScaleTests: XCTestCase {
    let tol = 1e-5

    func check(_ t: KType, rows: Int, cols: Int, xScale: Float, seed: UInt64, file: StaticString = #filePath, line: UInt = #line) {
        var rng = SplitMix64(seed: seed)
        let w = randomWeights(t, rows: rows, cols: cols, rng: &rng)
        let x = (0..<cols).map { _ in rng.float() * xScale }
        let deq = refDequant(t, w, rows: rows, cols: cols)
        let rb = t.rowBytes(cols)
        forEachISA { _, isa in
            var y = [Float](repeating: .nan, count: rows)
            w.withUnsafeBytes { wp in
                miik_matvec(t.id, wp.baseAddress, rb, Int64(cols), x, &y, 0, Int64(rows))
            }
            for r in 0..<rows {
                let row = deq[(r * cols)..<((r + 1) * cols)]
                let scale = absDot(row, x[...])
                XCTAssertEqual(Double(y[r]), exactDot(row, x[...]), accuracy: tol * scale + 1e-300,
                               "\(isa) \(t) cols \(cols) x*\(xScale) row \(r)", file: file, line: line)
            }
        }
    }

    func testActivationMagnitudes() {
        for t in [KType.q4_0, KType.q4_1, KType.q5_0, KType.q5_1, KType.q8_0, KType.f32, KType.f16] {
            for (i, s) in [Float(1e-25), 1e-15, 1e-3, 1, 1e4, 1e20].enumerated() {
                check(t, rows: 9, cols: 576, xScale: s, seed: UInt64(100 + i))
            }
        }
    }

    func testLongRows() {
        for t in [KType.q4_0, KType.q4_1, KType.f32] {
            check(t, rows: 6, cols: 8192, xScale: 1, seed: 7)
            check(t, rows: 5, cols: 8224, xScale: 1, seed: 8)
        }
    }

    /// Rows whose quants are all 0 or all 15 (Q4) stress the folded offsets.
    func testExtremeNibbles() {
        for t in [KType.q4_0, KType.q4_1] {
            var rng = SplitMix64(seed: 11)
            let rows = 8, cols = 576
            var w = randomWeights(t, rows: rows, cols: cols, rng: &rng)
            let q0 = t.name == "Q4_1" ? 4 : 2
            let nb = rows * cols / 32
            for b in 0..<nb {
                let fill: UInt8 = (b / (cols / 32)) % 2 == 0 ? 0x00 : 0xFF
                for k in 0..<16 { w[b * t.blockBytes + q0 + k] = fill }
            }
            let x = (0..<cols).map { _ in rng.float() }
            let deq = refDequant(t, w, rows: rows, cols: cols)
            forEachISA { _, isa in
                var y = [Float](repeating: .nan, count: rows)
                w.withUnsafeBytes { wp in
                    miik_matvec(t.id, wp.baseAddress, t.rowBytes(cols), Int64(cols), x, &y, 0, Int64(rows))
                }
                for r in 0..<rows {
                    let row = deq[(r * cols)..<((r + 1) * cols)]
                    XCTAssertEqual(Double(y[r]), exactDot(row, x[...]), accuracy: tol * absDot(row, x[...]) + 1e-300,
                                   "\(isa) \(t) row \(r)")
                }
            }
        }
    }
}
