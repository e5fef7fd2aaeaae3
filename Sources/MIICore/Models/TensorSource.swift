import MIIKernels

/// Where a model's named tensors come from (a GGUF file today; safetensors folders later). Every
/// accessor checks the tensor's shape against what the architecture expects.
public protocol TensorSource {
    /// (type, dims innermost first, data) of a tensor, or nil if absent.
    func lookup(_ name: String) -> (type: GGMLType, dims: [Int64], data: UnsafeRawPointer)?
}

extension TensorSource {
    func matrix(_ name: String, rows: Int, cols: Int) throws -> WeightMatrix {
        guard let t = lookup(name) else { throw MIIError.format("missing tensor '\(name)'") }
        guard t.dims.count == 2 || (t.dims.count > 2 && t.dims[2...].allSatisfy { $0 == 1 }),
              t.dims[0] == Int64(cols), t.dims[1] == Int64(rows) else {
            throw MIIError.format("tensor '\(name)' has shape \(t.dims), expected [\(cols), \(rows)]")
        }
        guard t.type.isComputable else {
            throw MIIError.unsupported("tensor '\(name)' has type \(t.type.name), which libmii cannot compute with")
        }
        return WeightMatrix(name: name, type: t.type, rows: rows, cols: cols, data: t.data)
    }

    func optionalVector(_ name: String, count: Int) throws -> [Float]? {
        guard let t = lookup(name) else { return nil }
        guard t.dims.count == 1, t.dims[0] == Int64(count) else {
            throw MIIError.format("tensor '\(name)' has shape \(t.dims), expected [\(count)]")
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
            throw MIIError.format("missing tensor '\(name)'")
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
