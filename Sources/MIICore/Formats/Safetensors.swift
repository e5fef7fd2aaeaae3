/// One tensor of a safetensors file, validated against the file.
public struct SafetensorsTensorInfo: Sendable {
    public let name: String
    /// The dtype as written in the header ("F32", "BF16", "I64", ...).
    public let dtype: String
    /// Bytes per element.
    public let elementBytes: Int64
    /// The engine type, for F32/F16/BF16 (and the integer/F64 types GGML knows); nil for dtypes GGML
    /// has no type for (U8, BOOL, F8_E4M3, ...).
    public let type: GGMLType?
    /// Shape as written in the file: row-major, outermost first.
    public let shape: [Int64]
    /// GGML order, innermost first (`shape` reversed; a scalar is `[1]`).
    public let dims: [Int64]
    /// Byte offset of the data from the start of the file.
    public let fileOffset: Int
    public let byteCount: Int
    public var elementCount: Int64 { shape.reduce(1, *) }
    /// True where the engine can compute with the tensor (F32, F16, BF16).
    public var isComputable: Bool { type?.isComputable ?? false }
}

/// A parsed safetensors file: an 8-byte little-endian header length N, N bytes of a UTF-8 JSON object,
/// then the data section. The header is checked completely (dtypes, shapes, byte counts, offsets, no
/// overlaps); tensor data stays in the memory mapping and is used in place.
public final class SafetensorsFile: @unchecked Sendable {
    public let file: MappedFile
    /// String -> string pairs of "__metadata__".
    public let metadata: [(String, String)]
    /// Tensors in header order.
    public let tensors: [SafetensorsTensorInfo]
    public let tensorIndex: [String: Int]
    /// Byte offset of the data section (8 + N).
    public let dataOffset: Int

    /// dtype name -> (bytes per element, GGML type if any).
    static let dtypes: [String: (Int64, GGMLType?)] = [
        "F32": (4, .f32), "F16": (2, .f16), "BF16": (2, .bf16), "F64": (8, .f64),
        "I64": (8, .i64), "I32": (4, .i32), "I16": (2, .i16), "I8": (1, .i8),
        "U64": (8, nil), "U32": (4, nil), "U16": (2, nil), "U8": (1, nil), "BOOL": (1, nil),
        "F8_E4M3": (1, nil), "F8_E5M2": (1, nil), "F8_E8M0": (1, nil), "C64": (8, nil),
    ]

    public convenience init(path: String) throws {
        try self.init(file: MappedFile(path: path))
    }

    public init(file: MappedFile) throws {
        self.file = file
        let ctx = "safetensors '\(file.path)'"
        if file.count < 8 {
            throw MIIError.format("\(ctx): file of \(file.count) bytes is too short for the header length")
        }
        let n = UInt64(littleEndian: file.base.loadUnaligned(as: UInt64.self))
        if n > Limits.maxSafetensorsHeader {
            throw MIIError.format("\(ctx): header length \(n) is above the limit of \(Limits.maxSafetensorsHeader) bytes")
        }
        if n > UInt64(file.count - 8) {
            throw MIIError.format("\(ctx): header length \(n) is beyond the end of the file (\(file.count) bytes)")
        }
        if n < 2 {
            throw MIIError.format("\(ctx): header length \(n) is too small for a JSON object")
        }
        let headerLen = Int(n)
        let dataOffset = 8 + headerLen
        self.dataOffset = dataOffset
        let dataSize = Int64(file.count - dataOffset)
        let header = try JSONValue.parse(UnsafeRawBufferPointer(start: file.base + 8, count: headerLen),
                                         context: "\(ctx) header")
        guard case .object(let members) = header else {
            throw MIIError.format("\(ctx): header is a JSON \(header.typeName), not an object")
        }
        if UInt64(members.count) > Limits.maxTensorCount + 1 {
            throw MIIError.format("\(ctx): \(members.count) header entries, above the limit of \(Limits.maxTensorCount) tensors")
        }

        var metadata: [(String, String)] = []
        var infos: [SafetensorsTensorInfo] = []
        var ranges: [(begin: Int64, end: Int64, index: Int)] = []
        infos.reserveCapacity(members.count)
        for (name, entry) in members {
            if name == "__metadata__" {
                guard case .object(let kv) = entry else {
                    throw MIIError.format("\(ctx): __metadata__ is a JSON \(entry.typeName), not an object")
                }
                for (k, v) in kv {
                    guard case .string(let s) = v else {
                        throw MIIError.format("\(ctx): __metadata__ value of '\(k)' is a JSON \(v.typeName), not a string")
                    }
                    metadata.append((k, s))
                }
                continue
            }
            let what = "\(ctx): tensor '\(name)'"
            if name.isEmpty { throw MIIError.format("\(ctx): a tensor has an empty name") }
            guard case .object = entry else {
                throw MIIError.format("\(what) is described by a JSON \(entry.typeName), not an object")
            }
            guard let dtypeValue = entry["dtype"] else { throw MIIError.format("\(what) has no dtype") }
            guard let dtype = dtypeValue.string else {
                throw MIIError.format("\(what) has a dtype that is a JSON \(dtypeValue.typeName), not a string")
            }
            guard let (elementBytes, type) = SafetensorsFile.dtypes[dtype] else {
                throw MIIError.unsupported("\(what) has unknown dtype '\(dtype.prefix(40))'")
            }
            guard let shapeValue = entry["shape"] else { throw MIIError.format("\(what) has no shape") }
            guard let shapeArray = shapeValue.array else {
                throw MIIError.format("\(what) has a shape that is a JSON \(shapeValue.typeName), not an array")
            }
            if shapeArray.count > Limits.maxSafetensorsDims {
                throw MIIError.format("\(what) has \(shapeArray.count) dimensions (at most \(Limits.maxSafetensorsDims) allowed)")
            }
            var shape: [Int64] = []
            var elems: Int64 = 1
            for (i, d) in shapeArray.enumerated() {
                guard case .int(let v) = d else {
                    throw MIIError.format("\(what) has shape entry \(i) = \(d), not an integer")
                }
                if v < 0 { throw MIIError.format("\(what) has negative shape entry \(i) = \(v)") }
                elems = try checkedMul(elems, v, what)
                shape.append(v)
            }
            if elems > Limits.maxTensorElements {
                throw MIIError.format("\(what) has \(elems) elements, above the limit of \(Limits.maxTensorElements)")
            }
            guard let offsetsValue = entry["data_offsets"] else { throw MIIError.format("\(what) has no data_offsets") }
            guard let offsets = offsetsValue.array, offsets.count == 2 else {
                throw MIIError.format("\(what) has data_offsets \(offsetsValue), not an array [begin, end]")
            }
            guard case .int(let begin) = offsets[0], case .int(let end) = offsets[1] else {
                throw MIIError.format("\(what) has data_offsets that are not integers")
            }
            if begin < 0 || end < 0 { throw MIIError.format("\(what) has negative data_offsets [\(begin), \(end)]") }
            if end < begin { throw MIIError.format("\(what) has data_offsets [\(begin), \(end)] with end before begin") }
            if end > dataSize {
                throw MIIError.format("\(what) has data_offsets [\(begin), \(end)] beyond the data section (\(dataSize) bytes)")
            }
            let bytes = try checkedMul(elems, elementBytes, what)
            if end - begin != bytes {
                throw MIIError.format("\(what) has \(end - begin) bytes of data, but dtype \(dtype) and shape \(shape) need \(bytes)")
            }
            ranges.append((begin, end, infos.count))
            infos.append(SafetensorsTensorInfo(
                name: name, dtype: dtype, elementBytes: elementBytes, type: type, shape: shape,
                dims: shape.isEmpty ? [1] : shape.reversed(),
                fileOffset: dataOffset + Int(begin), byteCount: Int(bytes)))
        }
        // No two tensors may share bytes (empty tensors occupy nothing).
        ranges.sort { $0.begin != $1.begin ? $0.begin < $1.begin : $0.end < $1.end }
        var prevEnd: Int64 = 0
        var prevIndex = -1
        for r in ranges where r.end > r.begin {
            if r.begin < prevEnd {
                throw MIIError.format("\(ctx): tensors '\(infos[prevIndex].name)' and '\(infos[r.index].name)' overlap (data_offsets \(r.begin) < \(prevEnd))")
            }
            prevEnd = r.end
            prevIndex = r.index
        }
        var index: [String: Int] = [:]
        for (i, t) in infos.enumerated() { index[t.name] = i }
        self.metadata = metadata
        self.tensors = infos
        self.tensorIndex = index
    }

    public func tensor(_ name: String) -> SafetensorsTensorInfo? {
        tensorIndex[name].map { tensors[$0] }
    }

    /// The value of a "__metadata__" key.
    public func metadataValue(_ key: String) -> String? {
        metadata.first { $0.0 == key }?.1
    }

    public func data(_ t: SafetensorsTensorInfo) -> UnsafeRawPointer { file.base + t.fileOffset }
}

extension SafetensorsFile: TensorSource {
    /// Tensors whose dtype has no GGML type (U8, BOOL, F8_*, ...) are reported as absent; use
    /// `tensor(_:)` to see them.
    public func lookup(_ name: String) -> (type: GGMLType, dims: [Int64], data: UnsafeRawPointer)? {
        guard let t = tensor(name), let type = t.type else { return nil }
        return (type, t.dims, data(t))
    }
}

/// A sharded safetensors checkpoint: `model.safetensors.index.json` maps every tensor name to a shard
/// file in the same folder. All shards are opened and checked; every tensor the index lists must exist
/// in its shard.
public final class SafetensorsIndex: @unchecked Sendable {
    public let path: String
    /// Shards by file name.
    public let shards: [String: SafetensorsFile]
    /// Tensor name -> shard file name, in index order.
    public let weightMap: [(String, String)]
    private let location: [String: SafetensorsFile]
    /// The index's "metadata" object, if any.
    public let metadata: JSONValue?

    public init(path: String) throws {
        self.path = path
        let ctx = "safetensors index '\(path)'"
        let f = try MappedFile(path: path)
        if f.count > Limits.maxJSONBytes {
            throw MIIError.format("\(ctx): file of \(f.count) bytes is above the limit of \(Limits.maxJSONBytes) bytes")
        }
        let root = try JSONValue.parse(UnsafeRawBufferPointer(start: f.base, count: f.count), context: ctx)
        guard case .object = root else {
            throw MIIError.format("\(ctx): top level is a JSON \(root.typeName), not an object")
        }
        guard let wm = root["weight_map"] else { throw MIIError.format("\(ctx): no weight_map") }
        guard let entries = wm.object else {
            throw MIIError.format("\(ctx): weight_map is a JSON \(wm.typeName), not an object")
        }
        if let m = root["metadata"], m.object == nil {
            throw MIIError.format("\(ctx): metadata is a JSON \(m.typeName), not an object")
        }
        self.metadata = root["metadata"]
        var dir = ""
        if let slash = path.lastIndex(of: "/") { dir = String(path[...slash]) }

        var map: [(String, String)] = []
        var shardNames: [String] = []
        var seen: Set<String> = []
        for (name, v) in entries {
            guard let file = v.string else {
                throw MIIError.format("\(ctx): weight_map entry '\(name)' is a JSON \(v.typeName), not a file name")
            }
            if file.isEmpty || file == "." || file == ".." || file.hasPrefix("..") || file.contains("/")
                || file.contains("\\") || file.utf8.contains(0) {
                throw MIIError.format("\(ctx): weight_map entry '\(name)' names '\(file.prefix(80))', which is not a plain file name in the same folder")
            }
            if !seen.contains(file) {
                if seen.count >= Limits.maxSafetensorsShards {
                    throw MIIError.format("\(ctx): more than \(Limits.maxSafetensorsShards) shards")
                }
                seen.insert(file)
                shardNames.append(file)
            }
            map.append((name, file))
        }
        var shards: [String: SafetensorsFile] = [:]
        for s in shardNames {
            shards[s] = try SafetensorsFile(path: dir + s)
        }
        var location: [String: SafetensorsFile] = [:]
        for (name, file) in map {
            let shard = shards[file]!
            guard shard.tensor(name) != nil else {
                throw MIIError.format("\(ctx): tensor '\(name)' is listed in shard '\(file)' but that shard does not contain it")
            }
            location[name] = shard
        }
        self.shards = shards
        self.weightMap = map
        self.location = location
    }

    public func tensor(_ name: String) -> SafetensorsTensorInfo? { location[name]?.tensor(name) }

    /// The shard holding a tensor.
    public func shard(for name: String) -> SafetensorsFile? { location[name] }
}

extension SafetensorsIndex: TensorSource {
    public func lookup(_ name: String) -> (type: GGMLType, dims: [Int64], data: UnsafeRawPointer)? {
        location[name]?.lookup(name)
    }
}
