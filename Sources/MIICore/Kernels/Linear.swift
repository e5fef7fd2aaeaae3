import COpenBLAS
import MIIKernels

/// How matrix products are computed.
public enum PrecisionMode: String, Sendable, CaseIterable {
    /// Weights dequantized on the fly, float32 activations and accumulation.
    case precise
    /// 8-bit activations against quantized weights (integer dot products) where the weight type allows.
    case fast
}

/// The activations a product takes in fast mode (precise mode always uses float32).
enum FastActivations {
    /// 8-bit, integer dot products: the products where fast mode trades a little fidelity for speed.
    case int8
    /// Products that must stay close to float (attention keys/values/output, ffn_down, output head):
    /// single-token steps use 16-bit activations (relative rounding <= 2^-16 of each 32-element
    /// block's largest value), which on AVX2 multiply-add as fast as the 8-bit ones and avoid
    /// converting every weight to a float; several tokens (prompts, batched decoding) keep float
    /// activations, whose 4-row x 3-token tiles are faster here than any integer kernel.
    case int16
}

/// Rows of a weight matrix dequantized at a time before a GEMM (prompt processing).
let gemmTileRows = 256
/// From this many tokens on, products with 16-bit float weights (F16, BF16) go through dequantized
/// tiles and OpenBLAS sgemm. Below it, and at any size for F32 and block-quantized weights, the
/// engine's own kernel multiplies groups of 4 rows (dequantized into scratch) with 3 tokens at a
/// time: on this AVX2 machine that was 2x faster than tiles + sgemm for Q8_0 at 16-512 tokens, and
/// 1.05-1.15x faster than sgemm for F32 prompts of 128-512 tokens (bench/RESULTS.md). F16/BF16
/// were not measured against it and keep sgemm.
let gemmMinTokens = 32
/// From this many tokens on (prompt chunks, not batched decoding), fast mode's 8-bit products use the
/// float tiles instead when the CPU has no int8 dot-product instructions (`Hardware.int8DotInstructions`).
let fastPromptFloatMinTokens = 32
/// Tokens per pass of the row kernel, so that their activations stay in cache while all rows go by.
let rowKernelTokens = 64

/// Makes OpenBLAS compute on the calling thread only and stops its idle threads: the engine runs its own
/// pool, and OpenBLAS's threads on top of it would oversubscribe the cores (see COpenBLAS/shim.h).
/// Done when the first model loads.
let configureOpenBLASOnce: Void = {
    mii_openblas_single_thread()
}()

/// A buffer that grows to the largest size asked for and keeps it.
final class GrowingBuffer<Element> {
    private var pointer: UnsafeMutablePointer<Element>
    private var capacity = 0

    init() { pointer = .allocate(capacity: 1) }

    /// At least `count` elements (contents unspecified).
    func get(_ count: Int) -> UnsafeMutablePointer<Element> {
        if count > capacity {
            pointer.deallocate()
            pointer = .allocate(capacity: count)
            capacity = count
        }
        return pointer
    }

    deinit { pointer.deallocate() }
}

/// Per-thread scratch buffers shared by the kernels of one forward pass.
final class KernelScratch {
    let threads: Int
    let floatsPerThread: Int
    let buffer: UnsafeMutablePointer<Float>
    /// Quantized activations for fast mode: [n_tokens, cols/32] blocks of 8 bits, and [n_tokens,
    /// cols/32] blocks of 16 bits for its near-float products.
    let q8 = GrowingBuffer<miik_q8a>()
    let q16 = GrowingBuffer<miik_q16a>()

    init(threads: Int, floatsPerThread: Int) {
        self.threads = threads
        self.floatsPerThread = floatsPerThread
        buffer = .allocate(capacity: threads * floatsPerThread)
    }

    func thread(_ ith: Int) -> UnsafeMutablePointer<Float> { buffer + ith * floatsPerThread }

    deinit { buffer.deallocate() }
}

/// The activations one product takes: float32, or (fast mode, weight types with an integer path)
/// 8-bit or 16-bit blocks.
enum ProductActivations {
    case float, int8, int16
}

/// The one rule for which activations `w` takes for `n` tokens. Fast mode's near-float products
/// (`.int16`) use 16-bit activations for one token, and for several where the CPU has multi-token
/// integer tiles with dot-product instructions (AVX-512 VNNI, from `Hardware.vnniTileMinTokens`
/// tokens: ~1.4x the float tiles, bench/RESULTS.md session 9), floats otherwise; its 8-bit products
/// keep 8-bit activations except for prompt chunks of `fastPromptFloatMinTokens` or more on CPUs
/// without int8 dot instructions, where the float tiles were faster (Q8_0 ~20%, Q4_1 ~4%,
/// bench/RESULTS.md session 7) and are exact.
func productActivations(_ w: WeightMatrix, n: Int, mode: PrecisionMode, fast: FastActivations) -> ProductActivations {
    guard mode == .fast && miik_type_has_q8_path(Int32(w.type.rawValue)) != 0 else { return .float }
    switch fast {
    case .int16:
        let tiles = Hardware.vnniTileMinTokens
        return n == 1 || (tiles > 0 && n >= tiles) ? .int16 : .float
    case .int8: return n < fastPromptFloatMinTokens || Hardware.int8DotInstructions ? .int8 : .float
    }
}

/// y = x W^T for a batch of tokens, on the pool: `x` is [n, w.cols], `y` is [n, w.rows].
/// Rows are split between threads; each thread reads its share of the weight once for all tokens.
/// `fast` says which activations the product takes in fast mode (`productActivations`).
func linear(_ w: WeightMatrix, _ x: UnsafePointer<Float>, _ n: Int, _ y: UnsafeMutablePointer<Float>,
            pool: ThreadPool, mode: PrecisionMode, fast: FastActivations = .int8, scratch: KernelScratch) {
    if n == 1 {
        linearShared(x, 1, [(w, y, fast)], pool: pool, mode: mode, scratch: scratch)
        return
    }
    let type = Int32(w.type.rawValue)
    let cols = Int64(w.cols)
    let rows = w.rows
    let rowBytes = w.rowBytes
    let activations = productActivations(w, n: n, mode: mode, fast: fast)
    let halfWeights = w.type == .f16 || w.type == .bf16
    if n >= gemmMinTokens && activations == .float && halfWeights {
        // Prompt processing: dequantize tiles of rows and multiply with sgemm.
        _ = configureOpenBLASOnce
        pool.run { ith, nth in
            let r = ThreadPool.chunk(rows, ith, nth, align: 16)
            var r0 = r.lowerBound
            let buf = scratch.thread(ith)
            while r0 < r.upperBound {
                let tr = min(gemmTileRows, r.upperBound - r0)
                miik_dequantize(type, w.data + r0 * rowBytes, buf, Int64(tr) * cols)
                let tile = UnsafePointer(buf)
                // y[t, r0 + j] = sum_c x[t, c] * tile[j, c]
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(n), Int32(tr), Int32(cols),
                            1, x, Int32(cols), tile, Int32(cols), 0, y + r0, Int32(rows))
                r0 += tr
            }
        }
        return
    }
    if activations != .float {
        // 8-bit activations for batched decode steps (and prompts where int8 dot instructions make
        // them pay); 16-bit ones only where the CPU has integer tiles for them.
        integerProducts(x, n, cols: w.cols, [(w, y, fast)], [activations], pool: pool, scratch: scratch)
        return
    }
    pool.run { ith, nth in
        let r = ThreadPool.chunk(rows, ith, nth, align: 16)
        if r.isEmpty { return }
        var t0 = 0
        while t0 < n {
            let nt = min(rowKernelTokens, n - t0)
            miik_matmul(type, w.data, rowBytes, cols, x + t0 * w.cols, cols, Int64(nt), y + t0 * rows, Int64(rows),
                        Int64(r.lowerBound), Int64(r.upperBound), scratch.thread(ith))
            t0 += nt
        }
    }
}

/// Several products of the same input `x` [n, cols] (attention's q, k and v; the MLP's gate and up),
/// each as `linear` computes it. They run in one parallel section, each thread taking its share of
/// every matrix's rows, with `x` quantized once per kind of activations: a decode step has ~10
/// parallel sections per layer otherwise, and each costs a wake-up and a barrier. Several tokens
/// take this path when every product has integer activations (fast mode's prompts and batched
/// steps); `linear` itself hands single tokens here.
func linearShared(_ x: UnsafePointer<Float>, _ n: Int,
                  _ products: [(w: WeightMatrix, y: UnsafeMutablePointer<Float>, fast: FastActivations)],
                  pool: ThreadPool, mode: PrecisionMode, scratch: KernelScratch) {
    guard let cols = products.first?.w.cols, products.allSatisfy({ $0.w.cols == cols }) else {
        for p in products { linear(p.w, x, n, p.y, pool: pool, mode: mode, fast: p.fast, scratch: scratch) }
        return
    }
    if n > 1 {
        let kinds = products.map { productActivations($0.w, n: n, mode: mode, fast: $0.fast) }
        guard !kinds.contains(.float) else {
            for p in products { linear(p.w, x, n, p.y, pool: pool, mode: mode, fast: p.fast, scratch: scratch) }
            return
        }
        integerProducts(x, n, cols: cols, products, kinds, pool: pool, scratch: scratch)
        return
    }
    let kinds = products.map { productActivations($0.w, n: 1, mode: mode, fast: $0.fast) }
    let xq8 = kinds.contains(.int8) ? scratch.q8.get(cols / 32) : nil
    let xq16 = kinds.contains(.int16) ? scratch.q16.get(cols / 32) : nil
    if let xq8 { miik_quantize_act(x, xq8, Int64(cols)) }
    if let xq16 { miik_quantize_act16(x, xq16, Int64(cols)) }
    pool.run { ith, nth in
        for (p, kind) in zip(products, kinds) {
            let r = ThreadPool.chunk(p.w.rows, ith, nth, align: 16)
            if r.isEmpty { continue }
            let type = Int32(p.w.type.rawValue)
            switch kind {
            case .int8: miik_matvec_q8(type, p.w.data, p.w.rowBytes, Int64(cols), xq8, p.y, Int64(r.lowerBound), Int64(r.upperBound))
            case .int16: miik_matvec_q16(type, p.w.data, p.w.rowBytes, Int64(cols), xq16, p.y, Int64(r.lowerBound), Int64(r.upperBound))
            case .float: miik_matvec(type, p.w.data, p.w.rowBytes, Int64(cols), x, p.y, Int64(r.lowerBound), Int64(r.upperBound))
            }
        }
    }
}

/// y = x W^T of several tokens for products of the same input with integer activations (`kinds`,
/// .int8 or .int16; `linear` passes one product, `linearShared` several): the rows of `x` are
/// quantized once per kind (tokens split between threads), then every product runs in one parallel
/// section with its rows split between threads (miik_matmul_q8 / miik_matmul_q16).
private func integerProducts(
    _ x: UnsafePointer<Float>, _ n: Int, cols: Int,
    _ products: [(w: WeightMatrix, y: UnsafeMutablePointer<Float>, fast: FastActivations)],
    _ kinds: [ProductActivations], pool: ThreadPool, scratch: KernelScratch
) {
    let blocksPerRow = cols / 32
    let xq8 = kinds.contains(.int8) ? scratch.q8.get(n * blocksPerRow) : nil
    let xq16 = kinds.contains(.int16) ? scratch.q16.get(n * blocksPerRow) : nil
    pool.run { ith, nth in
        for i in ThreadPool.chunk(n, ith, nth) {
            if let xq8 { miik_quantize_act(x + i * cols, xq8 + i * blocksPerRow, Int64(cols)) }
            if let xq16 { miik_quantize_act16(x + i * cols, xq16 + i * blocksPerRow, Int64(cols)) }
        }
    }
    pool.run { ith, nth in
        for (p, kind) in zip(products, kinds) {
            let r = ThreadPool.chunk(p.w.rows, ith, nth, align: 16)
            if r.isEmpty { continue }
            let type = Int32(p.w.type.rawValue)
            if kind == .int8 {
                miik_matmul_q8(type, p.w.data, p.w.rowBytes, Int64(cols), xq8, Int64(n), p.y, Int64(p.w.rows),
                               Int64(r.lowerBound), Int64(r.upperBound))
            } else {
                miik_matmul_q16(type, p.w.data, p.w.rowBytes, Int64(cols), xq16, Int64(n), p.y, Int64(p.w.rows),
                                Int64(r.lowerBound), Int64(r.upperBound))
            }
        }
    }
}
