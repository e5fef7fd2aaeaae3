import MIIKernels
import XCTest

/// Fast mode's 16-bit activations (quantize_act16, matvec_q16, matmul_q16) for the products it keeps near float.
final class Q16Tests: XCTestCase {
    func quantize(_ x: [Float], ref: Bool) -> [miik_q16a] {
        var out = [miik_q16a](repeating: miik_q16a(), count: x.count / 32)
        if ref { miik_quantize_act16_ref(x, &out, Int64(x.count)) } else { miik_quantize_act16(x, &out, Int64(x.count)) }
        return out
    }

    /// Storage position k of miik_q16a.q holds element (0-7, 16-23, 8-15, 24-31)[k].
    static func element(_ k: Int) -> Int { k < 8 || k >= 24 ? k : (k < 16 ? k + 8 : k - 8) }

    /// The quants of a block in element order.
    func quants(_ b: miik_q16a) -> [Int16] {
        let stored = withUnsafeBytes(of: b.q) { Array($0.bindMemory(to: Int16.self)) }
        var out = [Int16](repeating: 0, count: 32)
        for k in 0..<32 { out[Self.element(k)] = stored[k] }
        return out
    }

    func dequantized(_ xq: [miik_q16a]) -> [Float] {
        xq.flatMap { b in quants(b).map { b.d * Float($0) } }
    }

    /// Edge cases: an all-zero block, exact ties, huge and tiny values, a block at the clamp.
    func testActivations(_ rng: inout SplitMix64, n: Int) -> [Float] {
        var x = (0..<n).map { _ in rng.float(-3, 3) }
        if n >= 64 {
            for i in 0..<32 { x[i] = 0 }  // d = 0 block
            x[32] = 32767; x[33] = 0.5; x[34] = -0.5; x[35] = 1.5; x[36] = -2.5; x[37] = -32766.5  // ties
        }
        if n >= 128 { x[64] = 1e30; x[65] = -1e-30; x[96] = 1e-38 }
        return x
    }

    func testQuantizeAct16MatchesReferenceAllISAs() {
        var rng = SplitMix64(seed: 16)
        for n in [32, 64, 576, 1536] {
            let x = testActivations(&rng, n: n)
            let ref = quantize(x, ref: true)
            // The reference itself: q = round-half-even(x / d), d = amax / 32767, s = d * sum(q),
            // stored in the documented order.
            for (bi, b) in ref.enumerated() {
                let blk = Array(x[(bi * 32)..<(bi * 32 + 32)])
                let amax = blk.map { abs($0) }.max()!
                XCTAssertEqual(b.d, amax / 32767)
                let q = quants(b)
                XCTAssertEqual(b.s, b.d * Float(q.reduce(0) { $0 + Int($1) }))
                let id: Float = b.d == 0 ? 0 : 1 / b.d
                for (j, v) in blk.enumerated() {
                    XCTAssertEqual(Int(q[j]), Int((v * id).rounded(.toNearestOrEven)), "block \(bi) elem \(j)")
                    XCTAssertLessThanOrEqual(abs(Int(q[j])), 32767)
                }
            }
            if n >= 64 {
                XCTAssertEqual(ref[0].d, 0)
                XCTAssertEqual(quants(ref[0]), [Int16](repeating: 0, count: 32))
                XCTAssertEqual(ref[1].d, 1)
                XCTAssertEqual(Array(quants(ref[1])[0..<6]), [32767, 0, 0, 2, -2, -32766])  // ties to even
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

    /// 16-bit activations stay within 2^-16 of each block's largest |x|: the product with them is
    /// as close to the float product as the float rounding of a long dot product.
    func testActivationsNearFloat() {
        var rng = SplitMix64(seed: 17)
        let x = (0..<1536).map { _ in rng.float(-4, 4) }
        let xd = dequantized(quantize(x, ref: true))
        for b in 0..<(x.count / 32) {
            let amax = x[(b * 32)..<(b * 32 + 32)].map { abs($0) }.max()!
            for i in (b * 32)..<(b * 32 + 32) {
                // half a step, plus the float rounding of x / d and of d * q
                let bound = Double(amax / 32767) / 2 + Double(x[i].ulp + xd[i].ulp)
                XCTAssertLessThanOrEqual(abs(Double(xd[i]) - Double(x[i])), bound, "element \(i)")
            }
        }
    }

    /// matvec_q16_ref equals the Double dot of dequantized weights and dequantized activations.
    func testReferenceQ16Semantics() {
        var rng = SplitMix64(seed: 22)
        let rows = 5, cols = 576
        for t in KType.q8Types {
            let w = randomWeights(t, rows: rows, cols: cols, rng: &rng)
            let x = testActivations(&rng, n: cols)
            let xq = quantize(x, ref: true)
            let xd = dequantized(xq)
            let deq = refDequant(t, w, rows: rows, cols: cols)
            var y = [Float](repeating: 0, count: rows)
            w.withUnsafeBytes { miik_matvec_q16_ref(t.id, $0.baseAddress, t.rowBytes(cols), Int64(cols), xq, &y, 0, Int64(rows)) }
            for r in 0..<rows {
                let row = deq[(r * cols)..<((r + 1) * cols)]
                XCTAssertEqual(Double(y[r]), exactDot(row, xd[...]), accuracy: 1e-5 * absDot(row, xd[...]), "\(t) row \(r)")
            }
        }
    }

    func testMatvecQ16AllISAs() {
        var rng = SplitMix64(seed: 56)
        let rows = 11
        for t in KType.q8Types {
            // 8224 = 257 blocks: more than one pass of the AVX-512 kernel's split activations
            for cols in [32, 64, 96, 576, 1536, 8224] {
                let w = randomWeights(t, rows: rows, cols: cols, rng: &rng)
                let x = testActivations(&rng, n: cols)
                let xq = quantize(x, ref: true)
                let xd = dequantized(xq)
                let deq = refDequant(t, w, rows: rows, cols: cols)
                let rb = t.rowBytes(cols)
                var want = [Float](repeating: 0, count: rows)
                w.withUnsafeBytes { miik_matvec_q16_ref(t.id, $0.baseAddress, rb, Int64(cols), xq, &want, 0, Int64(rows)) }
                forEachISA { _, isa in
                    for (r0, r1) in [(0, rows), (2, 9), (10, 11)] {
                        var y = [Float](repeating: 999, count: rows)
                        w.withUnsafeBytes { miik_matvec_q16(t.id, $0.baseAddress, rb, Int64(cols), xq, &y, Int64(r0), Int64(r1)) }
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

    /// Several tokens (miik_matmul_q16) against the reference matvec per token. On AVX-512 VNNI
    /// these are the 16-token tiles (21 = 16 + 5 in 256-bit registers, 40 = 16 + 16 + 8); 8224
    /// columns (257 blocks) take several chunks of packed blocks; rows 3..<20 cross a 4-row group
    /// and leave single rows. Elsewhere the product runs token by token.
    func testMatmulQ16AllISAs() {
        var rng = SplitMix64(seed: 58)
        let rows = 21
        for t in KType.q8Types {
            for cols in [576, 8224] {
                let w = randomWeights(t, rows: rows, cols: cols, rng: &rng)
                let deq = refDequant(t, w, rows: rows, cols: cols)
                let rb = t.rowBytes(cols)
                for nTok in [1, 3, 8, 21, 40] {
                    let ldy = rows + 2
                    let xq = quantize(testActivations(&rng, n: nTok * cols), ref: true)
                    let nb = cols / 32
                    forEachISA { _, isa in
                        let (r0, r1) = (3, 20)
                        var y = [Float](repeating: 555, count: nTok * ldy)
                        w.withUnsafeBytes {
                            miik_matmul_q16(t.id, $0.baseAddress, rb, Int64(cols), xq, Int64(nTok), &y, Int64(ldy), Int64(r0), Int64(r1))
                        }
                        for tok in 0..<nTok {
                            let xt = Array(xq[(tok * nb)..<((tok + 1) * nb)])
                            let xd = dequantized(xt)
                            var want = [Float](repeating: 0, count: rows)
                            w.withUnsafeBytes { miik_matvec_q16_ref(t.id, $0.baseAddress, rb, Int64(cols), xt, &want, 0, Int64(rows)) }
                            for r in 0..<ldy {
                                let got = y[tok * ldy + r]
                                if r < r0 || r >= r1 { XCTAssertEqual(got, 555, "\(isa) \(t) tok \(tok) r \(r)"); continue }
                                let scale = absDot(deq[(r * cols)..<((r + 1) * cols)], xd[...])
                                XCTAssertEqual(got, want[r], accuracy: Float(1e-5 * scale) + 1e-30,
                                               "\(isa) \(t) cols \(cols) tok \(tok) row \(r)")
                            }
                        }
                    }
                }
            }
        }
    }

    /// Integer-valued weights and activations (scales 1, min -2): every float step is exact, so
    /// the optimized kernel must reproduce the reference exactly, including the largest products
    /// (|q| = 32767 against Q8_0's -128 and 127).
    func testMatvecQ16IntegerExact() {
        var rng = SplitMix64(seed: 67)
        let rows = 9, cols = 160
        for t in KType.q8Types {
            var w = randomWeights(t, rows: rows, cols: cols, rng: &rng)
            for b in 0..<(rows * cols / 32) {
                for (i, f) in t.halfFields.enumerated() {
                    let h: UInt16 = i == 0 ? 0x3C00 : 0xC000
                    w[b * t.blockBytes + f.0] = UInt8(h & 0xFF)
                    w[b * t.blockBytes + f.0 + 1] = UInt8(h >> 8)
                }
            }
            var x = (0..<cols).map { _ in Float(Int.random(in: -32767...32767, using: &rng)) }
            for b in 0..<(cols / 32) { x[b * 32 + b] = b % 2 == 0 ? 32767 : -32767 }  // amax 32767 -> d = 1
            if t.id == Int32(MIIK_Q8_0.rawValue) {
                // all extremes in one block: -128 and 127 weights against +-32767
                for j in 0..<32 { x[j] = j % 3 == 0 ? -32767 : 32767 }
                for j in 0..<32 { w[2 + j] = UInt8(bitPattern: j % 2 == 0 ? -128 : 127) }
            }
            let xq = quantize(x, ref: true)
            XCTAssertTrue(xq.allSatisfy { $0.d == 1 })
            let rb = t.rowBytes(cols)
            var want = [Float](repeating: 0, count: rows)
            w.withUnsafeBytes { miik_matvec_q16_ref(t.id, $0.baseAddress, rb, Int64(cols), xq, &want, 0, Int64(rows)) }
            let deq = refDequant(t, w, rows: rows, cols: cols)
            // Each block's integer dot is exact in both; sums above 2^24 round when accumulated in
            // float, in a different order per kernel.
            let scale = (0..<rows).map { r in absDot(deq[(r * cols)..<((r + 1) * cols)], x[...]) }
            for r in 0..<rows {
                let e = exactDot(deq[(r * cols)..<((r + 1) * cols)], x[...])
                XCTAssertEqual(Double(want[r]), e, accuracy: scale[r] * 1e-6, "\(t) ref row \(r)")
            }
            forEachISA { _, isa in
                var y = [Float](repeating: 0, count: rows)
                w.withUnsafeBytes { miik_matvec_q16(t.id, $0.baseAddress, rb, Int64(cols), xq, &y, 0, Int64(rows)) }
                for r in 0..<rows {
                    XCTAssertEqual(Double(y[r]), Double(want[r]), accuracy: scale[r] * 1e-6, "\(isa) \(t) row \(r)")
                }
                // the same token 17 times: a 16-token tile and a 256-bit one (AVX-512 VNNI)
                let x17 = [miik_q16a]((0..<17).map { _ in xq }.joined())
                var y17 = [Float](repeating: 0, count: 17 * rows)
                w.withUnsafeBytes { miik_matmul_q16(t.id, $0.baseAddress, rb, Int64(cols), x17, 17, &y17, Int64(rows), 0, Int64(rows)) }
                for tok in 0..<17 {
                    for r in 0..<rows {
                        XCTAssertEqual(Double(y17[tok * rows + r]), Double(want[r]), accuracy: scale[r] * 1e-6,
                                       "\(isa) \(t) matmul tok \(tok) row \(r)")
                    }
                }
            }
        }
    }

    /// The 16-bit product against the precise float product on the same float activations: the
    /// difference is what rounding x to 16 bits costs.
    func testMatvecQ16NearPreciseMatvec() {
        var rng = SplitMix64(seed: 57)
        let rows = 16, cols = 576
        let x = (0..<cols).map { _ in rng.float(-2, 2) }
        let xq = quantize(x, ref: false)
        for t in KType.q8Types {
            let w = randomWeights(t, rows: rows, cols: cols, rng: &rng)
            let deq = refDequant(t, w, rows: rows, cols: cols)
            let rb = t.rowBytes(cols)
            var yf = [Float](repeating: 0, count: rows), y16 = [Float](repeating: 0, count: rows)
            w.withUnsafeBytes {
                miik_matvec(t.id, $0.baseAddress, rb, Int64(cols), x, &yf, 0, Int64(rows))
                miik_matvec_q16(t.id, $0.baseAddress, rb, Int64(cols), xq, &y16, 0, Int64(rows))
            }
            for r in 0..<rows {
                let scale = absDot(deq[(r * cols)..<((r + 1) * cols)], x[...])
                XCTAssertEqual(y16[r], yf[r], accuracy: Float(4e-5 * scale), "\(t) row \(r)")
            }
        }
    }
    /// As Q8Tests.testNonFiniteActivationsGiveNaN for the 16-bit activations.
    func testNonFiniteActivationsGiveNaN() {
        checkNonFiniteActivations(seed: 89, quantize: quantize, d: { $0.d }, s: { $0.s },
                                  quants: { quants($0).map(Int.init) }) { t, w, got, _, rows, cols in
            var y = [Float](repeating: 0, count: rows)
            w.withUnsafeBytes { miik_matvec_q16(t.id, $0.baseAddress, t.rowBytes(cols), Int64(cols), got, &y, 0, Int64(rows)) }
            let x17 = [miik_q16a]((0..<17).map { _ in got }.joined())
            var y17 = [Float](repeating: 0, count: 17 * rows)
            w.withUnsafeBytes { miik_matmul_q16(t.id, $0.baseAddress, t.rowBytes(cols), Int64(cols), x17, 17, &y17, Int64(rows), 0, Int64(rows)) }
            return [("matvec", y), ("matmul of 17", y17)]
        }
    }
}
