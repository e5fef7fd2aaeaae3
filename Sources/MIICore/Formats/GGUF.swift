import MIIKernels

/// A metadata value of a GGUF file.
public indirect enum GGUFValue: Sendable, CustomStringConvertible {
    case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16)
    case uint32(UInt32), int32(Int32), uint64(UInt64), int64(Int64)
    case float32(Float), float64(Double), bool(Bool), string(String)
    case array([GGUFValue])
    /// Arrays of strings are common and large (vocabularies); they are kept unboxed.
    case stringArray(GGUFStringArray)
    /// Numeric arrays are kept as doubles/ints without per-element boxing.
    case intArray([Int64])
    case floatArray([Float])

    /// The value as an integer, if it is an integer type (or a bool).
    public var int: Int64? {
        switch self {
        case .uint8(let v): return Int64(v)
        case .int8(let v): return Int64(v)
        case .uint16(let v): return Int64(v)
        case .int16(let v): return Int64(v)
        case .uint32(let v): return Int64(v)
        case .int32(let v): return Int64(v)
        case .uint64(let v): return v <= UInt64(Int64.max) ? Int64(v) : nil
        case .int64(let v): return v
        case .bool(let v): return v ? 1 : 0
        default: return nil
        }
    }

    public var double: Double? {
        switch self {
        case .float32(let v): return Double(v)
        case .float64(let v): return v
        default: return int.map(Double.init)
        }
    }

    public var string: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    public var bool: Bool? {
        switch self {
        case .bool(let b): return b
        default: return int.map { $0 != 0 }
        }
    }

    public var description: String {
        switch self {
        case .string(let s): return s.count > 60 ? "\"\(s.prefix(60))...\"" : "\"\(s)\""
        case .stringArray(let a): return "[\(a.count) strings]"
        case .intArray(let a): return "[\(a.count) ints]"
        case .floatArray(let a): return "[\(a.count) floats]"
        case .array(let a): return "[\(a.count) values]"
        case .float32(let v): return "\(v)"
        case .float64(let v): return "\(v)"
        case .bool(let v): return "\(v)"
        default: return int.map { "\($0)" } ?? "?"
        }
    }
}

/// One entry of the GGUF tensor table, validated against the file.
public struct GGUFTensorInfo: Sendable {
    public let name: String
    /// Dimensions, innermost first (GGML order): `dims[0]` is the row length.
    public let dims: [Int64]
    public let type: GGMLType
    /// Byte offset of the data from the start of the file.
    public let fileOffset: Int
    public let byteCount: Int
    public var elementCount: Int64 { dims.reduce(1, *) }
}

/// A parsed GGUF file (versions 2 and 3). Metadata and the tensor table are parsed eagerly and checked;
/// tensor data stays in the memory mapping and is used in place.
public final class GGUFFile: @unchecked Sendable {
    public let file: MappedFile
    public let version: UInt32
    public let metadata: [String: GGUFValue]
    /// Keys in file order (for listing).
    public let metadataKeys: [String]
    public let tensors: [GGUFTensorInfo]
    public let tensorIndex: [String: Int]
    public let alignment: Int
    public let dataOffset: Int

    public convenience init(path: String) throws {
        try self.init(file: MappedFile(path: path))
    }

    public init(file: MappedFile) throws {
        self.file = file
        var r = ByteReader(base: file.base, count: file.count, context: "GGUF '\(file.path)'")
        let magic = try r.readU32("magic")
        if magic != 0x4655_4747 {  // "GGUF" little-endian
            throw MIIError.format("'\(file.path)' is not a GGUF file (bad magic)")
        }
        let version = try r.readU32("version")
        if version == 1 {
            throw MIIError.unsupported("GGUF version 1 is not supported (only versions 2 and 3)")
        }
        if version != 2 && version != 3 {
            throw MIIError.format("GGUF version \(version) is not supported (only versions 2 and 3)")
        }
        self.version = version
        let nTensors = try r.readU64("tensor count")
        let nKV = try r.readU64("metadata count")
        // Every tensor entry takes at least 8+4+8+4+8 bytes, every key/value at least 8+4+1.
        if nTensors > Limits.maxTensorCount || nTensors > UInt64(r.remaining / 32) {
            throw MIIError.format("GGUF: tensor count \(nTensors) is impossible for a file of \(file.count) bytes")
        }
        if nKV > Limits.maxMetadataCount || nKV > UInt64(r.remaining / 13) {
            throw MIIError.format("GGUF: metadata count \(nKV) is impossible for a file of \(file.count) bytes")
        }

        var md: [String: GGUFValue] = [:]
        var keys: [String] = []
        keys.reserveCapacity(Int(nKV))
        for i in 0..<Int(nKV) {
            let klen = try r.readU64("key length of metadata entry \(i)")
            let key = try r.readString(length: klen, "key of metadata entry \(i)")
            let vtype = try r.readU32("value type of '\(key)'")
            let value = try GGUFFile.readValue(&r, file: file, type: vtype, key: key, depth: 0)
            if md[key] != nil {
                throw MIIError.format("GGUF: duplicate metadata key '\(key)'")
            }
            md[key] = value
            keys.append(key)
        }
        self.metadata = md
        self.metadataKeys = keys

        var align = 32
        if let a = md["general.alignment"] {
            guard let v = a.int, v > 0, v <= 1 << 20, v & (v - 1) == 0 else {
                throw MIIError.format("GGUF: general.alignment \(a) must be a power of two")
            }
            align = Int(v)
        }
        self.alignment = align

        struct Raw { let name: String; let dims: [Int64]; let type: UInt32; let offset: UInt64 }
        var raws: [Raw] = []
        raws.reserveCapacity(Int(nTensors))
        for i in 0..<Int(nTensors) {
            let nlen = try r.readU64("name length of tensor \(i)")
            if nlen > Limits.maxTensorNameBytes {
                throw MIIError.format("GGUF: tensor \(i) has a name of \(nlen) bytes (at most \(Limits.maxTensorNameBytes) allowed)")
            }
            let name = try r.readString(length: nlen, "name of tensor \(i)")
            let nd = try r.readU32("dimension count of '\(name)'")
            if nd == 0 || nd > UInt32(Limits.maxDims) {
                throw MIIError.format("GGUF: tensor '\(name)' has \(nd) dimensions (1...\(Limits.maxDims) allowed)")
            }
            var dims: [Int64] = []
            for d in 0..<Int(nd) {
                let v = try r.readU64("dimension \(d) of '\(name)'")
                if v == 0 || v > UInt64(Limits.maxTensorElements) {
                    throw MIIError.format("GGUF: tensor '\(name)' has dimension \(d) = \(v)")
                }
                dims.append(Int64(v))
            }
            let t = try r.readU32("type of '\(name)'")
            let off = try r.readU64("data offset of '\(name)'")
            raws.append(Raw(name: name, dims: dims, type: t, offset: off))
        }
        // The data section starts at the next multiple of the alignment.
        let headerEnd = r.offset
        let (padded, ovf) = headerEnd.addingReportingOverflow(align - 1)
        if ovf { throw MIIError.format("GGUF: header too large") }
        let dataStart = padded / align * align
        if dataStart > file.count && !raws.isEmpty {
            throw MIIError.format("GGUF: data section starts at \(dataStart), past the end of the file (\(file.count) bytes)")
        }
        self.dataOffset = dataStart

        var infos: [GGUFTensorInfo] = []
        var index: [String: Int] = [:]
        infos.reserveCapacity(raws.count)
        for raw in raws {
            guard let type = GGMLType(rawValue: raw.type) else {
                throw MIIError.format("GGUF: tensor '\(raw.name)' has unknown type id \(raw.type)")
            }
            var elems: Int64 = 1
            for d in raw.dims { elems = try checkedMul(elems, d, "tensor '\(raw.name)'") }
            if elems > Limits.maxTensorElements {
                throw MIIError.format("GGUF: tensor '\(raw.name)' has \(elems) elements, above the limit")
            }
            guard type.isKnownLayout else {
                throw MIIError.unsupported("GGUF: tensor '\(raw.name)' has type \(type.name), which libmii does not support")
            }
            if raw.dims[0] % type.blockElements != 0 {
                throw MIIError.format("GGUF: tensor '\(raw.name)' row length \(raw.dims[0]) is not a multiple of the \(type.name) block size \(type.blockElements)")
            }
            let bytes = try checkedMul(elems / type.blockElements, type.blockBytes, "tensor '\(raw.name)'")
            if raw.offset % UInt64(align) != 0 {
                throw MIIError.format("GGUF: tensor '\(raw.name)' data offset \(raw.offset) is not aligned to \(align)")
            }
            if raw.offset > UInt64(file.count) {
                throw MIIError.format("GGUF: tensor '\(raw.name)' data offset \(raw.offset) is past the end of the file")
            }
            let start = try checkedAdd(Int64(dataStart), Int64(raw.offset), "tensor '\(raw.name)'")
            let end = try checkedAdd(start, bytes, "tensor '\(raw.name)'")
            if end > Int64(file.count) {
                throw MIIError.format("GGUF: tensor '\(raw.name)' data [\(start), \(end)) extends past the end of the file (\(file.count) bytes)")
            }
            if index[raw.name] != nil {
                throw MIIError.format("GGUF: duplicate tensor name '\(raw.name)'")
            }
            index[raw.name] = infos.count
            infos.append(GGUFTensorInfo(name: raw.name, dims: raw.dims, type: type,
                                        fileOffset: Int(start), byteCount: Int(bytes)))
        }
        // Overlapping tensor data is a sign of a corrupt or hostile file.
        let sorted = infos.sorted { $0.fileOffset < $1.fileOffset }
        for i in sorted.indices.dropFirst() {
            let prev = sorted[i - 1]
            if prev.fileOffset + prev.byteCount > sorted[i].fileOffset {
                throw MIIError.format("GGUF: tensors '\(prev.name)' and '\(sorted[i].name)' overlap")
            }
        }
        self.tensors = infos
        self.tensorIndex = index
    }

    private static func readValue(_ r: inout ByteReader, file: MappedFile, type: UInt32, key: String, depth: Int) throws -> GGUFValue {
        switch type {
        case 0: return .uint8(try r.read(UInt8.self, "'\(key)'"))
        case 1: return .int8(try r.read(Int8.self, "'\(key)'"))
        case 2: return .uint16(try r.read(UInt16.self, "'\(key)'"))
        case 3: return .int16(try r.read(Int16.self, "'\(key)'"))
        case 4: return .uint32(try r.read(UInt32.self, "'\(key)'"))
        case 5: return .int32(try r.read(Int32.self, "'\(key)'"))
        case 6: return .float32(try r.readF32("'\(key)'"))
        case 7:
            let b = try r.readU8("'\(key)'")
            if b > 1 { throw MIIError.format("GGUF: '\(key)' holds bool value \(b)") }
            return .bool(b == 1)
        case 8:
            let n = try r.readU64("string length of '\(key)'")
            return .string(try r.readString(length: n, "string '\(key)'"))
        case 9:
            if depth >= Limits.maxArrayDepth {
                throw MIIError.format("GGUF: '\(key)' nests arrays deeper than \(Limits.maxArrayDepth)")
            }
            let et = try r.readU32("array element type of '\(key)'")
            let n = try r.readU64("array length of '\(key)'")
            let minSize: UInt64
            switch et {
            case 0, 1, 7: minSize = 1
            case 2, 3: minSize = 2
            case 4, 5, 6: minSize = 4
            case 10, 11, 12: minSize = 8
            case 8: minSize = 8
            case 9: minSize = 12
            default: throw MIIError.format("GGUF: '\(key)' is an array of unknown value type \(et)")
            }
            if n > Limits.maxArrayCount || n > UInt64(r.remaining) / minSize {
                throw MIIError.format("GGUF: array '\(key)' claims \(n) elements, more than the file can hold")
            }
            let count = Int(n)
            switch et {
            case 8:
                return .stringArray(try GGUFStringArray.read(&r, file: file, count: count, key: key))
            case 6:
                var out = [Float](repeating: 0, count: count)
                for i in 0..<count { out[i] = try r.readF32("'\(key)'[\(i)]") }
                return .floatArray(out)
            case 0, 1, 2, 3, 4, 5, 7, 10, 11:
                var out = [Int64](repeating: 0, count: count)
                for i in 0..<count {
                    let v = try readValue(&r, file: file, type: et, key: key, depth: depth + 1)
                    guard let iv = v.int else {
                        throw MIIError.format("GGUF: '\(key)'[\(i)] does not fit in a signed 64-bit integer")
                    }
                    out[i] = iv
                }
                return .intArray(out)
            default:
                var out: [GGUFValue] = []
                out.reserveCapacity(count)
                for _ in 0..<count { out.append(try readValue(&r, file: file, type: et, key: key, depth: depth + 1)) }
                return .array(out)
            }
        case 10: return .uint64(try r.readU64("'\(key)'"))
        case 11: return .int64(try r.read(Int64.self, "'\(key)'"))
        case 12: return .float64(try r.readF64("'\(key)'"))
        default:
            throw MIIError.format("GGUF: metadata '\(key)' has unknown value type \(type)")
        }
    }

    // MARK: typed metadata access

    public var architecture: String? { metadata["general.architecture"]?.string }

    public func tensor(_ name: String) -> GGUFTensorInfo? {
        tensorIndex[name].map { tensors[$0] }
    }

    /// Pointer to a tensor's data inside the mapping.
    public func data(_ t: GGUFTensorInfo) -> UnsafeRawPointer { file.base + t.fileOffset }

    public func int(_ key: String) throws -> Int? {
        guard let v = metadata[key] else { return nil }
        guard let i = v.int, i >= Int64(Int32.min), i <= Int64(Int32.max) * 1024 else {
            throw MIIError.format("GGUF: metadata '\(key)' = \(v) is not a usable integer")
        }
        return Int(i)
    }

    public func requireInt(_ key: String) throws -> Int {
        guard let v = try int(key) else { throw MIIError.format("GGUF: required metadata '\(key)' is missing") }
        return v
    }

    public func float(_ key: String) throws -> Double? {
        guard let v = metadata[key] else { return nil }
        guard let d = v.double, d.isFinite else {
            throw MIIError.format("GGUF: metadata '\(key)' = \(v) is not a finite number")
        }
        return d
    }

    public func string(_ key: String) throws -> String? {
        guard let v = metadata[key] else { return nil }
        guard let s = v.string else { throw MIIError.format("GGUF: metadata '\(key)' is not a string") }
        return s
    }

    public func bool(_ key: String) throws -> Bool? {
        guard let v = metadata[key] else { return nil }
        guard let b = v.bool else { throw MIIError.format("GGUF: metadata '\(key)' is not a bool") }
        return b
    }

    public func stringArray(_ key: String) throws -> GGUFStringArray? {
        guard let v = metadata[key] else { return nil }
        switch v {
        case .stringArray(let a): return a
        case .array(let a) where a.isEmpty: return GGUFStringArray()
        default: throw MIIError.format("GGUF: metadata '\(key)' is not an array of strings")
        }
    }

    public func floatArray(_ key: String) throws -> [Float]? {
        guard let v = metadata[key] else { return nil }
        switch v {
        case .floatArray(let a): return a
        case .intArray(let a): return a.map { Float($0) }
        case .array(let a) where a.isEmpty: return []
        default: throw MIIError.format("GGUF: metadata '\(key)' is not an array of numbers")
        }
    }

    public func intArray(_ key: String) throws -> [Int64]? {
        guard let v = metadata[key] else { return nil }
        switch v {
        case .intArray(let a): return a
        case .array(let a) where a.isEmpty: return []
        default: throw MIIError.format("GGUF: metadata '\(key)' is not an array of integers")
        }
    }
}
