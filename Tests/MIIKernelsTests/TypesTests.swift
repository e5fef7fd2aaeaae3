import MIIKernels
import XCTest

final class TypesTests: XCTestCase {
    func testBlockSizes() {
        let expected: [(KType, Int, Int)] = [
            (.f32, 1, 4), (.f16, 1, 2), (.bf16, 1, 2),
            (.q4_0, 32, 18), (.q4_1, 32, 20), (.q5_0, 32, 22), (.q5_1, 32, 24),
            (.q8_0, 32, 34), (.q8_1, 32, 36),
            (.q2_K, 256, 84), (.q3_K, 256, 110), (.q4_K, 256, 144), (.q5_K, 256, 176),
            (.q6_K, 256, 210), (.q8_K, 256, 292),
        ]
        for (t, elems, bytes) in expected {
            XCTAssertEqual(t.blockElems, elems, t.name)
            XCTAssertEqual(t.blockBytes, bytes, t.name)
            XCTAssertEqual(miik_type_supported(t.id), 1, t.name)
        }
        for bad: Int32 in [4, 5, 16, 17, 29, 31, -1, 1000] {
            XCTAssertEqual(miik_block_elems(bad), 0)
            XCTAssertEqual(miik_block_bytes(bad), 0)
            XCTAssertEqual(miik_type_supported(bad), 0)
        }
        XCTAssertEqual(KType.all.filter { miik_type_has_q8_path($0.id) == 1 }.map(\.name),
                       ["Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0"])
    }

    /// Every finite half converts to float exactly and back to the same bits.
    func testFP16RoundTripExhaustive() {
        for h in 0...0xFFFF {
            let bits = UInt16(h)
            let f = miik_fp16_to_fp32(bits)
            if (bits & 0x7C00) == 0x7C00 && (bits & 0x03FF) != 0 {
                XCTAssertTrue(f.isNaN)
                XCTAssertTrue(miik_fp32_to_fp16(f) & 0x7C00 == 0x7C00 && miik_fp32_to_fp16(f) & 0x3FF != 0)
                continue
            }
            #if arch(x86_64) || arch(arm64)
            XCTAssertEqual(f.bitPattern, Float(Float16(bitPattern: bits)).bitPattern, "half \(h)")
            #endif
            XCTAssertEqual(miik_fp32_to_fp16(f), bits, "half \(h)")
        }
    }

    /// float -> half rounding (nearest even, overflow to inf, subnormals) matches Swift's Float16.
    func testFP32ToFP16Rounding() {
        var rng = SplitMix64(seed: 7)
        var samples: [Float] = [0, -0, 1, -1, 65504, 65519.99, 65520, 1e6, -1e6, .infinity, -.infinity,
                                5.96e-8, 2.98e-8, 2.9802322e-8, 2.9802326e-8, 6.1e-5, 6.103515625e-05,
                                1.0009766, 1.00048828125, 1.0014648, 3.0517578e-05]
        for _ in 0..<200_000 {
            // random bit patterns over the whole finite float range, biased towards half's range
            let e = UInt32.random(in: 90...150, using: &rng)
            let m = UInt32.random(in: 0..<(1 << 23), using: &rng)
            let s: UInt32 = rng.next() & 1 == 0 ? 0 : 0x8000_0000
            samples.append(Float(bitPattern: s | (e << 23) | m))
        }
        for f in samples {
            XCTAssertEqual(miik_fp32_to_fp16(f), Float16(f).bitPattern, "value \(f)")
        }
    }

    func testBF16() {
        XCTAssertEqual(miik_bf16_to_fp32(0x3F80), 1.0)
        XCTAssertEqual(miik_bf16_to_fp32(0xC040), -3.0)
        XCTAssertEqual(miik_bf16_to_fp32(0x0000), 0.0)
        XCTAssertEqual(miik_bf16_to_fp32(0x7F80), .infinity)
        var rng = SplitMix64(seed: 3)
        for _ in 0..<1000 {
            let h = UInt16(truncatingIfNeeded: rng.next())
            XCTAssertEqual(miik_bf16_to_fp32(h).bitPattern, UInt32(h) << 16)
        }
    }

    func testISASelectionAndForcing() {
        let feats = miik_cpu_features()
        let best = miik_force_isa(2)
        defer { _ = miik_force_isa(2) }
        // The best level follows the feature bits.
        let hasAVX2 = feats & 7 == 7
        let hasAVX512 = hasAVX2 && feats & (8 | 16 | 32) == (8 | 16 | 32)
        XCTAssertEqual(best, hasAVX512 ? 2 : (hasAVX2 ? 1 : 0))
        XCTAssertEqual(miik_active_isa(), best)
        // Forcing never goes above what the CPU has, nor below scalar.
        XCTAssertEqual(miik_force_isa(0), 0)
        XCTAssertEqual(miik_active_isa(), 0)
        XCTAssertEqual(String(cString: miik_isa_name()), "scalar")
        XCTAssertEqual(miik_force_isa(-5), 0)
        XCTAssertEqual(miik_force_isa(1), min(1, best))
        if best >= 1 { XCTAssertEqual(String(cString: miik_isa_name()), "avx2") }
        XCTAssertEqual(miik_force_isa(99), best)
        let name = String(cString: miik_isa_name())
        switch best {
        case 2: XCTAssertTrue(name == "avx512" || name == "avx512+vnni", name)
        case 1: XCTAssertEqual(name, "avx2")
        default: XCTAssertEqual(name, "scalar")
        }
    }

    func testDotAndAxpyAllISAs() {
        var rng = SplitMix64(seed: 11)
        let a = (0..<1100).map { _ in rng.float() }
        let b = (0..<1100).map { _ in rng.float() }
        forEachISA { _, isa in
            for n in [0, 1, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 576, 1099] {
                let got = a.withUnsafeBufferPointer { ap in
                    b.withUnsafeBufferPointer { bp in miik_dot_f32(ap.baseAddress, bp.baseAddress, Int64(n)) }
                }
                let want = exactDot(a[0..<n], b[0..<n])
                XCTAssertEqual(Double(got), want, accuracy: 1e-6 * absDot(a[0..<n], b[0..<n]) + 1e-30,
                               "dot \(isa) n=\(n)")
                let ref = a.withUnsafeBufferPointer { ap in
                    b.withUnsafeBufferPointer { bp in miik_dot_f32_ref(ap.baseAddress, bp.baseAddress, Int64(n)) }
                }
                XCTAssertEqual(Double(ref), want, accuracy: 1e-6 * absDot(a[0..<n], b[0..<n]) + 1e-30)

                var y = Array(b[0..<n]) + [42, 43] // guard elements past n must stay untouched
                a.withUnsafeBufferPointer { ap in
                    y.withUnsafeMutableBufferPointer { yp in miik_axpy_f32(0.75, ap.baseAddress, yp.baseAddress, Int64(n)) }
                }
                for i in 0..<n {
                    XCTAssertEqual(y[i], b[i] + 0.75 * a[i], accuracy: 1e-6, "axpy \(isa) n=\(n) i=\(i)")
                }
                XCTAssertEqual(y[n], 42)
                XCTAssertEqual(y[n + 1], 43)
            }
        }
    }

    /// The vectorized exp of softmax (exp_shifted) and of SiLU (silu_mul) on every ISA level against
    /// the reference twins (libm's expf) and Double: lengths around the 8-lane steps, ordinary values,
    /// the underflow and overflow ends, and NaN.
    func testExpAndSiLUAllISAs() {
        var rng = SplitMix64(seed: 5)
        for n in [1, 7, 8, 9, 31, 300] {
            var s = (0..<n).map { _ in rng.float() * 30 - 15 }
            if n > 8 { s[3] = -200; s[4] = -87.5; s[5] = 87.9 }
            let mx = s.max()!
            var ref = s
            let refSum = ref.withUnsafeMutableBufferPointer { miik_exp_shifted_ref($0.baseAddress!, Int64(n), mx) }
            let exact = s.map { exp(Double($0 - mx)) }  // of the float difference, as the kernels compute it
            for j in 0..<n { XCTAssertEqual(Double(ref[j]), exact[j], accuracy: 1e-7 * exact[j] + 1e-38) }
            forEachISA { _, isa in
                var got = s + [42]
                let sum = got.withUnsafeMutableBufferPointer { miik_exp_shifted($0.baseAddress!, Int64(n), mx) }
                XCTAssertEqual(got[n], 42, "\(isa) n=\(n): wrote past the end")
                for j in 0..<n {
                    XCTAssertEqual(Double(got[j]), exact[j], accuracy: 4e-7 * exact[j] + 1e-37, "\(isa) exp n=\(n) j=\(j) x=\(s[j] - mx)")
                }
                XCTAssertEqual(Double(sum), Double(refSum), accuracy: 1e-6 * Double(refSum), "\(isa) n=\(n)")
            }

            var g = (0..<n).map { _ in rng.float() * 20 - 10 }
            if n > 8 { g[1] = -100; g[2] = 100; g[3] = 0; g[4] = .nan }
            let u = (0..<n).map { _ in rng.float() * 4 - 2 }
            let want = (0..<n).map { Double(g[$0]) / (1 + exp(-Double(g[$0]))) * Double(u[$0]) }
            var gr = g
            u.withUnsafeBufferPointer { up in gr.withUnsafeMutableBufferPointer { miik_silu_mul_ref($0.baseAddress!, up.baseAddress!, Int64(n)) } }
            forEachISA { _, isa in
                var got = g + [42]
                u.withUnsafeBufferPointer { up in got.withUnsafeMutableBufferPointer { miik_silu_mul($0.baseAddress!, up.baseAddress!, Int64(n)) } }
                XCTAssertEqual(got[n], 42, "\(isa) n=\(n): wrote past the end")
                for i in 0..<n {
                    if want[i].isNaN { XCTAssertTrue(got[i].isNaN && gr[i].isNaN, "\(isa) NaN stays NaN"); continue }
                    XCTAssertEqual(Double(got[i]), want[i], accuracy: 1e-6 * abs(want[i]) + 1e-30, "\(isa) silu n=\(n) i=\(i) g=\(g[i])")
                    XCTAssertEqual(Double(gr[i]), want[i], accuracy: 1e-6 * abs(want[i]) + 1e-30, "ref silu n=\(n) i=\(i)")
                }
            }
        }
    }

    /// Fused attention (scores, softmax, weighted values) of 1 to 5 queries sharing the key/value rows
    /// (grouped-query attention: the AVX2 kernel takes them 3 at a time) on every ISA level against the
    /// reference twin and a double-precision computation: head sizes that are and are not multiples of
    /// 8, 16 and 32, one to 300 keys (and key counts around the kernel's 4-key steps), rows wider than
    /// the head (grouped caches), large scores (softmax must subtract the maximum), and an ALiBi bias
    /// slope * (pos0 + j) (BLOOM) with the first key row at a later position.
    func testAttendAllISAs() {
        var rng = SplitMix64(seed: 21)
        for hd in [4, 8, 24, 64, 72, 128] {
            for nKeys in [1, 2, 3, 4, 5, 7, 33, 300] {
                for nQ in [1, 2, 3, 4, 5] where nQ == 1 || hd == 64 || hd == 24 {
                  for (slope, pos0) in [(Float(0), 0), (-0.0625, 37)] where slope == 0 || nQ <= 2 {
                    let stride = hd * 3 + 5
                    let big: Float = hd == 24 ? 40 : 1
                    let q = (0..<(nQ * hd)).map { _ in rng.float() * big }
                    let k = (0..<(nKeys * stride)).map { _ in rng.float() }
                    let v = (0..<(nKeys * stride)).map { _ in rng.float() }
                    let scale = 1 / Float(hd).squareRoot()
                    // Double-precision reference, query by query.
                    func expected(_ k: [Float], _ v: [Float]) -> [Double] {
                        var want: [Double] = []
                        for i in 0..<nQ {
                            var s = (0..<nKeys).map { j in
                                Double(scale) * (0..<hd).reduce(0.0) { $0 + Double(q[i * hd + $1]) * Double(k[j * stride + $1]) }
                                    + Double(slope) * Double(pos0 + j)
                            }
                            let mx = s.max()!
                            s = s.map { exp($0 - mx) }
                            let sum = s.reduce(0, +)
                            want += (0..<hd).map { c in (0..<nKeys).reduce(0.0) { $0 + s[$1] / sum * Double(v[$1 * stride + c]) } }
                        }
                        return want
                    }
                    let want = expected(k, v)
                    func run<E>(_ k: [E], _ v: [E], _ f: (UnsafePointer<Float>, Int64, UnsafePointer<E>, UnsafePointer<E>, Int64, Int64, Int64,
                                   Float, Float, Int64, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) -> Void) -> [Float] {
                        var scores = [Float](repeating: .nan, count: nQ * nKeys)
                        var out = [Float](repeating: .nan, count: nQ * hd + 1)
                        out[nQ * hd] = 42
                        q.withUnsafeBufferPointer { qp in k.withUnsafeBufferPointer { kp in v.withUnsafeBufferPointer { vp in
                            scores.withUnsafeMutableBufferPointer { sp in out.withUnsafeMutableBufferPointer { op in
                                f(qp.baseAddress!, Int64(nQ), kp.baseAddress!, vp.baseAddress!, Int64(stride), Int64(nKeys), Int64(hd),
                                  scale, slope, Int64(pos0), sp.baseAddress!, op.baseAddress!)
                            } }
                        } } }
                        XCTAssertEqual(out[nQ * hd], 42, "hd=\(hd) keys=\(nKeys) queries=\(nQ) slope=\(slope): wrote past the heads")
                        return Array(out[0..<(nQ * hd)])
                    }
                    let ref = run(k, v) { miik_attend_f32_ref($0, $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) }
                    for c in 0..<(nQ * hd) {
                        XCTAssertEqual(Double(ref[c]), want[c], accuracy: 2e-5, "ref hd=\(hd) keys=\(nKeys) queries=\(nQ) slope=\(slope) c=\(c)")
                    }
                    forEachISA { _, isa in
                        let got = run(k, v) { miik_attend_f32($0, $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) }
                        for c in 0..<(nQ * hd) {
                            XCTAssertEqual(Double(got[c]), want[c], accuracy: 2e-5, "\(isa) hd=\(hd) keys=\(nKeys) queries=\(nQ) slope=\(slope) c=\(c)")
                        }
                    }
                    // fp16 rows (fast mode's cache): the same attention over the rows rounded to fp16
                    // (Swift's Float16 conversion), each converted back exactly.
                    let k16 = k.map { Float16($0).bitPattern }, v16 = v.map { Float16($0).bitPattern }
                    let want16 = expected(k.map { Float(Float16($0)) }, v.map { Float(Float16($0)) })
                    let ref16 = run(k16, v16) { miik_attend_f16_ref($0, $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) }
                    for c in 0..<(nQ * hd) {
                        XCTAssertEqual(Double(ref16[c]), want16[c], accuracy: 2e-5, "f16 ref hd=\(hd) keys=\(nKeys) queries=\(nQ) slope=\(slope) c=\(c)")
                    }
                    forEachISA { _, isa in
                        let got = run(k16, v16) { miik_attend_f16($0, $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) }
                        for c in 0..<(nQ * hd) {
                            XCTAssertEqual(Double(got[c]), want16[c], accuracy: 2e-5, "f16 \(isa) hd=\(hd) keys=\(nKeys) queries=\(nQ) slope=\(slope) c=\(c)")
                        }
                    }
                  }
                }
            }
        }
    }

    /// fp16 conversion for fast mode's cache: round to nearest even as Swift's Float16 (ties, the
    /// subnormal range, values that round up to the next binade) on every ISA level and in the tails
    /// after whole vectors; finite values beyond the fp16 range saturate to +-65504 instead of becoming
    /// infinities; infinities and NaN keep their kind.
    func testF32ToF16SaturatingAllISAs() {
        var rng = SplitMix64(seed: 77)
        // the special values in the first vector and again in the scalar tail
        var x: [Float] = [Float.infinity, -Float.infinity, Float.nan, 0, -0.0, 1, -1, 65504, -65504, 65519.99, 65520, -65520, 70000, -1e30, Float.greatestFiniteMagnitude,
                          1 + 1.0 / 2048, 1 + 3.0 / 2048, 6.1e-5, 5.96e-8, 2.98e-8, 2.99e-8, -3e-6, 1e-10, 2047.5, 2048.5]
        x += (0..<203).map { _ in rng.float() * Float(1 << Int.random(in: 0...17, using: &rng)) }
        x += [Float.infinity, -Float.infinity, Float.nan, 3]
        func expected(_ f: Float) -> UInt16? {
            if f.isNaN { return nil }
            if f.isInfinite { return Float16(f).bitPattern }
            return Float16(max(-65504, min(65504, f))).bitPattern
        }
        func check(_ got: [UInt16], _ what: String) {
            for (i, f) in x.prefix(got.count).enumerated() {
                if let e = expected(f) {
                    XCTAssertEqual(got[i], e, "\(what) x[\(i)] = \(f)")
                } else {
                    XCTAssertTrue(Float16(bitPattern: got[i]).isNaN, "\(what) x[\(i)] = NaN")
                }
            }
        }
        for n in [x.count, x.count - 3, 8, 7] {
            var got = [UInt16](repeating: 0xABCD, count: x.count)
            miik_f32_to_f16_sat_ref(x, &got, Int64(n))
            check(Array(got[0..<n]), "ref n \(n)")
            forEachISA { _, isa in
                var got = [UInt16](repeating: 0xABCD, count: x.count)
                miik_f32_to_f16_sat(x, &got, Int64(n))
                check(Array(got[0..<n]), "\(isa) n \(n)")
                XCTAssertTrue(got[n...].allSatisfy { $0 == 0xABCD }, "\(isa) n \(n): wrote past the end")
            }
        }
    }
}
