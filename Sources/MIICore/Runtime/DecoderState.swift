#if canImport(Glibc)
import Glibc
#endif

/// One sequence's working memory: the KV cache and the activation buffers of a forward pass.
/// Large buffers come from calloc, so untouched pages of a long context cost no resident memory.
final class DecoderState {
    let config: DecoderConfig
    /// Tokens the cache can hold.
    let maxContext: Int
    /// Tokens per forward chunk.
    let batch: Int
    let threads: Int

    let kv: KVCache                          // [n_layer, max_context, kv_dim] keys and values
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
        kv = try KVCache(layers: c.nLayer, maxContext: maxContext, width: c.kvDim, batch: batch, format: kvFormat)
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

    deinit {
        for p in [x, xn, q, attn, gate, up, ropeCos, ropeSin, scores] { free(p) }
    }
}
