import MIIKernels

/// The engine's fixed thread pool (C, `threadpool.c`): the calling thread works as worker 0 and the
/// workers spin briefly between jobs, so a decode step's ~200 parallel sections stay cheap.
public final class ThreadPool: @unchecked Sendable {
    let pool: OpaquePointer
    public let threads: Int

    public init(threads: Int) throws {
        guard threads >= 1 && threads <= 1024 else {
            throw MIIError.argument("thread count \(threads) is out of range (1...1024)")
        }
        guard let p = miik_pool_create(Int32(threads)) else {
            throw MIIError(.outOfMemory, "cannot start \(threads) threads")
        }
        pool = p
        self.threads = threads
    }

    deinit { miik_pool_free(pool) }

    /// Runs `body(ith, nth)` on every thread of the pool and returns when all are done.
    /// Only one thread at a time may call `run` on a pool (sessions serialize on their model's pool).
    public func run(_ body: (Int, Int) -> Void) {
        if threads == 1 {
            body(0, 1)
            return
        }
        withoutActuallyEscaping(body) { fn in
            var box = fn
            withUnsafeMutablePointer(to: &box) { ptr in
                miik_pool_run(pool, { ctx, ith, nth in
                    let f = ctx!.assumingMemoryBound(to: ((Int, Int) -> Void).self).pointee
                    f(Int(ith), Int(nth))
                }, UnsafeMutableRawPointer(ptr))
            }
        }
    }

    /// Every `nth`-th index of [0, n) from `ith`: for items whose cost grows along the range (causal
    /// attention over a prompt), where contiguous chunks would leave the last thread most of the work.
    @inline(__always)
    public static func interleaved(_ n: Int, _ ith: Int, _ nth: Int) -> StrideTo<Int> {
        stride(from: ith, to: n, by: max(1, nth))
    }

    /// Splits [0, n) into `nth` contiguous chunks aligned to `align`, returns thread `ith`'s chunk.
    @inline(__always)
    public static func chunk(_ n: Int, _ ith: Int, _ nth: Int, align: Int = 1) -> Range<Int> {
        let units = (n + align - 1) / align
        let per = (units + nth - 1) / nth
        let lo = min(n, ith * per * align)
        let hi = min(n, (ith + 1) * per * align)
        return lo..<hi
    }
}
