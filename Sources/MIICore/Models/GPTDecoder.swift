import MIIKernels

#if canImport(Glibc)
import Glibc
#endif

/// Shapes and hyper-parameters of a decoder of the GPT family (GPT-2, OPT, BLOOM, GPT-Neo, GPT-J,
/// GPT-NeoX): LayerNorm with bias, learned / rotary / ALiBi positions, biased projections, a GELU or
/// ReLU MLP, sequential or parallel residual. Each architecture's file fills it from its config.
public struct GPTConfig: Sendable {
    public enum Positions: Sendable, Equatable {
        /// A learned table `position_embd.weight` [rows, n_embd] indexed by position + offset (OPT: 2).
        case learned(offset: Int)
        /// RoPE on the first `dims` elements of each head; `interleaved`: pairs (x[2i], x[2i+1]) (GPT-J),
        /// else (x[i], x[i + dims/2]) (GPT-NeoX "rotate half").
        case rotary(dims: Int, base: Float, interleaved: Bool)
        /// Linear biases slope_h * key_position added to the scores (BLOOM).
        case alibi
    }

    public enum Activation: String, Sendable {
        case gelu            // erf form
        case geluTanh        // tanh approximation (gelu_new, gelu_pytorch_tanh, gelu_fast, BLOOM)
        case relu
        case quickGelu       // x * sigmoid(1.702 x)
        case silu

        /// Maps a transformers `ACT2FN` name.
        static func fromHF(_ name: String, context: String) throws -> Activation {
            switch name {
            case "gelu": return .gelu
            case "gelu_new", "gelu_pytorch_tanh", "gelu_fast": return .geluTanh
            case "relu": return .relu
            case "quick_gelu": return .quickGelu
            case "silu", "swish": return .silu
            default:
                throw MIIError.unsupported("\(context): activation '\(name)' is not supported (gelu, gelu_new, gelu_pytorch_tanh, gelu_fast, relu, quick_gelu, silu)")
            }
        }
    }

    /// How a checkpoint stores the query/key/value projection.
    public enum QKVLayout: Sendable {
        /// attn_q / attn_k / attn_v matrices.
        case separate
        /// One attn_qkv matrix [3 n_embd, n_embd]: all query rows, then key rows, then value rows
        /// (GGUF, GPT-2 after the transpose).
        case fused
        /// One attn_qkv matrix with rows [head][q, k, v][head_dim] (Hugging Face GPT-NeoX, BLOOM).
        case fusedPerHead
    }

    public var architecture: String
    public var nLayer: Int
    public var nEmbd: Int
    public var nFF: Int
    public var nHead: Int
    public var nVocab: Int
    public var contextLength: Int
    public var normEps: Float
    public var positions: Positions
    public var activation: Activation
    public var qkvLayout: QKVLayout
    /// Multiplier of q·k: 1/sqrt(head_dim), or 1 (GPT-Neo, GPT-2 with scale_attn_weights = false).
    public var attnScale: Float
    /// GPT-2 `scale_attn_by_inverse_layer_idx`: scores of layer i are further divided by i + 1.
    public var scaleByInverseLayer = false
    /// Per layer: attend to the last `window` positions only (GPT-Neo local layers); nil: global.
    public var layerWindows: [Int?]
    /// attn(norm1(x)) and mlp(norm2(x) or norm1(x)) both added to x (GPT-J, GPT-NeoX).
    public var parallelResidual = false
    /// Norms before each block (true), or after each residual addition (OPT with do_layer_norm_before = false).
    public var preNorm = true
    /// BLOOM `apply_residual_connection_post_layernorm`: residuals start from the normed input.
    public var residualFromNorm = false
    /// BLOOM: LayerNorm on the token embeddings (`token_embd_norm`).
    public var embeddingNorm = false
    /// LayerNorms may have neither weight nor bias (OPT `layer_norm_elementwise_affine: false`).
    public var normsWithoutParameters = false
    /// LayerNorm after the last layer (`output_norm`); absent in post-norm OPT.
    public var finalNorm = true
    /// Width of the token embeddings and the output head (OPT `word_embed_proj_dim`); when it differs
    /// from n_embd, `proj_in` / `proj_out` map between the two.
    public var embedDim: Int
    public var tiedEmbeddings: Bool

    public var headDim: Int { nEmbd / nHead }

    public var ropeDims: Int {
        if case .rotary(let d, _, _) = positions { return d }
        return 0
    }

    public func validate() throws {
        let a = architecture
        func positive(_ v: Int, _ name: String, max: Int) throws {
            if v <= 0 || v > max { throw MIIError.format("\(a): \(name) = \(v) is out of range (1...\(max))") }
        }
        try positive(nLayer, "layer count", max: Limits.maxLayers)
        try positive(nEmbd, "embedding width", max: Limits.maxWidth)
        try positive(nFF, "feed-forward width", max: Limits.maxWidth)
        try positive(nHead, "head count", max: Limits.maxHeads)
        try positive(nVocab, "vocabulary size", max: Limits.maxVocab)
        try positive(contextLength, "context length", max: Limits.maxContext)
        try positive(embedDim, "word embedding width", max: Limits.maxWidth)
        if nEmbd % nHead != 0 {
            throw MIIError.format("\(a): embedding width \(nEmbd) is not a multiple of the head count \(nHead)")
        }
        if !(normEps > 0 && normEps < 1) {
            throw MIIError.format("\(a): layer norm epsilon \(normEps) is out of range")
        }
        if !(attnScale.isFinite && attnScale > 0) {
            throw MIIError.format("\(a): attention scale \(attnScale) is out of range")
        }
        if layerWindows.count != nLayer {
            throw MIIError.format("\(a): \(layerWindows.count) attention layer types for \(nLayer) layers")
        }
        for w in layerWindows { if let w, w <= 0 { throw MIIError.format("\(a): attention window \(w) must be positive") } }
        switch positions {
        case .learned(let offset):
            if offset < 0 || offset > 1 << 20 { throw MIIError.format("\(a): position offset \(offset) is out of range") }
        case .rotary(let dims, let base, _):
            if dims <= 0 || dims > headDim || dims % 2 != 0 {
                throw MIIError.format("\(a): rotary dimensions \(dims) must be even and at most the head dimension \(headDim)")
            }
            if !(base.isFinite && base > 1) { throw MIIError.format("\(a): rotary base \(base) is out of range") }
        case .alibi: break
        }
    }
}

/// The GPT-family decoder. Weights stay `WeightMatrix` views into the file (quantized GGUF included);
/// only tensors a checkpoint stores in another layout (GPT-2's Conv1D [in, out]) are copied, once, into
/// buffers owned by the tensor source the network keeps.
public final class GPTDecoder: @unchecked Sendable {
    struct Norm {
        let weight: [Float]?   // [n] (nil: 1)
        let bias: [Float]?     // [n] (nil: 0)
    }

    struct Layer {
        let attnNorm: Norm
        let wqkv: WeightMatrix?        // [3 n_embd, n_embd] (fused layouts)
        let bqkv: [Float]?             // [3 n_embd]
        let wq: WeightMatrix?, wk: WeightMatrix?, wv: WeightMatrix?   // [n_embd, n_embd] (separate)
        let bq: [Float]?, bk: [Float]?, bv: [Float]?
        let wo: WeightMatrix           // [n_embd, n_embd]
        let bo: [Float]?
        let ffnNorm: Norm?             // nil: GPT-J (one norm feeds both branches)
        let wUp: WeightMatrix          // [n_ff, n_embd]
        let bUp: [Float]?
        let wDown: WeightMatrix        // [n_embd, n_ff]
        let bDown: [Float]?
    }

    public let config: GPTConfig
    let tokenEmbedding: WeightMatrix    // [n_vocab, embed_dim]
    let positionEmbedding: WeightMatrix? // [n_positions, n_embd]
    let embeddingNorm: Norm?
    let projIn: WeightMatrix?           // [n_embd, embed_dim]
    let projOut: WeightMatrix?          // [embed_dim, n_embd]
    let outputNorm: Norm?
    let output: WeightMatrix            // [n_vocab, embed_dim]
    let outputBias: [Float]?            // [n_vocab]
    let layers: [Layer]
    let invFreq: [Float]                // [rope_dims/2]
    let alibiSlopes: [Float]            // [n_head]
    /// Keeps the file mappings (and any owned reordered copies) alive as long as the network.
    private let storage: TensorSource

    public var matrices: [WeightMatrix] {
        var all = [tokenEmbedding]
        if let p = positionEmbedding { all.append(p) }
        if let p = projIn { all.append(p) }
        if let p = projOut { all.append(p) }
        for l in layers {
            all += [l.wqkv, l.wq, l.wk, l.wv].compactMap { $0 }
            all += [l.wo, l.wUp, l.wDown]
        }
        if !config.tiedEmbeddings { all.append(output) }
        return all
    }

    public init(config c: GPTConfig, tensors: TensorSource) throws {
        try c.validate()
        config = c
        storage = tensors
        func norm(_ name: String, _ n: Int) throws -> Norm {
            let w = try tensors.optionalVector(name + ".weight", count: n)
            let b = try tensors.optionalVector(name + ".bias", count: n)
            if w == nil && b == nil && !c.normsWithoutParameters { throw MIIError.format("missing tensor '\(tensors.displayName(name + ".weight"))'") }
            return Norm(weight: w, bias: b)
        }
        tokenEmbedding = try tensors.matrix("token_embd.weight", rows: c.nVocab, cols: c.embedDim)
        if case .learned(let offset) = c.positions {
            guard let t = tensors.lookup("position_embd.weight"), t.dims.count == 2, t.dims[1] > Int64(offset) else {
                throw MIIError.format("missing tensor '\(tensors.displayName("position_embd.weight"))' (or it has no more rows than the position offset \(offset))")
            }
            let rows = Int(t.dims[1])
            positionEmbedding = try tensors.matrix("position_embd.weight", rows: rows, cols: c.nEmbd)
        } else {
            positionEmbedding = nil
        }
        embeddingNorm = c.embeddingNorm ? try norm("token_embd_norm", c.nEmbd) : nil
        if c.embedDim != c.nEmbd {
            projIn = try tensors.matrix("proj_in.weight", rows: c.nEmbd, cols: c.embedDim)
            projOut = try tensors.matrix("proj_out.weight", rows: c.embedDim, cols: c.nEmbd)
        } else {
            projIn = nil
            projOut = nil
        }
        outputNorm = c.finalNorm ? try norm("output_norm", c.nEmbd) : nil
        output = c.tiedEmbeddings ? tokenEmbedding
            : try tensors.matrix("output.weight", rows: c.nVocab, cols: c.embedDim)
        outputBias = try tensors.optionalVector("output.bias", count: c.nVocab)
        var layers: [Layer] = []
        let n = c.nEmbd
        for i in 0..<c.nLayer {
            let p = "blk.\(i)."
            let fused = c.qkvLayout != .separate
            func opt(_ name: String, rows: Int) throws -> WeightMatrix? {
                try tensors.matrix(p + name, rows: rows, cols: n)
            }
            layers.append(Layer(
                attnNorm: try norm(p + "attn_norm", n),
                wqkv: fused ? try opt("attn_qkv.weight", rows: 3 * n) : nil,
                bqkv: fused ? try tensors.optionalVector(p + "attn_qkv.bias", count: 3 * n) : nil,
                wq: fused ? nil : try opt("attn_q.weight", rows: n),
                wk: fused ? nil : try opt("attn_k.weight", rows: n),
                wv: fused ? nil : try opt("attn_v.weight", rows: n),
                bq: fused ? nil : try tensors.optionalVector(p + "attn_q.bias", count: n),
                bk: fused ? nil : try tensors.optionalVector(p + "attn_k.bias", count: n),
                bv: fused ? nil : try tensors.optionalVector(p + "attn_v.bias", count: n),
                wo: try tensors.matrix(p + "attn_output.weight", rows: n, cols: n),
                bo: try tensors.optionalVector(p + "attn_output.bias", count: n),
                ffnNorm: c.parallelResidual && tensors.lookup(p + "ffn_norm.weight") == nil
                    && tensors.lookup(p + "ffn_norm.bias") == nil ? nil : try norm(p + "ffn_norm", n),
                wUp: try tensors.matrix(p + "ffn_up.weight", rows: c.nFF, cols: n),
                bUp: try tensors.optionalVector(p + "ffn_up.bias", count: c.nFF),
                wDown: try tensors.matrix(p + "ffn_down.weight", rows: n, cols: c.nFF),
                bDown: try tensors.optionalVector(p + "ffn_down.bias", count: n)))
        }
        self.layers = layers
        if case .rotary(let dims, let base, _) = c.positions {
            invFreq = (0..<(dims / 2)).map { i in Float(1 / Double(base).pow(Double(2 * i) / Double(dims))) }
        } else {
            invFreq = []
        }
        alibiSlopes = c.positions == .alibi ? GPTDecoder.alibiSlopes(heads: c.nHead) : []
    }

    /// ALiBi slopes as BLOOM (and llama.cpp with max bias 8) define them: for the largest power of two
    /// p <= heads, 2^(-8k/p) for k = 1...p; the remaining heads take the odd steps 2^(-4k/p), k = 1, 3, ...
    static func alibiSlopes(heads: Int) -> [Float] {
        var p = 1
        while p * 2 <= heads { p *= 2 }
        let base = Glibc.pow(2.0, -8.0 / Double(p))
        var s = (1...p).map { Float(Glibc.pow(base, Double($0))) }
        if p < heads {
            let extra = Glibc.pow(2.0, -4.0 / Double(p))
            let remaining = min(p, heads - p)
            for k in stride(from: 1, to: 1 + 2 * remaining, by: 2) { s.append(Float(Glibc.pow(extra, Double(k)))) }
        }
        return s
    }

    /// Positions a state of this model can hold: learned tables end.
    var positionLimit: Int {
        if case .learned(let offset) = config.positions, let p = positionEmbedding { return p.rows - offset }
        return Limits.maxContext
    }

    // MARK: - forward

    func forward(_ tokens: UnsafeBufferPointer<Int32>, startPos: Int, state s: GPTState, pool: ThreadPool,
                 mode: PrecisionMode, allLogits: Bool, logits: UnsafeMutablePointer<Float>,
                 shouldCancel: () -> Bool) throws {
        let c = config
        if startPos + tokens.count > positionLimit {
            throw MIIError(.contextFull, "\(startPos + tokens.count) tokens exceed the \(positionLimit) positions of \(c.architecture)")
        }
        var done = 0
        while done < tokens.count {
            if shouldCancel() { throw MIIError(.cancelled, "cancelled") }
            let n = min(s.batch, tokens.count - done)
            let chunk = UnsafeBufferPointer(rebasing: tokens[done..<(done + n)])
            try forwardChunk(chunk, pos0: startPos + done, s, pool: pool, mode: mode, shouldCancel: shouldCancel)
            if allLogits {
                head(s, rows: 0..<n, out: logits + done * c.nVocab, pool: pool, mode: mode)
            } else if done + n == tokens.count {
                head(s, rows: (n - 1)..<n, out: logits, pool: pool, mode: mode)
            }
            done += n
        }
    }

    /// Final norm, projection back to the embedding width (OPT) and output head for the given rows.
    private func head(_ s: GPTState, rows: Range<Int>, out: UnsafeMutablePointer<Float>, pool: ThreadPool,
                      mode: PrecisionMode) {
        let c = config
        let m = rows.count
        for (k, t) in rows.enumerated() {
            let src = s.x + t * c.nEmbd
            let dst = s.xn + k * c.nEmbd
            if let on = outputNorm { layerNorm(src, on, dst, c.nEmbd, c.normEps) } else { dst.update(from: src, count: c.nEmbd) }
        }
        var h = UnsafePointer(s.xn)
        if let po = projOut {
            linear(po, s.xn, m, s.emb, pool: pool, mode: mode, fast: .int16, scratch: s.scratch)
            h = UnsafePointer(s.emb)
        }
        // (Near-)float activations for the head, as in LlamaDecoder.
        linear(output, h, m, out, pool: pool, mode: mode, fast: .int16, scratch: s.scratch)
        if let b = outputBias { addBias(out, b, rows: m) }
    }

    private func forwardChunk(_ tokens: UnsafeBufferPointer<Int32>, pos0: Int, _ s: GPTState, pool: ThreadPool,
                              mode: PrecisionMode, shouldCancel: () -> Bool) throws {
        let c = config
        let n = tokens.count
        let d = c.nEmbd
        func checkCancel() throws {
            if shouldCancel() { throw MIIError(.cancelled, "cancelled") }
        }
        // x [n, n_embd] = token embeddings (through proj_in when narrower) + learned positions
        if let pi = projIn {
            for (t, id) in tokens.enumerated() { tokenEmbedding.dequantizeRow(Int(id), into: s.emb + t * c.embedDim) }
            linear(pi, s.emb, n, s.x, pool: pool, mode: mode, scratch: s.scratch)
        } else {
            for (t, id) in tokens.enumerated() { tokenEmbedding.dequantizeRow(Int(id), into: s.x + t * d) }
        }
        if let pe = positionEmbedding, case .learned(let offset) = c.positions {
            for t in 0..<n {
                pe.dequantizeRow(pos0 + t + offset, into: s.xn)
                add(s.x + t * d, s.xn, d)
            }
        }
        if let en = embeddingNorm {
            for t in 0..<n { layerNorm(s.x + t * d, en, s.x + t * d, d, c.normEps) }
        }
        // cos/sin [n, rope_dims/2]
        let half = c.ropeDims / 2
        for t in 0..<n {
            let pos = Float(pos0 + t)
            for i in 0..<half {
                let a = pos * invFreq[i]
                s.ropeCos[t * half + i] = cosf(a)
                s.ropeSin[t * half + i] = sinf(a)
            }
        }
        for (li, L) in layers.enumerated() {
            // h = norm1(x) in xn, or x itself (post-norm)
            for t in 0..<n {
                if c.preNorm { layerNorm(s.x + t * d, L.attnNorm, s.xn + t * d, d, c.normEps) }
                else { (s.xn + t * d).update(from: s.x + t * d, count: d) }
            }
            try checkCancel()
            try attentionBlock(L, layer: li, n: n, pos0: pos0, s, pool: pool, mode: mode, checkCancel: checkCancel)
            // s.ao [n, n_embd] = attention output (with bias)
            if c.parallelResidual {
                // x += attn(h) + mlp(norm2(x) or h)
                if let fn = L.ffnNorm {
                    for t in 0..<n { layerNorm(s.x + t * d, fn, s.xn + t * d, d, c.normEps) }
                }
                try checkCancel()
                mlp(L, input: s.xn, n: n, out: s.mo, s, pool: pool, mode: mode)
                for i in 0..<(n * d) { s.x[i] += s.ao[i] + s.mo[i] }
                continue
            }
            if !c.preNorm {
                // OPT post-norm: x = norm1(x + attn(x)); x = norm2(x + mlp(x))
                add(s.x, s.ao, n * d)
                for t in 0..<n { layerNorm(s.x + t * d, L.attnNorm, s.x + t * d, d, c.normEps) }
                try checkCancel()
                mlp(L, input: s.x, n: n, out: s.mo, s, pool: pool, mode: mode)
                add(s.x, s.mo, n * d)
                if let fn = L.ffnNorm { for t in 0..<n { layerNorm(s.x + t * d, fn, s.x + t * d, d, c.normEps) } }
                continue
            }
            // x = (h or x) + attn; x = (norm2(x) or x) + mlp(norm2(x))
            if c.residualFromNorm { s.x.update(from: s.xn, count: n * d) }
            add(s.x, s.ao, n * d)
            if let fn = L.ffnNorm {
                for t in 0..<n { layerNorm(s.x + t * d, fn, s.xn + t * d, d, c.normEps) }
            }
            try checkCancel()
            mlp(L, input: s.xn, n: n, out: s.mo, s, pool: pool, mode: mode)
            if c.residualFromNorm { s.x.update(from: s.xn, count: n * d) }
            add(s.x, s.mo, n * d)
        }
    }

    /// q, k, v of the normed input s.xn, keys/values appended to the cache, attention, output
    /// projection: s.ao [n, n_embd].
    private func attentionBlock(_ L: Layer, layer li: Int, n: Int, pos0: Int, _ s: GPTState, pool: ThreadPool,
                                mode: PrecisionMode, checkCancel: () throws -> Void) throws {
        let c = config
        let d = c.nEmbd
        let hd = c.headDim
        let (kNew, vNew) = s.kv.newRows(layer: li, position: pos0)  // [n, n_embd]: in a float cache, in place
        if let w = L.wqkv {
            linear(w, s.xn, n, s.qkv, pool: pool, mode: mode, scratch: s.scratch)   // [n, 3 n_embd]
            if let b = L.bqkv { addBias(s.qkv, b, rows: n) }
            for t in 0..<n {
                let row = s.qkv + t * 3 * d
                switch c.qkvLayout {
                case .fusedPerHead:
                    for h in 0..<c.nHead {
                        let src = row + h * 3 * hd
                        (s.q + t * d + h * hd).update(from: src, count: hd)
                        (kNew + t * d + h * hd).update(from: src + hd, count: hd)
                        (vNew + t * d + h * hd).update(from: src + 2 * hd, count: hd)
                    }
                default:
                    (s.q + t * d).update(from: row, count: d)
                    (kNew + t * d).update(from: row + d, count: d)
                    (vNew + t * d).update(from: row + 2 * d, count: d)
                }
            }
        } else if let wq = L.wq, let wk = L.wk, let wv = L.wv {
            linear(wq, s.xn, n, s.q, pool: pool, mode: mode, scratch: s.scratch)
            try checkCancel()
            linear(wk, s.xn, n, kNew, pool: pool, mode: mode, scratch: s.scratch)
            try checkCancel()
            linear(wv, s.xn, n, vNew, pool: pool, mode: mode, scratch: s.scratch)
            if let b = L.bq { addBias(s.q, b, rows: n) }
            if let b = L.bk { addBias(kNew, b, rows: n) }
            if let b = L.bv { addBias(vNew, b, rows: n) }
        }
        if case .rotary(let dims, _, let interleaved) = c.positions {
            rope(s.q, n: n, dims: dims, interleaved: interleaved, s)
            rope(kNew, n: n, dims: dims, interleaved: interleaved, s)
        }
        s.kv.store(layer: li, position: pos0, keys: kNew, values: vNew, rows: n)
        attention(layer: li, n: n, pos0: pos0, s, pool: pool)
        try checkCancel()
        linear(L.wo, s.attn, n, s.ao, pool: pool, mode: mode, scratch: s.scratch)
        if let b = L.bo { addBias(s.ao, b, rows: n) }
    }

    /// out [n, n_embd] = down(act(up(input) + b_up)) + b_down.
    private func mlp(_ L: Layer, input: UnsafePointer<Float>, n: Int, out: UnsafeMutablePointer<Float>,
                     _ s: GPTState, pool: ThreadPool, mode: PrecisionMode) {
        let c = config
        linear(L.wUp, input, n, s.ff, pool: pool, mode: mode, scratch: s.scratch)
        if let b = L.bUp { addBias(s.ff, b, rows: n) }
        let total = n * c.nFF
        let f = s.ff
        switch c.activation {
        case .gelu:
            for i in 0..<total { let x = f[i]; f[i] = 0.5 * x * (1 + erff(x * 0.70710678118654752)) }
        case .geluTanh:
            for i in 0..<total {
                let x = f[i]
                f[i] = 0.5 * x * (1 + tanhf(0.79788456080286536 * (x + 0.044715 * x * x * x)))
            }
        case .relu:
            for i in 0..<total where !(f[i] > 0) { f[i] = 0 }
        case .quickGelu:
            for i in 0..<total { let x = f[i]; f[i] = x / (1 + expf(-1.702 * x)) }
        case .silu:
            for i in 0..<total { let x = f[i]; f[i] = x / (1 + expf(-x)) }
        }
        // As in LlamaDecoder, the down projection keeps (near-)float activations in fast mode.
        linear(L.wDown, s.ff, n, out, pool: pool, mode: mode, fast: .int16, scratch: s.scratch)
        if let b = L.bDown { addBias(out, b, rows: n) }
    }

    private func rope(_ x: UnsafeMutablePointer<Float>, n: Int, dims: Int, interleaved: Bool, _ s: GPTState) {
        let c = config
        let half = dims / 2
        let hd = c.headDim
        for t in 0..<n {
            let cs = s.ropeCos + t * half
            let sn = s.ropeSin + t * half
            for h in 0..<c.nHead {
                let v = x + t * c.nEmbd + h * hd
                if interleaved {
                    for i in 0..<half {
                        let a = v[2 * i], b = v[2 * i + 1]
                        v[2 * i] = a * cs[i] - b * sn[i]
                        v[2 * i + 1] = b * cs[i] + a * sn[i]
                    }
                } else {
                    for i in 0..<half {
                        let a = v[i], b = v[i + half]
                        v[i] = a * cs[i] - b * sn[i]
                        v[i + half] = b * cs[i] + a * sn[i]
                    }
                }
            }
        }
    }

    /// Causal multi-head attention for the n new tokens over the cache; writes s.attn [n, n_embd].
    /// (token, head) items are split over the pool's threads.
    private func attention(layer: Int, n: Int, pos0: Int, _ s: GPTState, pool: ThreadPool) {
        let c = config
        let hd = c.headDim
        let d = c.nEmbd
        var scale = c.attnScale
        if c.scaleByInverseLayer { scale /= Float(layer + 1) }
        let window = c.layerWindows[layer]
        let items = n * c.nHead
        alibiSlopes.withUnsafeBufferPointer { slopes in
            pool.run { ith, nth in
                let scores = s.scores + ith * s.maxContext
                for item in ThreadPool.interleaved(items, ith, nth) {  // causal cost grows with t
                    let t = item / c.nHead
                    let h = item % c.nHead
                    let len = pos0 + t + 1
                    let first = window.map { max(0, len - $0) } ?? 0
                    s.kv.attend(layer: layer, q: s.q + t * d + h * hd, nQ: 1, first: first, nKeys: len - first,
                                column: h * hd, headDim: hd, scale: scale, slope: slopes.isEmpty ? 0 : slopes[h],
                                scores: scores, out: s.attn + t * d + h * hd)
                }
            }
        }
    }

    private func addBias(_ y: UnsafeMutablePointer<Float>, _ b: [Float], rows: Int) {
        let m = b.count
        b.withUnsafeBufferPointer { bp in
            for t in 0..<rows {
                let row = y + t * m
                for i in 0..<m { row[i] += bp[i] }
            }
        }
    }
}

/// LayerNorm of one row (in place allowed): (x - mean) / sqrt(var + eps) * w + b.
@inline(__always)
func layerNorm(_ x: UnsafePointer<Float>, _ p: GPTDecoder.Norm, _ out: UnsafeMutablePointer<Float>, _ n: Int, _ eps: Float) {
    var mean: Float = 0
    for i in 0..<n { mean += x[i] }
    mean /= Float(n)
    var v: Float = 0
    for i in 0..<n { let e = x[i] - mean; v += e * e }
    let inv = 1 / (v / Float(n) + eps).squareRoot()
    for i in 0..<n { out[i] = (x[i] - mean) * inv }
    if let w = p.weight { w.withUnsafeBufferPointer { wp in for i in 0..<n { out[i] *= wp[i] } } }
    if let b = p.bias { b.withUnsafeBufferPointer { bp in for i in 0..<n { out[i] += bp[i] } } }
}

/// One sequence's KV cache and activation buffers for a `GPTDecoder`.
final class GPTState {
    let config: GPTConfig
    let maxContext: Int
    let batch: Int
    let threads: Int

    let kv: KVCache                          // [n_layer, max_context, n_embd] keys and values
    let x: UnsafeMutablePointer<Float>       // [batch, n_embd] residual stream
    let xn: UnsafeMutablePointer<Float>      // [batch, n_embd] normed input
    let ao: UnsafeMutablePointer<Float>      // [batch, n_embd] attention block output
    let mo: UnsafeMutablePointer<Float>      // [batch, n_embd] MLP block output
    let qkv: UnsafeMutablePointer<Float>     // [batch, 3 n_embd] fused projection output
    let q: UnsafeMutablePointer<Float>       // [batch, n_embd]
    let attn: UnsafeMutablePointer<Float>    // [batch, n_embd]
    let ff: UnsafeMutablePointer<Float>      // [batch, n_ff]
    let emb: UnsafeMutablePointer<Float>     // [batch, embed_dim] (OPT projections)
    let ropeCos: UnsafeMutablePointer<Float> // [batch, rope_dims/2] (at least 1 float)
    let ropeSin: UnsafeMutablePointer<Float> // [batch, rope_dims/2]
    let scores: UnsafeMutablePointer<Float>  // [threads, max_context]
    let scratch: KernelScratch
    private let all: [UnsafeMutablePointer<Float>]

    init(config c: GPTConfig, maxContext: Int, batch: Int, threads: Int, kvFormat: KVFormat) throws {
        guard maxContext > 0, batch > 0, threads > 0 else {
            throw MIIError.argument("context \(maxContext), batch \(batch) and threads \(threads) must be positive")
        }
        config = c
        self.maxContext = maxContext
        self.batch = batch
        self.threads = threads
        var allocated: [UnsafeMutablePointer<Float>] = []
        func alloc(_ count: Int, _ what: String) throws -> UnsafeMutablePointer<Float> {
            guard count > 0, count < Int.max / 8, let p = calloc(count, MemoryLayout<Float>.stride) else {
                for p in allocated { free(p) }
                throw MIIError(.outOfMemory, "cannot allocate \(what) (\(count) floats)")
            }
            let f = p.assumingMemoryBound(to: Float.self)
            allocated.append(f)
            return f
        }
        kv = try KVCache(layers: c.nLayer, maxContext: maxContext, width: c.nEmbd, batch: batch, format: kvFormat)
        x = try alloc(batch * c.nEmbd, "activations")
        xn = try alloc(batch * c.nEmbd, "activations")
        ao = try alloc(batch * c.nEmbd, "activations")
        mo = try alloc(batch * c.nEmbd, "activations")
        qkv = try alloc(batch * 3 * c.nEmbd, "activations")
        q = try alloc(batch * c.nEmbd, "activations")
        attn = try alloc(batch * c.nEmbd, "activations")
        ff = try alloc(batch * c.nFF, "activations")
        emb = try alloc(batch * c.embedDim, "activations")
        ropeCos = try alloc(max(1, batch * c.ropeDims / 2), "rope table")
        ropeSin = try alloc(max(1, batch * c.ropeDims / 2), "rope table")
        scores = try alloc(threads * maxContext, "attention scores")
        all = allocated
        scratch = KernelScratch(threads: threads,
                                floatsPerThread: gemmTileRows * max(c.nEmbd, c.nFF, c.embedDim))
    }

    deinit { for p in all { free(p) } }
}

extension GPTDecoder: LanguageModelNetwork {
    public var architecture: String { config.architecture }
    public var vocabSize: Int { config.nVocab }
    public var contextLength: Int { min(config.contextLength, positionLimit) }
    public var weightMatrices: [WeightMatrix] { matrices }
    /// 8-bit activations in fast mode: attention and up projections (ffn_down, the output head and
    /// OPT's projection out keep near-float ones; embeddings are lookups).
    public var fastModeMatrices: [WeightMatrix] {
        var all: [WeightMatrix] = []
        if let p = projIn { all.append(p) }
        for l in layers {
            all += [l.wqkv, l.wq, l.wk, l.wv].compactMap { $0 }
            all += [l.wo, l.wUp]
        }
        return all
    }
    /// Keys and values, every layer: [n_layer, 2, n_embd], in `format`.
    public func kvCacheBytesPerToken(format: KVFormat) -> Int { 2 * config.nLayer * config.nEmbd * format.bytes }
    public var shapeSummary: [(String, String)] {
        let c = config
        let pos: String
        switch c.positions {
        case .learned(let o): pos = "learned (offset \(o))"
        case .rotary(let d, let b, let il): pos = "rope dims \(d), base \(b), \(il ? "interleaved" : "rotate-half")"
        case .alibi: pos = "alibi"
        }
        return [
            ("layers", "\(c.nLayer)"), ("embedding", "\(c.nEmbd)"), ("ffn", "\(c.nFF)"),
            ("heads", "\(c.nHead) (head_dim \(c.headDim))"), ("vocab", "\(c.nVocab)"),
            ("context", "\(contextLength)"), ("positions", pos), ("activation", c.activation.rawValue),
            ("residual", c.parallelResidual ? "parallel" : (c.preNorm ? "pre-norm" : "post-norm")),
            ("norm_eps", "\(c.normEps)"), ("tied_embeddings", "\(c.tiedEmbeddings)"),
        ]
    }

    public func makeState(maxContext: Int, batch: Int, threads: Int, kvFormat: KVFormat) throws -> AnyObject {
        try GPTState(config: config, maxContext: maxContext, batch: batch, threads: threads, kvFormat: kvFormat)
    }

    public func forward(_ tokens: UnsafeBufferPointer<Int32>, startPos: Int, state: AnyObject, pool: ThreadPool,
                        mode: PrecisionMode, allLogits: Bool, logits: UnsafeMutablePointer<Float>,
                        shouldCancel: () -> Bool) throws {
        guard let s = state as? GPTState, s.config.nEmbd == config.nEmbd, s.config.nLayer == config.nLayer else {
            throw MIIError.argument("state does not belong to this model")
        }
        if startPos < 0 || startPos + tokens.count > s.maxContext {
            throw MIIError(.contextFull, "\(startPos + tokens.count) tokens exceed the context of \(s.maxContext)")
        }
        try forward(tokens, startPos: startPos, state: s, pool: pool, mode: mode, allLogits: allLogits,
                    logits: logits, shouldCancel: shouldCancel)
    }
}

// MARK: - tensors copied into another layout

/// Tensors a loader rewrote into the engine's layout (GPT-2's transposed Conv1D weights), in memory
/// owned here, presented under engine names in front of the checkpoint's own tensors.
final class OwnedTensors: TensorSource, @unchecked Sendable {
    private let base: TensorSource
    private var entries: [String: (type: GGMLType, dims: [Int64], data: UnsafeRawPointer)] = [:]
    private var origins: [String: String] = [:]
    private var buffers: [UnsafeMutableRawPointer] = []

    init(base: TensorSource) { self.base = base }

    deinit { for b in buffers { free(b) } }

    func lookup(_ name: String) -> (type: GGMLType, dims: [Int64], data: UnsafeRawPointer)? {
        entries[name] ?? base.lookup(name)
    }

    func displayName(_ name: String) -> String {
        if let o = origins[name] { return "\(o) (transposed)" }
        return base.displayName(name)
    }

    /// Stores the transpose of `source` (a 2-D tensor of an element type: F32, F16, BF16) under `name`:
    /// checkpoint [rows, cols] row-major becomes [cols, rows]. When the base quantizes float weights
    /// at load, the float tensor is transposed first and the transpose quantized (the float copy is
    /// freed): quantized blocks run along a row, so they cannot be transposed.
    func addTransposed(_ name: String, from source: String) throws {
        let quantizer = base as? QuantizingTensors
        guard let t = (quantizer?.base ?? base).lookup(source) else { throw MIIError.format("missing tensor '\(source)'") }
        guard t.dims.count == 2 else { throw MIIError.format("tensor '\(source)' has shape \(t.dims), expected 2 dimensions") }
        guard t.type.blockElements == 1, t.type.isComputable else {
            throw MIIError.unsupported("tensor '\(source)' has type \(t.type.name); transposing needs F32, F16 or BF16")
        }
        let inner = Int(t.dims[0]), outer = Int(t.dims[1])
        let es = Int(t.type.blockBytes)
        let (count, o) = inner.multipliedReportingOverflow(by: outer)
        guard !o, count > 0, count < Int.max / 8, let buf = malloc(count * es) else {
            throw MIIError(.outOfMemory, "cannot allocate a copy of '\(source)'")
        }
        // The checkpoint's data need not be aligned to the element size: read unaligned.
        if es == 4 {
            transpose(t.data, buf.assumingMemoryBound(to: UInt32.self), outer, inner)
        } else {
            transpose(t.data, buf.assumingMemoryBound(to: UInt16.self), outer, inner)
        }
        let transposed = (type: t.type, dims: [Int64(outer), Int64(inner)], data: UnsafeRawPointer(buf))
        origins[name] = source
        if let q = quantizer?.quantizedCopy(name, transposed) {
            free(buf)
            entries[name] = q
        } else {
            buffers.append(buf)
            entries[name] = transposed
        }
    }
}

/// dst[c][r] = src[r][c] for src [rows, cols] of T-sized elements, in 32x32 tiles.
private func transpose<T: FixedWidthInteger>(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<T>, _ rows: Int, _ cols: Int) {
    let es = MemoryLayout<T>.size
    let tile = 32
    for r0 in stride(from: 0, to: rows, by: tile) {
        let r1 = min(rows, r0 + tile)
        for c0 in stride(from: 0, to: cols, by: tile) {
            let c1 = min(cols, c0 + tile)
            for r in r0..<r1 {
                for c in c0..<c1 { dst[c * rows + r] = src.loadUnaligned(fromByteOffset: (r * cols + c) * es, as: T.self) }
            }
        }
    }
}

/// The checkpoint-name prefix a folder uses (`transformer.`, `model.decoder.`, or none in older
/// files), found by probing for a tensor every checkpoint of the architecture has.
func checkpointPrefix(_ w: TensorSource, probe: String, candidates: [String]) throws -> String {
    for p in candidates where w.lookup(p + probe) != nil { return p }
    throw MIIError.format("missing tensor '\(candidates.first ?? "")\(probe)'")
}
