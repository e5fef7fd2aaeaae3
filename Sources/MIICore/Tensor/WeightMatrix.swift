import MIIKernels

/// A 2-D weight used in place from the model file: `rows` output features, each a row of `cols`
/// elements of `type` stored contiguously (GGML layout: dims = [cols, rows]).
public struct WeightMatrix: @unchecked Sendable {
    public let name: String
    public let type: GGMLType
    public let rows: Int
    public let cols: Int
    public let data: UnsafeRawPointer
    public let rowBytes: Int

    public init(name: String, type: GGMLType, rows: Int, cols: Int, data: UnsafeRawPointer) {
        self.name = name
        self.type = type
        self.rows = rows
        self.cols = cols
        self.data = data
        self.rowBytes = type.rowBytes(cols)
    }

    /// Dequantizes row `r` into `out[0..<cols]`.
    public func dequantizeRow(_ r: Int, into out: UnsafeMutablePointer<Float>) {
        miik_dequantize(Int32(type.rawValue), data + r * rowBytes, out, Int64(cols))
    }
}
