import MIIKernels

/// A non-blocking try-lock: detects concurrent use of an object that allows one user at a time.
public final class BusyFlag: @unchecked Sendable {
    private let flag: OpaquePointer

    public init() {
        // miik_flag_create only fails when malloc does; there is no way to go on without it.
        flag = miik_flag_create()!
    }

    deinit { miik_flag_free(flag) }

    /// True if the flag was free and is now held by the caller.
    public func tryAcquire() -> Bool { miik_flag_exchange(flag, 1) == 0 }

    public func release() { miik_flag_set(flag, 0) }
}

/// Memory owned by the library and handed out as a raw pointer (C API results), valid until replaced.
public final class OwnedBuffer<T> {
    public private(set) var pointer: UnsafeMutablePointer<T>
    public private(set) var count: Int

    public init() {
        pointer = .allocate(capacity: 1)
        count = 0
    }

    public func assign<C: Collection>(_ values: C) where C.Element == T {
        pointer.deallocate()
        pointer = .allocate(capacity: max(1, values.count))
        count = values.count
        _ = UnsafeMutableBufferPointer(start: pointer, count: max(1, values.count)).initialize(from: values)
    }

    deinit { pointer.deallocate() }
}
