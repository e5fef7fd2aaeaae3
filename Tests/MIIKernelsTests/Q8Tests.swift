import MIIKernels
import XCTest

/// Fast mode: 8-bit activations (quantize_act, matvec_q8, matmul_q8).
final class Q8Tests: XCTestCase {
    func quantize(_ x: [Float], ref: Bool) -> [miik_q8a] {
        var out = [miik_q8a](repeating: miik_q8a(), count: x.count / 32)
        if ref { miik_quantize_act_ref(x, &out, Int64(x.count)) } else { miik_quantize_act(x, &out, Int64(x.count)) }
        return out
    }

    func quants(_ b: miik_q8a) -> [Int8] {
        withUnsafeBytes(of: b.q) { Array($0.bindMemory(to: Int8.self)) }
    }

    /// Activations that hit the edge cases: an all-zero block, exact ties, huge and tiny values.
    func testActivations(_ rng: inout SplitMix64, n: Int) -> [Float] {
        var x = (0..<n).map { _ in rng.float(-3, 3) }
        if n >= 64 {
            for i in 0..<32 { x[i] = 0 }  // d = 0 block
            x[32] = 127; x[33] = 0.5; x[34] = -0.5; x[35] = 1.5; x[36] = -2.5; x[37] = 126.5  // ties
        }
        if n >= 128 { x[64] = 1e30; x[65] = -1e-30; x[96] = 1e-38 }
        return x
    }

    func testQuantizeActMatchesReferenceAllISAs() {
        var rng = SplitMix64(seed: 8)
        for n in [32, 64, 576, 1536] {
            let x = testActivations(&rng, n: n)
            let ref = quantize(x, ref: true)
            // The reference itself: q = round-half-even(x / d), d = amax / 127, s = d * sum(q).
            for (bi, b) in ref.enumerated() {
                let blk = x[(bi * 32)..<(bi * 32 + 32)]
                let amax = blk.map { abs($0) }.max()!
                XCTAssertEqual(b.d, amax / 127)
                let q = quants(b)
                XCTAssertEqual(b.s, b.d * Float(q.reduce(0) { $0 + Int($1) }))
                for (j, v) in blk.enumerated() {
                    let id: Float = b.d == 0 ? 0 : 1 / b.d
                    XCTAssertEqual(Int(q[j]), Int((v * id).rounded(.toNearestOrEven)), "block \(bi) elem \(j)")
                    XCTAssertLessThanOrEqual(abs(Int(q[j])), 127)
                }
            }
            if n >= 64 {
                XCTAssertEqual(ref[0].d, 0)
                XCTAssertEqual(quants(ref[0]), [Int8](repeating: 0, count: 32))
                XCTAssertEqual(ref[1].d, 1)
                XCTAssertEqual(Array(quants(ref[1])[0..<6]), [127, 0, 0, 2, -2, 126])  // ties to even
            }
            forEachISA { _, isa in
                let got = quantize(x, ref: false)
                for i in 0..<ref.count {
                    XCTAssertEqual(got[i].d.bitPattern, ref[i].d.bitPattern, "\(isa) n \(n) block \(i) d")
                    XCTAssertEqual(got[i].s.bitPattern, ref[i].s.bitPattern, "\(isa) n \(n) block \(i) s")
                    XCTAssertEqual(quants(got[i]), quants(ref[i]), "\(isa) n \(n) block \(i) q")
                }
            }
        }
    }

    /// matvec_q8_ref equals the Double dot of dequantized weights and dequantized activations.
    func testReferenceQ8Semantics() {
        var rng = SplitMix64(seed: 21)
        let rows = 5, cols = 576
        for t in KType.q8Types {
            let w = randomWeights(t, rows: rows, cols: cols, rng: &rng)
            let x = testActivations(&rng, n: cols)
            let xq = quantize(x, ref: true)
            let xd = (0..<cols).map { xq[$0 / 32].d * Float(quants(xq[$0 / 32])[$0 % 32]) }
            let deq = refDequant(t, w, rows: rows, cols: cols)
            var y = [Float](repeating: 0, count: rows)
            w.withUnsafeBytes { miik_matvec_q8_ref(t.id, $0.baseAddress, t.rowBytes(cols), Int64(cols), xq, &y, 0, Int64(rows)) }
            for r in 0..<rows {
                let row = deq[(r * cols)..<((r + 1) * cols)]
                XCTAssertEqual(Double(y[r]), exactDot(row, xd[...]), accuracy: 1e-5 * absDot(row, xd[...]), "\(t) row \(r)")
            }
        }
    }

    func testMatvecQ8AllISAs() {
        var rng = SplitMix64(seed: 55)
        let rows = 11
        for t in KType.q8Types {
            for cols in [32, 64, 96, 576, 1536] {
                let w = randomWeights(t, rows: rows, cols: cols, rng: &rng)
                let x = testActivations(&rng, n: cols)
                let xq = quantize(x, ref: true)
                let xd = (0..<cols).map { xq[$0 / 32].d * Float(quants(xq[$0 / 32])[$0 % 32]) }
                let deq = refDequant(t, w, rows: rows, cols: cols)
                let rb = t.rowBytes(cols)
                var want = [Float](repeating: 0, count: rows)
                w.withUnsafeBytes { miik_matvec_q8_ref(t.id, $0.baseAddress, rb, Int64(cols), xq, &want, 0, Int64(rows)) }
                forEachISA { _, isa in
                    for (r0, r1) in [(0, rows), (2, 9), (10, 11)] {
                        var y = [Float](repeating: 999, count: rows)
                        w.withUnsafeBytes { miik_matvec_q8(t.id, $0.baseAddress, rb, Int64(cols), xq, &y, Int64(r0), Int64(r1)) }
                        for r in 0..<rows {
                            if r < r0 || r >= r1 { XCTAssertEqual(y[r], 999); continue }
                            let scale = absDot(deq[(r * cols)..<((r + 1) * cols)], xd[...])
                            XCTAssertEqual(y[r], want[r], accuracy: Float(1e-5 * scale) + 1e-30,
                                           "\(isa) \(t) cols \(cols) row \(r)")
                        }
                    }
                }
            }
        }
    }

    /// Integer-valued weights and activations (scales 1, min -2): every float step is exact, so
    /// the optimized integer dot products must reproduce the reference exactly.
    func testMatvecQ8IntegerExact() {
        var rng = SplitMix64(seed: 66)
        let rows = 9, cols = 160  // 5 blocks: exercises the odd tail of the paired AVX-512 loop
        for t in KType.q8Types {
            var w = randomWeights(t, rows: rows, cols: cols, rng: &rng)
            for b in 0..<(rows * cols / 32) {
                for (i, f) in t.halfFields.enumerated() {
                    let h: UInt16 = i == 0 ? 0x3C00 : 0xC000
                    w[b * t.blockBytes + f.0] = UInt8(h & 0xFF)
                    w[b * t.blockBytes + f.0 + 1] = UInt8(h >> 8)
                }
            }
            var x = (0..<cols).map { _ in Float(Int.random(in: -127...127, using: &rng)) }
            for b in 0..<(cols / 32) { x[b * 32 + b] = b % 2 == 0 ? 127 : -127 }  // amax 127 -> d = 1
            let xq = quantize(x, ref: true)
            XCTAssertTrue(xq.allSatisfy { $0.d == 1 })
            let rb = t.rowBytes(cols)
            var want = [Float](repeating: 0, count: rows)
            w.withUnsafeBytes { miik_matvec_q8_ref(t.id, $0.baseAddress, rb, Int64(cols), xq, &want, 0, Int64(rows)) }
            let deq = refDequant(t, w, rows: rows, cols: cols)
            for r in 0..<rows {
                XCTAssertEqual(Double(want[r]), exactDot(deq[(r * cols)..<((r + 1) * cols)], x[...]), "\(t) ref row \(r)")
            }
            forEachISA { _, isa in
                var y = [Float](repeating: 0, count: rows)
                w.withUnsafeBytes { miik_matvec_q8(t.id, $0.baseAddress, rb, Int64(cols), xq, &y, 0, Int64(rows)) }
                XCTAssertEqual(y, want, "\(isa) \(t)")
                var ym = [Float](repeating: 0, count: 2 * rows)
                let xq2 = xq + xq
                w.withUnsafeBytes { miik_matmul_q8(t.id, $0.baseAddress, rb, Int64(cols), xq2, 2, &ym, Int64(rows), 0, Int64(rows)) }
                XCTAssertEqual(Array(ym[0..<rows]), want, "\(isa) \(t) matmul tok 0")
                XCTAssertEqual(Array(ym[rows...]), want, "\(isa) \(t) matmul tok 1")
                // 5 tokens: a tile of 4 (the hadd-reduced 4/5-bit kernel) plus one left over.
                var y5 = [Float](repeating: 0, count: 5 * rows)
                let xq5 = xq + xq + xq + xq + xq
                w.withUnsafeBytes { miik_matmul_q8(t.id, $0.baseAddress, rb, Int64(cols), xq5, 5, &y5, Int64(rows), 0, Int64(rows)) }
                for k in 0..<5 {
                    XCTAssertEqual(Array(y5[(k * rows)..<((k + 1) * rows)]), want, "\(isa) \(t) matmul of 5, tok \(k)")
                }
            }
        }
    }

    func testMatmulQ8AllISAs() {
        var rng = SplitMix64(seed: 77)
        let rows = 21
        // 576 columns (18 blocks) take the tiles with packed token scales; 8224 (257 blocks) the
        // per-token tiles for rows longer than the packed arrays hold (AVX2), or several chunks of
        // packed blocks (the AVX-512 VNNI tiles: 64 blocks each). 8 tokens and more take the VNNI
        // tiles: 16 tokens in 512-bit registers, up to 8 in 256-bit ones (21 = 16 + 5, 40 = 16 + 16 + 8).
        for cols in [576, 8224] {
        for t in KType.q8Types {
            let w = randomWeights(t, rows: rows, cols: cols, rng: &rng)
            let rb = t.rowBytes(cols)
            let deq = refDequant(t, w, rows: rows, cols: cols)
            for nTok in [1, 2, 5, 8, 21, 40] {
                let ldy = rows + 2
                let x = testActivations(&rng, n: nTok * cols)
                let xq = quantize(x, ref: true)
                forEachISA { _, isa in
                    let (r0, r1) = (3, 20)  // crosses the 16-row tile boundary
                    var y = [Float](repeating: 555, count: nTok * ldy)
                    w.withUnsafeBytes {
                        miik_matmul_q8(t.id, $0.baseAddress, rb, Int64(cols), xq, Int64(nTok), &y, Int64(ldy), Int64(r0), Int64(r1))
                    }
                    for tok in 0..<nTok {
                        let xt = Array(xq[(tok * cols / 32)..<((tok + 1) * cols / 32)])
                        let xd = (0..<cols).map { xt[$0 / 32].d * Float(quants(xt[$0 / 32])[$0 % 32]) }
                        var want = [Float](repeating: 0, count: rows)
                        w.withUnsafeBytes { miik_matvec_q8_ref(t.id, $0.baseAddress, rb, Int64(cols), xt, &want, 0, Int64(rows)) }
                        for r in 0..<ldy {
                            let got = y[tok * ldy + r]
                            if r < r0 || r >= r1 { XCTAssertEqual(got, 555, "\(isa) \(t) tok \(tok) r \(r)"); continue }
                            let scale = absDot(deq[(r * cols)..<((r + 1) * cols)], xd[...])
                            XCTAssertEqual(got, want[r], accuracy: Float(1e-5 * scale) + 1e-30, "\(isa) \(t) cols \(cols) tok \(tok) row \(r)")
                        }
                    }
                }
            }
        }
        }
    }
    /// A block holding an infinity or a NaN quantizes to d = s = NaN with zero quants on every ISA, so
    /// the products with it are NaN as in float (and the engine reports non-finite logits) instead of
    /// a silently finite number (see checkNonFiniteActivations).
    func testNonFiniteActivationsGiveNaN() {
        checkNonFiniteActivations(seed: 88, quantize: quantize, d: { $0.d }, s: { $0.s },
                                  quants: { quants($0).map(Int.init) }) { t, w, got, ref, rows, cols in
            let rb = t.rowBytes(cols)
            var y = [Float](repeating: 0, count: rows)
            w.withUnsafeBytes { miik_matvec_q8(t.id, $0.baseAddress, rb, Int64(cols), got, &y, 0, Int64(rows)) }
            let x5 = got + ref + got + got + ref  // a 4-token tile and one more
            var y5 = [Float](repeating: 0, count: 5 * rows)
            w.withUnsafeBytes { miik_matmul_q8(t.id, $0.baseAddress, rb, Int64(cols), x5, 5, &y5, Int64(rows), 0, Int64(rows)) }
            // AVX-512 VNNI: a 16-token tile and a 256-bit tile of one more
            let x17 = (0..<17).flatMap { $0 % 3 == 0 ? ref : got }
            var y17 = [Float](repeating: 0, count: 17 * rows)
            w.withUnsafeBytes { miik_matmul_q8(t.id, $0.baseAddress, rb, Int64(cols), x17, 17, &y17, Int64(rows), 0, Int64(rows)) }
            return [("matvec", y), ("matmul of 5", y5), ("matmul of 17", y17)]
        }
    }
}
