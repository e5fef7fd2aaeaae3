import Foundation
import MIIKernels
import XCTest

/// Deterministic PRNG (SplitMix64) so every run exercises the same data.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func float(_ lo: Float = -1, _ hi: Float = 1) -> Float {
        Float.random(in: lo..<hi, using: &self)
    }
}

/// A tensor type under test: GGML id, name, and where its fp16 scale fields sit in a block.
struct KType: CustomStringConvertible {
    let id: Int32
    let name: String
    /// (byte offset, magnitude) of each fp16 scale field inside a block.
    let halfFields: [(Int, Float)]
    var description: String { name }

    var blockElems: Int { Int(miik_block_elems(id)) }
    var blockBytes: Int { Int(miik_block_bytes(id)) }
    func rowBytes(_ cols: Int) -> Int { cols / blockElems * blockBytes }

    static let f32 = KType(id: Int32(MIIK_F32.rawValue), name: "F32", halfFields: [])
    static let f16 = KType(id: Int32(MIIK_F16.rawValue), name: "F16", halfFields: [])
    static let bf16 = KType(id: Int32(MIIK_BF16.rawValue), name: "BF16", halfFields: [])
    static let q4_0 = KType(id: Int32(MIIK_Q4_0.rawValue), name: "Q4_0", halfFields: [(0, 1)])
    static let q4_1 = KType(id: Int32(MIIK_Q4_1.rawValue), name: "Q4_1", halfFields: [(0, 1), (2, 1)])
    static let q5_0 = KType(id: Int32(MIIK_Q5_0.rawValue), name: "Q5_0", halfFields: [(0, 1)])
    static let q5_1 = KType(id: Int32(MIIK_Q5_1.rawValue), name: "Q5_1", halfFields: [(0, 1), (2, 1)])
    static let q8_0 = KType(id: Int32(MIIK_Q8_0.rawValue), name: "Q8_0", halfFields: [(0, 1)])
    static let q8_1 = KType(id: Int32(MIIK_Q8_1.rawValue), name: "Q8_1", halfFields: [(0, 1), (2, 1)])
    static let q2_K = KType(id: Int32(MIIK_Q2_K.rawValue), name: "Q2_K", halfFields: [(80, 0.05), (82, 0.05)])
    static let q3_K = KType(id: Int32(MIIK_Q3_K.rawValue), name: "Q3_K", halfFields: [(108, 0.05)])
    static let q4_K = KType(id: Int32(MIIK_Q4_K.rawValue), name: "Q4_K", halfFields: [(0, 0.05), (2, 0.05)])
    static let q5_K = KType(id: Int32(MIIK_Q5_K.rawValue), name: "Q5_K", halfFields: [(0, 0.05), (2, 0.05)])
    static let q6_K = KType(id: Int32(MIIK_Q6_K.rawValue), name: "Q6_K", halfFields: [(208, 0.05)])
    static let q8_K = KType(id: Int32(MIIK_Q8_K.rawValue), name: "Q8_K", halfFields: [])

    /// Every type the engine computes with.
    static let all: [KType] = [f32, f16, bf16, q4_0, q4_1, q5_0, q5_1, q8_0, q8_1,
                               q2_K, q3_K, q4_K, q5_K, q6_K, q8_K]
    /// Types with an 8-bit-activation path.
    static let q8Types: [KType] = [q4_0, q4_1, q5_0, q5_1, q8_0]
}

/// Random bytes for `rows` x `cols` of a type, with valid (finite, moderate) scale fields.
func randomWeights(_ t: KType, rows: Int, cols: Int, rng: inout SplitMix64) -> [UInt8] {
    let n = rows * cols
    switch t.name {
    case "F32":
        var f = [Float](repeating: 0, count: n)
        for i in 0..<n { f[i] = rng.float() }
        return f.withUnsafeBytes { Array($0) }
    case "F16":
        var h = [UInt16](repeating: 0, count: n)
        for i in 0..<n { h[i] = miik_fp32_to_fp16(rng.float()) }
        return h.withUnsafeBytes { Array($0) }
    case "BF16":
        var h = [UInt16](repeating: 0, count: n)
        for i in 0..<n { h[i] = UInt16(truncatingIfNeeded: rng.float().bitPattern >> 16) }
        return h.withUnsafeBytes { Array($0) }
    default:
        break
    }
    let nb = n / t.blockElems
    var bytes = [UInt8](repeating: 0, count: nb * t.blockBytes)
    for i in 0..<bytes.count { bytes[i] = UInt8(truncatingIfNeeded: rng.next()) }
    for b in 0..<nb {
        let base = b * t.blockBytes
        if t.name == "Q8_K" {
            let d = rng.float(-0.05, 0.05)
            withUnsafeBytes(of: d.bitPattern.littleEndian) { for k in 0..<4 { bytes[base + k] = $0[k] } }
        }
        for (off, mag) in t.halfFields {
            let h = miik_fp32_to_fp16(rng.float(-mag, mag))
            bytes[base + off] = UInt8(h & 0xFF)
            bytes[base + off + 1] = UInt8(h >> 8)
        }
    }
    return bytes
}

/// Runs `body` once per ISA level this CPU supports (scalar, avx2, avx512), restoring the best
/// level afterwards. `body` gets the level and its name.
func forEachISA(_ body: (Int32, String) throws -> Void) rethrows {
    defer { _ = miik_force_isa(Int32(MIIK_ISA_AVX512.rawValue)) }
    for level: Int32 in [0, 1, 2] {
        let got = miik_force_isa(level)
        if got != level { continue }
        try body(level, String(cString: miik_isa_name()))
    }
}

/// Dequantized rows via the reference, in Float.
func refDequant(_ t: KType, _ w: [UInt8], rows: Int, cols: Int) -> [Float] {
    var out = [Float](repeating: 0, count: rows * cols)
    w.withUnsafeBytes { wp in
        out.withUnsafeMutableBufferPointer { op in
            miik_dequantize_ref(t.id, wp.baseAddress, op.baseAddress, Int64(rows * cols))
        }
    }
    return out
}

/// sum_i |a_i * b_i| in Double: the natural error scale of a float dot product.
func absDot(_ a: ArraySlice<Float>, _ b: ArraySlice<Float>) -> Double {
    var s = 0.0
    for (x, y) in zip(a, b) { s += abs(Double(x) * Double(y)) }
    return s
}

func exactDot(_ a: ArraySlice<Float>, _ b: ArraySlice<Float>) -> Double {
    var s = 0.0
    for (x, y) in zip(a, b) { s += Double(x) * Double(y) }
    return s
}

/// Directory of the checked-in fixtures (Tests/Fixtures/...).
let fixturesDir: URL = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")

/// Activations with an infinity or a NaN (Q8Tests, Q16Tests): a block holding one quantizes to d = s =
/// NaN and zero quants on every ISA, the finite blocks as the reference does, and every product of
/// weights of each integer-path type with such activations is NaN. A lone NaN among zeros is the shape
/// RMS norm gives a vector with one infinity; it used to be dropped by the block maximum (quants of
/// -127 times a scale of 0: a finite, wrong product). `products(type, weights, activations, the
/// reference's activations, rows, cols)` returns named outputs.
func checkNonFiniteActivations<Block>(seed: UInt64, quantize: ([Float], Bool) -> [Block],
                                      d: (Block) -> Float, s: (Block) -> Float, quants: (Block) -> [Int],
                                      products: (KType, [UInt8], [Block], [Block], Int, Int) -> [(String, [Float])],
                                      file: StaticString = #filePath, line: UInt = #line) {
    var rng = SplitMix64(seed: seed)
    let cols = 96, rows = 7
    for bad: Float in [.infinity, -.infinity, .nan] {
        var x = (0..<cols).map { _ in rng.float(-3, 3) }
        for i in 32..<64 { x[i] = 0 }
        x[40] = bad
        let ref = quantize(x, true)
        forEachISA { _, isa in
            let got = quantize(x, false)
            XCTAssertTrue(d(got[1]).isNaN && s(got[1]).isNaN, "\(isa) \(bad)", file: file, line: line)
            XCTAssertEqual(quants(got[1]), [Int](repeating: 0, count: 32), "\(isa) \(bad)", file: file, line: line)
            for i in [0, 2] {
                XCTAssertEqual(d(got[i]).bitPattern, d(ref[i]).bitPattern, "\(isa) \(bad) block \(i)", file: file, line: line)
                XCTAssertEqual(quants(got[i]), quants(ref[i]), "\(isa) \(bad) block \(i)", file: file, line: line)
            }
            for t in KType.q8Types {
                let w = randomWeights(t, rows: rows, cols: cols, rng: &rng)
                for (name, y) in products(t, w, got, ref, rows, cols) {
                    XCTAssertTrue(y.allSatisfy { $0.isNaN }, "\(isa) \(t) \(bad) \(name): \(y)", file: file, line: line)
                }
            }
        }
    }
}
