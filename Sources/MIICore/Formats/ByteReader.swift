/// A bounds-checked little-endian reader over a byte range. Every read checks the remaining length
/// first and throws `MIIError.invalidFormat` instead of reading past the end.
public struct ByteReader {
    public let base: UnsafeRawPointer
    public let count: Int
    public private(set) var offset: Int = 0
    /// What is being parsed, for error messages ("GGUF", "safetensors header", ...).
    public let context: String

    public init(base: UnsafeRawPointer, count: Int, context: String) {
        self.base = base
        self.count = count
        self.context = context
    }

    public var remaining: Int { count - offset }

    @inline(__always)
    mutating func need(_ n: Int, _ what: @autoclosure () -> String) throws {
        if n < 0 || n > count - offset {
            throw MIIError.format("\(context): truncated while reading \(what()) at offset \(offset) (need \(n) bytes, \(count - offset) left)")
        }
    }

    @inline(__always)
    mutating func read<T: FixedWidthInteger>(_: T.Type, _ what: @autoclosure () -> String) throws -> T {
        try need(MemoryLayout<T>.size, what())
        let v = base.loadUnaligned(fromByteOffset: offset, as: T.self)
        offset += MemoryLayout<T>.size
        return T(littleEndian: v)
    }

    mutating func readU8(_ what: @autoclosure () -> String) throws -> UInt8 { try read(UInt8.self, what()) }
    mutating func readU32(_ what: @autoclosure () -> String) throws -> UInt32 { try read(UInt32.self, what()) }
    mutating func readU64(_ what: @autoclosure () -> String) throws -> UInt64 { try read(UInt64.self, what()) }

    mutating func readF32(_ what: @autoclosure () -> String) throws -> Float {
        Float(bitPattern: try read(UInt32.self, what()))
    }

    mutating func readF64(_ what: @autoclosure () -> String) throws -> Double {
        Double(bitPattern: try read(UInt64.self, what()))
    }

    /// Raw bytes [offset, offset+n) as a buffer into the underlying memory (no copy).
    mutating func readBytes(_ n: Int, _ what: @autoclosure () -> String) throws -> UnsafeRawBufferPointer {
        try need(n, what())
        let b = UnsafeRawBufferPointer(start: base + offset, count: n)
        offset += n
        return b
    }

    /// The bytes of a string of `length` bytes, checked against the string length limit and for
    /// valid UTF-8 (GGUF strings are UTF-8 by spec; invalid UTF-8 is an error). No copy.
    mutating func readUTF8(length: UInt64, _ what: @autoclosure () -> String) throws -> UnsafeBufferPointer<UInt8> {
        if length > Limits.maxStringBytes {
            throw MIIError.format("\(context): \(what()) has length \(length), above the limit of \(Limits.maxStringBytes) bytes")
        }
        let bytes = try readBytes(Int(length), what())
        let u8 = UnsafeBufferPointer(start: bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), count: bytes.count)
        guard UTF8Util.isValid(u8) else {
            throw MIIError.format("\(context): \(what()) is not valid UTF-8")
        }
        return u8
    }

    /// A string of `length` bytes (see `readUTF8`). Checked first, so decoding never has to repair
    /// anything (and is much cheaper than the generic validating initializer).
    mutating func readString(length: UInt64, _ what: @autoclosure () -> String) throws -> String {
        String(decoding: try readUTF8(length: length, what()), as: UTF8.self)
    }

    mutating func seek(to newOffset: Int) throws {
        if newOffset < 0 || newOffset > count {
            throw MIIError.format("\(context): offset \(newOffset) is outside the data (\(count) bytes)")
        }
        offset = newOffset
    }
}
