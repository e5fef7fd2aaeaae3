import Glibc
import MIIKernels
import Synchronization
import XCTest

/// Shared state handed to pool tasks through the `ctx` pointer. Only `let` fields: everything
/// mutable lives behind raw pointers, so no Swift exclusivity/ARC traffic happens inside tasks.
private final class PoolProbe {
    let slots: Int
    /// counts[ith]: how many times task `ith` ran (atomic).
    let counts: UnsafeMutablePointer<Atomic<Int>>
    /// Number of task invocations that saw an unexpected nth or an out-of-range ith (atomic).
    let errors = Atomic<Int>(0)
    /// results[ith]: plain (non-atomic) writes by the tasks, read by the caller after run returns.
    let results: UnsafeMutablePointer<Int>
    /// The run number, written by the caller between runs, read by the tasks.
    let run: UnsafeMutablePointer<Int>
    let expectedNth: Int
    /// Microseconds each task with ith > 0 sleeps (to make the caller wait / park).
    let workerSleepMicros: UInt32

    init(slots: Int, expectedNth: Int, workerSleepMicros: UInt32 = 0) {
        self.slots = slots
        self.expectedNth = expectedNth
        self.workerSleepMicros = workerSleepMicros
        counts = .allocate(capacity: slots)
        for i in 0..<slots { (counts + i).initialize(to: Atomic<Int>(0)) }
        results = .allocate(capacity: slots)
        results.initialize(repeating: -1, count: slots)
        run = .allocate(capacity: 1)
        run.initialize(to: 0)
    }

    deinit {
        counts.deinitialize(count: slots)
        counts.deallocate()
        results.deallocate()
        run.deallocate()
    }

    func count(_ i: Int) -> Int { counts[i].load(ordering: .relaxed) }
}

/// The task used by most tests: count, check nth, write a result the caller can verify.
private let probeTask: miik_task_fn = { ctx, ith, nth in
    let probe = Unmanaged<PoolProbe>.fromOpaque(ctx!).takeUnretainedValue()
    let i = Int(ith)
    guard i >= 0, i < probe.slots, Int(nth) == probe.expectedNth else {
        probe.errors.wrappingAdd(1, ordering: .relaxed)
        return
    }
    if probe.workerSleepMicros > 0 && i > 0 { usleep(probe.workerSleepMicros) }
    probe.counts[i].wrappingAdd(1, ordering: .relaxed)
    probe.results[i] = probe.run.pointee &* 64 &+ i
}

private let emptyTask: miik_task_fn = { _, _, _ in }

private func processCPUSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// Threads in this process (entries of /proc/self/task), nil if unavailable.
private func threadCount() -> Int? {
    guard let dir = opendir("/proc/self/task") else { return nil }
    defer { closedir(dir) }
    var n = 0
    while let entry = readdir(dir) {
        let first = withUnsafeBytes(of: entry.pointee.d_name) { $0.first ?? 0 }
        if first != UInt8(ascii: ".") { n += 1 }
    }
    return n
}

final class ThreadPoolTests: XCTestCase {
    /// Runs `runs` dispatches on a pool of `threads`, checking after every run that each task
    /// index ran exactly once with the right nth and that its plain write is visible.
    private func checkRuns(threads: Int, runs: Int, workerSleepMicros: UInt32 = 0,
                           pauseEvery: Int = 0, file: StaticString = #filePath, line: UInt = #line) {
        guard let pool = miik_pool_create(Int32(threads)) else {
            return XCTFail("miik_pool_create(\(threads)) failed, errno \(errno)", file: file, line: line)
        }
        defer { miik_pool_free(pool) }
        XCTAssertEqual(Int(miik_pool_threads(pool)), threads, file: file, line: line)

        let probe = PoolProbe(slots: threads, expectedNth: threads, workerSleepMicros: workerSleepMicros)
        let ctx = Unmanaged.passUnretained(probe).toOpaque()
        var stale = 0
        for r in 0..<runs {
            probe.run.pointee = r
            miik_pool_run(pool, probeTask, ctx)
            for i in 0..<threads where probe.results[i] != r &* 64 &+ i { stale += 1 }
            for i in 0..<threads where probe.count(i) != r + 1 { stale += 1 }
            // Vary the idle gap so workers are caught spinning, parking and parked.
            if pauseEvery > 0 && r % pauseEvery == 0 { usleep(UInt32((r / pauseEvery) % 7) * 60) }
        }
        withExtendedLifetime(probe) {}
        XCTAssertEqual(stale, 0, "stale results or wrong counts after run", file: file, line: line)
        XCTAssertEqual(probe.errors.load(ordering: .relaxed), 0, "wrong nth or ith", file: file, line: line)
        for i in 0..<threads {
            XCTAssertEqual(probe.count(i), runs, "task \(i) count", file: file, line: line)
        }
    }

    func testSingleThreadPoolRunsInlineOnCaller() {
        guard let pool = miik_pool_create(1) else { return XCTFail("create(1) failed") }
        defer { miik_pool_free(pool) }
        XCTAssertEqual(miik_pool_threads(pool), 1)

        final class Seen { var thread: pthread_t? = nil; var ith: Int32 = -1; var nth: Int32 = -1 }
        let seen = Seen()
        miik_pool_run(pool, { ctx, ith, nth in
            let s = Unmanaged<Seen>.fromOpaque(ctx!).takeUnretainedValue()
            s.thread = pthread_self(); s.ith = ith; s.nth = nth
        }, Unmanaged.passUnretained(seen).toOpaque())
        XCTAssertEqual(seen.ith, 0)
        XCTAssertEqual(seen.nth, 1)
        XCTAssertNotNil(seen.thread)
        if let t = seen.thread { XCTAssertNotEqual(pthread_equal(t, pthread_self()), 0) }
    }

    func testCallerIsWorkerZero() {
        guard let pool = miik_pool_create(2) else { return XCTFail("create(2) failed") }
        defer { miik_pool_free(pool) }
        final class Seen { var thread0: pthread_t? = nil; var thread1: pthread_t? = nil }
        let seen = Seen()
        miik_pool_run(pool, { ctx, ith, _ in
            let s = Unmanaged<Seen>.fromOpaque(ctx!).takeUnretainedValue()
            if ith == 0 { s.thread0 = pthread_self() } else { s.thread1 = pthread_self() }
        }, Unmanaged.passUnretained(seen).toOpaque())
        guard let t0 = seen.thread0, let t1 = seen.thread1 else { return XCTFail("a task did not run") }
        XCTAssertNotEqual(pthread_equal(t0, pthread_self()), 0, "ith 0 must run on the caller")
        XCTAssertEqual(pthread_equal(t1, pthread_self()), 0, "ith 1 must run on a worker")
    }

    func testEachTaskRunsOncePerRun1Thread() { checkRuns(threads: 1, runs: 10_000) }
    func testEachTaskRunsOncePerRun2Threads() { checkRuns(threads: 2, runs: 10_000) }
    func testEachTaskRunsOncePerRun4Threads() { checkRuns(threads: 4, runs: 10_000) }

    /// Idle gaps of 0..360 us between runs: workers are woken while spinning, while parking and
    /// while parked (the lost-wake-up race).
    func testRunsWithIdleGapsAcrossSpinAndPark() {
        checkRuns(threads: 2, runs: 3_000, pauseEvery: 1)
        checkRuns(threads: 4, runs: 1_500, pauseEvery: 1)
    }

    /// Workers slower than the caller's spin budget: the caller must park and be woken.
    func testLongWorkerTasksWakeParkedCaller() {
        checkRuns(threads: 2, runs: 20, workerSleepMicros: 3_000)
        checkRuns(threads: 4, runs: 20, workerSleepMicros: 3_000)
    }

    /// Runs after the workers have surely parked still complete.
    func testRunAfterLongIdle() {
        guard let pool = miik_pool_create(3) else { return XCTFail("create(3) failed") }
        defer { miik_pool_free(pool) }
        let probe = PoolProbe(slots: 3, expectedNth: 3)
        let ctx = Unmanaged.passUnretained(probe).toOpaque()
        for r in 0..<5 {
            usleep(20_000)
            probe.run.pointee = r
            miik_pool_run(pool, probeTask, ctx)
            for i in 0..<3 {
                XCTAssertEqual(probe.results[i], r * 64 + i)
                XCTAssertEqual(probe.count(i), r + 1)
            }
        }
        withExtendedLifetime(probe) {}
    }

    /// A realistic split: each task sums its slice into a plain per-task slot.
    func testPartitionedSum() {
        for threads in [1, 2, 3, 4] {
            guard let pool = miik_pool_create(Int32(threads)) else { return XCTFail("create failed") }
            defer { miik_pool_free(pool) }
            struct Job { var data: UnsafePointer<Float>; var n: Int; var partial: UnsafeMutablePointer<Double> }
            let n = 100_003
            let data = UnsafeMutablePointer<Float>.allocate(capacity: n)
            defer { data.deallocate() }
            for i in 0..<n { data[i] = Float(i % 1000) }
            let expected = (0..<n).reduce(0.0) { $0 + Double($1 % 1000) }
            let partial = UnsafeMutablePointer<Double>.allocate(capacity: threads)
            defer { partial.deallocate() }
            var job = Job(data: UnsafePointer(data), n: n, partial: partial)
            for _ in 0..<50 {
                partial.initialize(repeating: .nan, count: threads)
                withUnsafeMutablePointer(to: &job) { jp in
                    miik_pool_run(pool, { ctx, ith, nth in
                        let j = ctx!.assumingMemoryBound(to: Job.self).pointee
                        let per = (j.n + Int(nth) - 1) / Int(nth)
                        let lo = min(j.n, Int(ith) * per), hi = min(j.n, lo + per)
                        var s = 0.0
                        for k in lo..<hi { s += Double(j.data[k]) }
                        j.partial[Int(ith)] = s
                    }, jp)
                }
                let total = (0..<threads).reduce(0.0) { $0 + partial[$1] }
                XCTAssertEqual(total, expected, "threads \(threads)")
            }
        }
    }

    func testCreateFreeCycles() {
        let threadsBefore = threadCount()
        for cycle in 0..<200 {
            let threads = 1 + cycle % 4
            guard let pool = miik_pool_create(Int32(threads)) else {
                return XCTFail("create(\(threads)) failed at cycle \(cycle), errno \(errno)")
            }
            XCTAssertEqual(Int(miik_pool_threads(pool)), threads)
            if cycle % 3 != 0 {  // some pools are freed without ever running a job
                let probe = PoolProbe(slots: threads, expectedNth: threads)
                probe.run.pointee = cycle
                miik_pool_run(pool, probeTask, Unmanaged.passUnretained(probe).toOpaque())
                for i in 0..<threads {
                    XCTAssertEqual(probe.count(i), 1)
                    XCTAssertEqual(probe.results[i], cycle * 64 + i)
                }
                withExtendedLifetime(probe) {}
            }
            miik_pool_free(pool)
        }
        // miik_pool_free joined every worker: no thread leaked.
        if let before = threadsBefore, let after = threadCount() {
            XCTAssertLessThanOrEqual(after, before, "threads before \(before), after \(after)")
        }
    }

    func testFreeNilAndInvalidCreate() {
        miik_pool_free(nil)
        errno = 0
        XCTAssertNil(miik_pool_create(0))
        XCTAssertEqual(errno, EINVAL)
        XCTAssertNil(miik_pool_create(-3))
    }

    /// An idle pool parks its workers: it must not burn CPU while nobody dispatches.
    func testIdlePoolUsesNoCPU() {
        for threads in [2, 4] {
            guard let pool = miik_pool_create(Int32(threads)) else { return XCTFail("create failed") }
            defer { miik_pool_free(pool) }
            for _ in 0..<1_000 { miik_pool_run(pool, emptyTask, nil) }
            usleep(50_000)  // past the spin budget: workers park
            let before = processCPUSeconds()
            usleep(100_000)
            let used = processCPUSeconds() - before
            XCTAssertLessThan(used, 0.020, "idle \(threads)-thread pool used \(used * 1e3) ms CPU in 100 ms")
        }
    }
}
