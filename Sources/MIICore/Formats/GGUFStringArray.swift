/// An array of strings from GGUF metadata, left in the mapped file: vocabularies and merge lists
/// hold ~50-150k short strings, and making a Swift `String` of each one was half of a model's load
/// time. Every element was checked to be UTF-8 when the file was parsed; elements are decoded into
/// `String`s only when asked for one (`subscript`), and tokenizers read their bytes directly.
public struct GGUFStringArray: RandomAccessCollection, Sendable {
    /// Keeps the mapping alive while the array exists.
    private let owner: MappedFile?
    /// File offset of each element's text, then the end of the last one. GGUF puts an 8-byte length
    /// before every string, so element i ends 8 bytes before `starts[i + 1]`, except the last, which
    /// ends at `starts[count]`.
    private let starts: [Int]

    public var startIndex: Int { 0 }
    public var endIndex: Int { Swift.max(starts.count - 1, 0) }

    /// The empty array.
    public init() {
        owner = nil
        starts = []
    }

    init(file: MappedFile, starts: [Int]) {
        owner = file
        self.starts = starts
    }

    private func range(_ i: Int) -> Range<Int> {
        let end = i + 1 == endIndex ? starts[i + 1] : starts[i + 1] - 8
        return starts[i]..<end
    }

    /// The UTF-8 bytes of element `i` (valid UTF-8).
    public func withBytes<R>(_ i: Int, _ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        let r = range(i)
        guard let base = owner?.base else { return try body(UnsafeBufferPointer(start: nil, count: 0)) }
        let p = (base + r.lowerBound).assumingMemoryBound(to: UInt8.self)
        return try body(UnsafeBufferPointer(start: p, count: r.count))
    }

    public func byteCount(_ i: Int) -> Int { range(i).count }

    public subscript(i: Int) -> String {
        withBytes(i) { String(decoding: $0, as: UTF8.self) }
    }

    /// Reads `count` length-prefixed strings at the reader's position, checking every length against
    /// the file and the limits and every string for valid UTF-8.
    static func read(_ r: inout ByteReader, file: MappedFile, count: Int, key: String) throws -> GGUFStringArray {
        var starts: [Int] = []
        starts.reserveCapacity(count + 1)
        for i in 0..<count {
            // The same checks without building the error context per element (that cost ~2 ms of the
            // load of a model with 50k tokens and 50k merges); an element that fails them goes through
            // the checked reads below, which throw with the element named.
            let at = r.offset
            if r.remaining >= 8 {
                let len = UInt64(littleEndian: r.base.loadUnaligned(fromByteOffset: at, as: UInt64.self))
                if len <= Limits.maxStringBytes && len <= UInt64(r.remaining - 8) {
                    let text = UnsafeBufferPointer(start: (r.base + at + 8).assumingMemoryBound(to: UInt8.self), count: Int(len))
                    if UTF8Util.isValid(text) {
                        try r.seek(to: at + 8 + Int(len))
                        starts.append(at + 8)
                        continue
                    }
                }
            }
            let len = try r.readU64("length of '\(key)'[\(i)]")
            let start = r.offset
            _ = try r.readUTF8(length: len, "'\(key)'[\(i)]")
            starts.append(start)
        }
        starts.append(r.offset)
        if count == 0 { return GGUFStringArray() }
        return GGUFStringArray(file: file, starts: starts)
    }
}

/// A list of byte strings that tokenizer tables are built from: `[[UInt8]]` (tokenizer.json) or a
/// GGUF metadata array.
protocol ByteStringList {
    var count: Int { get }
    func withBytes<R>(_ i: Int, _ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R
}

extension GGUFStringArray: ByteStringList {}

extension Array: ByteStringList where Element == [UInt8] {
    func withBytes<R>(_ i: Int, _ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        try self[i].withUnsafeBufferPointer(body)
    }
}
