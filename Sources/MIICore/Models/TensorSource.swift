import MIIKernels

/// Where a model's named tensors come from (a GGUF file today; safetensors folders later). Every
/// accessor checks the tensor's shape against what the architecture expects.
public protocol TensorSource {
    /// (type, dims innermost first, data) of a tensor, or nil if absent.
    func lookup(_ name: String) -> (type: GGMLType, dims: [Int64], data: UnsafeRawPointer)?
    /// The name messages use for `name`: the checkpoint's own name when the source renames.
    func displayName(_ name: String) -> String
}

extension TensorSource {
    public func displayName(_ name: String) -> String { name }

    func matrix(_ name: String, rows: Int, cols: Int) throws -> WeightMatrix {
        guard let t = lookup(name) else { throw MIIError.format("missing tensor '\(displayName(name))'") }
        guard t.dims.count == 2 || (t.dims.count > 2 && t.dims[2...].allSatisfy { $0 == 1 }),
              t.dims[0] == Int64(cols), t.dims[1] == Int64(rows) else {
            throw MIIError.format("tensor '\(displayName(name))' has shape \(t.dims), expected [\(cols), \(rows)]")
        }
        guard t.type.isComputable else {
            throw MIIError.unsupported("tensor '\(name)' has type \(t.type.name), which libmii cannot compute with")
        }
        return WeightMatrix(name: name, type: t.type, rows: rows, cols: cols, data: t.data)
    }

    func optionalVector(_ name: String, count: Int) throws -> [Float]? {
        guard let t = lookup(name) else { return nil }
        guard t.dims.count == 1, t.dims[0] == Int64(count) else {
            throw MIIError.format("tensor '\(displayName(name))' has shape \(t.dims), expected [\(count)]")
        }
        guard t.type.isComputable else {
            throw MIIError.unsupported("tensor '\(name)' has type \(t.type.name), which libmii cannot compute with")
        }
        var out = [Float](repeating: 0, count: count)
        out.withUnsafeMutableBufferPointer { p in
            miik_dequantize(Int32(t.type.rawValue), t.data, p.baseAddress!, Int64(count))
        }
        for (i, v) in out.enumerated() where !v.isFinite {
            throw MIIError.format("tensor '\(name)' holds a non-finite value at \(i)")
        }
        return out
    }

    func vector(_ name: String, count: Int) throws -> [Float] {
        guard let v = try optionalVector(name, count: count) else {
            throw MIIError.format("missing tensor '\(displayName(name))'")
        }
        return v
    }
}

extension GGUFFile: TensorSource {
    public func lookup(_ name: String) -> (type: GGMLType, dims: [Int64], data: UnsafeRawPointer)? {
        guard let t = tensor(name) else { return nil }
        return (t.type, t.dims, data(t))
    }
}

/// A checkpoint's tensors presented under the engine's (GGUF-style) names: `resolve` maps an engine
/// name to the checkpoint's name and, for fused matrices (Phi-3's `qkv_proj`), a range of rows.
struct RenamedTensors: TensorSource {
    struct Target {
        var name: String
        /// Rows [start, start + count) of a 2-D tensor (elements of a 1-D float tensor); nil: the whole tensor.
        var rows: (start: Int, count: Int)? = nil
    }
    let base: TensorSource
    let resolve: (String) -> Target?

    func displayName(_ name: String) -> String {
        guard let t = resolve(name) else { return name }
        let base = base.displayName(t.name)
        guard let r = t.rows else { return base }
        return "\(base) (rows \(r.start)..<\(r.start + r.count))"
    }

    func lookup(_ name: String) -> (type: GGMLType, dims: [Int64], data: UnsafeRawPointer)? {
        guard let target = resolve(name), let t = base.lookup(target.name) else { return nil }
        guard let r = target.rows else { return t }
        // A range of a float vector (a fused bias: "rows" are elements).
        if t.dims.count == 1 {
            guard r.start >= 0, r.count > 0, Int64(r.start) + Int64(r.count) <= t.dims[0],
                  t.type == .f32 || t.type == .f16 || t.type == .bf16 else { return nil }
            return (t.type, [Int64(r.count)], t.data + r.start * t.type.rowBytes(1))
        }
        // Row slices of a [cols, rows] matrix whose rows are whole blocks: checked here so a bad
        // request reads as "absent" and the caller reports the missing tensor.
        guard t.dims.count == 2, r.start >= 0, r.count > 0,
              Int64(r.start) + Int64(r.count) <= t.dims[1], t.dims[0] > 0,
              t.dims[0] % Int64(t.type.blockElements) == 0 else { return nil }
        let rowBytes = t.type.rowBytes(Int(t.dims[0]))
        return (t.type, [t.dims[0], Int64(r.count)], t.data + r.start * rowBytes)
    }
}

/// Maps the engine's per-layer names ("blk.3.attn_q.weight") to (layer, rest) for checkpoint renames.
func splitLayerName(_ name: String) -> (layer: Int, rest: Substring)? {
    guard name.hasPrefix("blk.") else { return nil }
    let tail = name.dropFirst(4)
    guard let dot = tail.firstIndex(of: "."), let i = Int(tail[..<dot]) else { return nil }
    return (i, tail[tail.index(after: dot)...])
}
