import MIIKernels
#if canImport(Glibc)
import Glibc
#endif

/// How a key/value cache stores its rows.
public enum KVFormat: String, Sendable, CaseIterable {
    /// float32: precise mode.
    case f32
    /// fp16, finite values saturated to +-65504 (miik_f32_to_f16_sat): fast mode, as llama.cpp's
    /// default cache. Half the memory, and half the bytes attention reads per step.
    case f16

    /// The default for a precision mode.
    public init(mode: PrecisionMode) { self = mode == .fast ? .f16 : .f32 }

    public var bytes: Int { self == .f32 ? 4 : 2 }
}

/// One sequence's keys and values: [n_layer, max_context, width] each, in `format` (fixed when the
/// cache is made: the session's choice, by default from its precision mode). Pages are allocated lazily (calloc), so unused
/// context costs no resident memory. Float staging rows [batch, width] hold an fp16 cache's new keys
/// and values until `store` converts them in (a float cache takes them in place and never touches its
/// staging pages).
final class KVCache {
    let format: KVFormat
    let maxContext: Int
    /// Floats per position and layer (kv_dim; n_embd for the GPT family).
    let width: Int
    private let k: UnsafeMutableRawPointer
    private let v: UnsafeMutableRawPointer
    private let kStage: UnsafeMutablePointer<Float>
    private let vStage: UnsafeMutablePointer<Float>

    init(layers: Int, maxContext: Int, width: Int, batch: Int, format: KVFormat) throws {
        self.format = format
        self.maxContext = maxContext
        self.width = width
        let (positions, o1) = layers.multipliedReportingOverflow(by: maxContext)
        let (elements, o2) = positions.multipliedReportingOverflow(by: width)
        let (stage, o3) = batch.multipliedReportingOverflow(by: width)
        guard !o1, !o2, !o3, elements > 0, elements < Int.max / 8, stage > 0 else {
            throw MIIError.argument("context of \(maxContext) tokens is too large")
        }
        var done: [UnsafeMutableRawPointer] = []
        func alloc(_ count: Int, _ bytes: Int, _ what: String) throws -> UnsafeMutableRawPointer {
            guard let p = calloc(count, bytes) else {
                for p in done { free(p) }
                throw MIIError(.outOfMemory, "cannot allocate \(what) (\(count) x \(bytes) bytes)")
            }
            done.append(p)
            return p
        }
        k = try alloc(elements, format.bytes, "key cache")
        v = try alloc(elements, format.bytes, "value cache")
        kStage = try alloc(stage, 4, "key staging rows").assumingMemoryBound(to: Float.self)
        vStage = try alloc(stage, 4, "value staging rows").assumingMemoryBound(to: Float.self)
    }

    deinit {
        free(k)
        free(v)
        free(kStage)
        free(vStage)
    }

    /// Layer `layer`'s rows [max_context, width] in `format`.
    func keys(layer: Int) -> UnsafeMutableRawPointer { k + layer * maxContext * width * format.bytes }
    func values(layer: Int) -> UnsafeMutableRawPointer { v + layer * maxContext * width * format.bytes }

    /// Float cache rows of `layer` from `position` on, to be written in place; nil for fp16 caches.
    func floatRows(layer: Int, position: Int) -> (k: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>)? {
        guard format == .f32 else { return nil }
        let o = position * width
        return (keys(layer: layer).assumingMemoryBound(to: Float.self) + o,
                values(layer: layer).assumingMemoryBound(to: Float.self) + o)
    }

    /// Where a forward chunk puts new keys and values before `store`: rows `position` ..< of a float
    /// cache (in place), or the fp16 cache's staging rows.
    func newRows(layer: Int, position: Int) -> (k: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>) {
        floatRows(layer: layer, position: position) ?? (kStage, vStage)
    }

    /// Writes `rows` new key and value rows ([rows, width] floats) at `position` ..< position + rows
    /// (nothing to do when they are already there: a float cache's `newRows`).
    func store(layer: Int, position: Int, keys src: UnsafePointer<Float>, values vsrc: UnsafePointer<Float>, rows: Int) {
        let count = rows * width
        if let dst = floatRows(layer: layer, position: position) {
            if dst.k != src { dst.k.update(from: src, count: count) }
            if dst.v != vsrc { dst.v.update(from: vsrc, count: count) }
            return
        }
        let o = position * width
        miik_f32_to_f16_sat(src, keys(layer: layer).assumingMemoryBound(to: UInt16.self) + o, Int64(count))
        miik_f32_to_f16_sat(vsrc, values(layer: layer).assumingMemoryBound(to: UInt16.self) + o, Int64(count))
    }

    /// Attention of `nQ` queries (q, headDim apart) over this cache's rows first ..< first + nKeys of
    /// `layer`, columns column ..< column + headDim (one key/value head), into out [nQ, headDim]
    /// (miik_attend_f32 / miik_attend_f16: scores scaled, plus the ALiBi bias slope * position).
    func attend(layer: Int, q: UnsafePointer<Float>, nQ: Int, first: Int, nKeys: Int, column: Int, headDim: Int,
                scale: Float, slope: Float, scores: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>) {
        let row = first * width + column
        switch format {
        case .f32:
            miik_attend_f32(q, Int64(nQ), keys(layer: layer).assumingMemoryBound(to: Float.self) + row,
                            values(layer: layer).assumingMemoryBound(to: Float.self) + row, Int64(width),
                            Int64(nKeys), Int64(headDim), scale, slope, Int64(first), scores, out)
        case .f16:
            miik_attend_f16(q, Int64(nQ), keys(layer: layer).assumingMemoryBound(to: UInt16.self) + row,
                            values(layer: layer).assumingMemoryBound(to: UInt16.self) + row, Int64(width),
                            Int64(nKeys), Int64(headDim), scale, slope, Int64(first), scores, out)
        }
    }
}
