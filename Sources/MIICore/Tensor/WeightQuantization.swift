import MIIKernels

/// Quantizing float weights (F32/F16/BF16) to 8- or 4-bit blocks when a model loads, as
/// DeepSpeed-Inference's int8 does. Quantized copies are owned by the tensor source (and so by the
/// network that keeps it); 1-D tensors (norms, biases) stay float.
public enum WeightQuantization: String, Sendable, CaseIterable {
    /// Float weights stay float in precise mode and become Q8_0 in fast mode.
    case auto
    case none
    case q8_0
    case q4_0
    case q4_1

    var ggmlType: GGMLType? {
        switch self {
        case .q8_0: return .q8_0
        case .q4_0: return .q4_0
        case .q4_1: return .q4_1
        case .auto, .none: return nil
        }
    }

    /// What `auto` means for a precision mode.
    public func resolved(for mode: PrecisionMode) -> WeightQuantization {
        guard self == .auto else { return self }
        return mode == .fast ? .q8_0 : .none
    }
}

/// A tensor source whose 2-D float tensors are quantized on first lookup (then cached).
/// With a 4-bit target, matrices of `vocabRows` rows (token embeddings and output heads, which set
/// every logit) get Q8_0 instead, as llama.cpp's 4-bit files keep their output head at higher
/// precision: 4-bit there costs SmolLM2 several times the log-prob error of 4-bit everywhere else.
final class QuantizingTensors: TensorSource, @unchecked Sendable {
    let base: TensorSource
    let target: GGMLType
    let vocabRows: Int?
    /// Names of 2-D float tensors that stay float (nil: none).
    let keepsFloat: (@Sendable (String) -> Bool)?
    private var cache: [String: (type: GGMLType, dims: [Int64], data: UnsafeRawPointer)] = [:]
    private var owned: [UnsafeMutableRawPointer] = []
    private(set) var quantizedBytes = 0
    private(set) var quantizedCount = 0

    init(base: TensorSource, target: GGMLType, vocabRows: Int?, keepsFloat: (@Sendable (String) -> Bool)? = nil) {
        self.base = base
        self.target = target
        self.vocabRows = vocabRows
        self.keepsFloat = keepsFloat
    }

    /// What llama.cpp's converter leaves in float when it writes a quantized GGUF file (GGUF tensor
    /// names): norms, position and token-type embeddings, MoE router inputs, and anything that is not
    /// a `.weight`. Quantizing a float GGUF at load with this rule gives the tensors its `--outtype
    /// q8_0` would have given.
    static let ggufKeepsFloat: @Sendable (String) -> Bool = { name in
        !name.hasSuffix(".weight") || name.hasSuffix("_norm.weight")
            || name == "position_embd.weight" || name == "token_types.weight"
            || name.contains("ffn_gate_inp")
    }

    /// The same rule for Hugging Face checkpoint names: position tables (GPT-2 / GPT-Neo `wpe`, OPT
    /// `embed_positions`, BERT `position_embeddings`) and token-type embeddings stay float, as they do
    /// when llama.cpp's converter writes a quantized file from the folder (norms and biases are 1-D
    /// and stay float anyway). A quantized GPT-2 position table moved the tiny model's logits by 0.06.
    static let hfKeepsFloat: @Sendable (String) -> Bool = { name in
        name.hasSuffix("wpe.weight") || name.contains("embed_positions") || name.contains("position_embeddings")
            || name.contains("token_type_embeddings")
    }

    /// The type a tensor was quantized to, if it has been looked up and quantized (only quantized
    /// tensors are cached).
    func quantizedType(of name: String) -> GGMLType? { cache[name]?.type }

    deinit { for p in owned { p.deallocate() } }

    /// Loading is single-threaded (the model is built before anyone shares it), so the cache needs
    /// no lock.
    func lookup(_ name: String) -> (type: GGMLType, dims: [Int64], data: UnsafeRawPointer)? {
        if let hit = cache[name] { return hit }
        guard let t = base.lookup(name) else { return nil }
        return quantizedCopy(name, t) ?? t
    }

    /// The quantized copy of `t` (the tensor called `name`, from the base or rewritten by a loader:
    /// GPT-2's transposed Conv1D weights), owned and cached here; nil when the rules keep it as it is
    /// (not a 2-D float matrix of whole 32-element blocks, or kept float by name).
    func quantizedCopy(_ name: String, _ t: (type: GGMLType, dims: [Int64], data: UnsafeRawPointer))
        -> (type: GGMLType, dims: [Int64], data: UnsafeRawPointer)? {
        if let hit = cache[name] { return hit }
        if let keep = keepsFloat, keep(name) { return nil }
        guard t.dims.count == 2, t.type == .f32 || t.type == .f16 || t.type == .bf16,
              t.dims[0] > 0, t.dims[0] % 32 == 0, t.dims[1] > 0 else { return nil }
        let cols = Int(t.dims[0]), rows = Int(t.dims[1])
        let target = (self.target != .q8_0 && rows == vocabRows) ? GGMLType.q8_0 : self.target
        let (count, overflow) = cols.multipliedReportingOverflow(by: rows)
        guard !overflow, count <= Int(Limits.maxTensorElements) else { return nil }
        let outRowBytes = target.rowBytes(cols)
        let inRowBytes = t.type.rowBytes(cols)
        let out = UnsafeMutableRawPointer.allocate(byteCount: outRowBytes * rows, alignment: 64)
        let row = UnsafeMutablePointer<Float>.allocate(capacity: cols)
        defer { row.deallocate() }
        for r in 0..<rows {
            let src: UnsafePointer<Float>
            if t.type == .f32 {
                src = (t.data + r * inRowBytes).assumingMemoryBound(to: Float.self)
            } else {
                miik_dequantize(Int32(t.type.rawValue), t.data + r * inRowBytes, row, Int64(cols))
                src = UnsafePointer(row)
            }
            _ = miik_quantize(Int32(target.rawValue), src, out + r * outRowBytes, Int64(cols))
        }
        owned.append(out)
        quantizedBytes += outRowBytes * rows
        quantizedCount += 1
        let entry = (target, t.dims, UnsafeRawPointer(out))
        cache[name] = entry
        return entry
    }
}
