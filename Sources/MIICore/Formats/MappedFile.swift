#if canImport(Glibc)
import Glibc
#endif

/// A read-only memory mapping of a whole file. Weights are used in place from this mapping.
public final class MappedFile: @unchecked Sendable {
    public let path: String
    public let base: UnsafeRawPointer
    public let count: Int
    private let mapped: Bool

    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            throw MIIError.io("cannot open '\(path)': \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var st = stat()
        if fstat(fd, &st) != 0 {
            throw MIIError.io("cannot stat '\(path)': \(String(cString: strerror(errno)))")
        }
        if (st.st_mode & S_IFMT) != S_IFREG {
            throw MIIError.io("'\(path)' is not a regular file")
        }
        let size = Int(st.st_size)
        if size == 0 {
            throw MIIError.format("'\(path)' is empty")
        }
        guard let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
            throw MIIError.io("cannot map '\(path)': \(String(cString: strerror(errno)))")
        }
        self.base = UnsafeRawPointer(p)
        self.count = size
        self.mapped = true
    }

    /// A private heap copy of `bytes`, exactly `bytes.count` long, standing in for a mapping: the
    /// parsers' in-memory entry point (fuzzing, tests). Under AddressSanitizer a read one byte past the
    /// end is caught, which a page-rounded mapping would hide. `name` plays the role of the path in
    /// error messages.
    public init(copying bytes: UnsafeRawBufferPointer, name: String) throws {
        self.path = name
        if bytes.isEmpty {
            throw MIIError.format("'\(name)' is empty")
        }
        let p = UnsafeMutableRawPointer.allocate(byteCount: bytes.count, alignment: 64)
        p.copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
        self.base = UnsafeRawPointer(p)
        self.count = bytes.count
        self.mapped = false
    }

    /// Ask the kernel to read ahead (weights are touched in order during the first forward pass).
    public func adviseWillNeed() {
        guard mapped else { return }
        _ = madvise(UnsafeMutableRawPointer(mutating: base), count, MADV_WILLNEED)
    }

    deinit {
        if mapped {
            munmap(UnsafeMutableRawPointer(mutating: base), count)
        } else {
            UnsafeMutableRawPointer(mutating: base).deallocate()
        }
    }
}
