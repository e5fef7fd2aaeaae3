import MIIKernels
#if canImport(Glibc)
import Glibc
#endif

/// How a key/value cache stores its rows.
enum KVFormat: Sendable {
    /// float32: precise mode.
    case f32
    /// fp16, finite values saturated to +-65504 (miik_f32_to_f16_sat): fast mode, as llama.cpp's
    /// default cache. Half the memory, and half the bytes attention reads per step.
    case f16

    init(mode: PrecisionMode) { self = mode == .fast ? .f16 : .f32 }

    var bytes: Int { self == .f32 ? 4 : 2 }
}

/// One sequence's working memory: the KV cache and the activation buffers of a forward pass.
/// Large buffers come from calloc, so untouched pages of a long context cost no resident memory.
/// The cache's format is fixed when the state is made (from the session's precision mode).
final class DecoderState {
    let config: DecoderConfig
    /// Tokens the cache can hold.
    let maxContext: Int
    /// Tokens per forward chunk.
    let batch: Int
    let threads: Int

    let kvFormat: KVFormat
    private let kCache: UnsafeMutableRawPointer   // [n_layer, max_context, kv_dim] of kvFormat
    private let vCache: UnsafeMutableRawPointer   // [n_layer, max_context, kv_dim] of kvFormat
    /// fp16 caches: new keys/values [batch, kv_dim] in float, before conversion into the cache
    /// (a float cache takes them in place).
    let kStage: UnsafeMutablePointer<Float>?
    let vStage: UnsafeMutablePointer<Float>?
    let x: UnsafeMutablePointer<Float>       // [batch, n_embd] residual stream
    let xn: UnsafeMutablePointer<Float>      // [batch, n_embd] normed input / block output
    let q: UnsafeMutablePointer<Float>       // [batch, q_dim]
    let attn: UnsafeMutablePointer<Float>    // [batch, q_dim]
    let gate: UnsafeMutablePointer<Float>    // [batch, n_ff]
    let up: UnsafeMutablePointer<Float>      // [batch, n_ff]
    let ropeCos: UnsafeMutablePointer<Float> // [batch, rope_dims/2]
    let ropeSin: UnsafeMutablePointer<Float> // [batch, rope_dims/2]
    let scores: UnsafeMutablePointer<Float>  // [threads, n_head / n_head_kv, max_context]
    /// Score floats per thread: one row of max_context per query head of a key/value head.
    let scoresPerThread: Int
    let scratch: KernelScratch

    init(config c: DecoderConfig, maxContext: Int, batch: Int, threads: Int, kvFormat: KVFormat = .f32) throws {
        self.config = c
        self.kvFormat = kvFormat
        self.maxContext = maxContext
        self.batch = batch
        self.threads = threads
        func alloc(_ count: Int, _ what: String) throws -> UnsafeMutablePointer<Float> {
            guard count > 0, count < Int.max / 8,
                  let p = calloc(count, MemoryLayout<Float>.stride) else {
                throw MIIError(.outOfMemory, "cannot allocate \(what) (\(count) floats)")
            }
            return p.assumingMemoryBound(to: Float.self)
        }
        let (cacheElems, o1) = c.nLayer.multipliedReportingOverflow(by: maxContext)
        let (cacheTotal, o2) = cacheElems.multipliedReportingOverflow(by: c.kvDim)
        if o1 || o2 { throw MIIError.argument("context of \(maxContext) tokens is too large") }
        // an fp16 cache takes half as many float-sized units (rounded up)
        let cacheFloats = kvFormat == .f32 ? cacheTotal : (cacheTotal + 1) / 2
        kCache = UnsafeMutableRawPointer(try alloc(cacheFloats, "key cache"))
        vCache = UnsafeMutableRawPointer(try alloc(cacheFloats, "value cache"))
        kStage = kvFormat == .f32 ? nil : try alloc(batch * c.kvDim, "activations")
        vStage = kvFormat == .f32 ? nil : try alloc(batch * c.kvDim, "activations")
        x = try alloc(batch * c.nEmbd, "activations")
        xn = try alloc(batch * c.nEmbd, "activations")
        q = try alloc(batch * c.qDim, "activations")
        attn = try alloc(batch * c.qDim, "activations")
        gate = try alloc(batch * c.nFF, "activations")
        up = try alloc(batch * c.nFF, "activations")
        ropeCos = try alloc(batch * c.ropeDims / 2, "rope table")
        ropeSin = try alloc(batch * c.ropeDims / 2, "rope table")
        let (perThread, o3) = (c.nHead / max(1, c.nHeadKV)).multipliedReportingOverflow(by: maxContext)
        let (scoreTotal, o4) = perThread.multipliedReportingOverflow(by: threads)
        if o3 || o4 { throw MIIError.argument("context of \(maxContext) tokens is too large") }
        scoresPerThread = perThread
        scores = try alloc(scoreTotal, "attention scores")
        scratch = KernelScratch(threads: threads, floatsPerThread: gemmTileRows * max(c.nEmbd, c.nFF, c.qDim))
    }

    /// Layer `layer`'s cache rows [max_context, kv_dim] in `kvFormat`.
    func keys(layer: Int) -> UnsafeMutableRawPointer { kCache + layer * maxContext * config.kvDim * kvFormat.bytes }
    func values(layer: Int) -> UnsafeMutableRawPointer { vCache + layer * maxContext * config.kvDim * kvFormat.bytes }

    /// Float cache rows of `layer` from `position` on, to be written in place; nil for fp16 caches.
    func floatRows(layer: Int, position: Int) -> (k: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>)? {
        guard kvFormat == .f32 else { return nil }
        let o = position * config.kvDim
        return (keys(layer: layer).assumingMemoryBound(to: Float.self) + o,
                values(layer: layer).assumingMemoryBound(to: Float.self) + o)
    }

    /// Where a forward chunk puts its new keys and values [batch, kv_dim] before `store`: the float
    /// staging rows of an fp16 cache, or else layer 0's first cache rows (a batch's work state,
    /// whose other cache rows are never used).
    func newRows() -> (k: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>) {
        if let kStage, let vStage { return (kStage, vStage) }
        return (keys(layer: 0).assumingMemoryBound(to: Float.self), values(layer: 0).assumingMemoryBound(to: Float.self))
    }

    /// Writes `rows` new key and value rows ([rows, kv_dim] floats) at `position` ..< position + rows.
    func store(layer: Int, position: Int, keys k: UnsafePointer<Float>, values v: UnsafePointer<Float>, rows: Int) {
        let count = rows * config.kvDim
        if let dst = floatRows(layer: layer, position: position) {
            if dst.k != k { dst.k.update(from: k, count: count) }
            if dst.v != v { dst.v.update(from: v, count: count) }
            return
        }
        let o = position * config.kvDim
        miik_f32_to_f16_sat(k, keys(layer: layer).assumingMemoryBound(to: UInt16.self) + o, Int64(count))
        miik_f32_to_f16_sat(v, values(layer: layer).assumingMemoryBound(to: UInt16.self) + o, Int64(count))
    }

    deinit {
        for p in [x, xn, q, attn, gate, up, ropeCos, ropeSin, scores] { free(p) }
        free(kCache)
        free(vCache)
        if let kStage { free(kStage) }
        if let vStage { free(vStage) }
    }
}
