import COpenBLAS
import MIIKernels

#if canImport(Glibc)
import Glibc
#endif

/// Task heads an encoder checkpoint may carry on top of its hidden states.
public enum EncoderHead: String, Sendable, CaseIterable, Comparable {
    /// Masked-LM logits over the vocabulary for every token (fill-mask).
    case maskedLM = "fill-mask"
    /// One logit per label for the whole sequence (from its first token).
    case sequenceClassification = "text-classification"
    /// One logit per label for every token (NER...).
    case tokenClassification = "token-classification"
    /// Start and end logits for every token (extractive question answering).
    case questionAnswering = "question-answering"

    var rank: Int {
        switch self {
        case .maskedLM: return 0
        case .sequenceClassification: return 1
        case .tokenClassification: return 2
        case .questionAnswering: return 3
        }
    }

    public static func < (a: EncoderHead, b: EncoderHead) -> Bool { a.rank < b.rank }
}

/// One sequence for an encoder: token ids and, for models with token types (BERT pairs), one type
/// id per token (nil: all 0).
public struct EncoderInput: Sendable, Equatable {
    public var tokens: [Int32]
    public var typeIds: [Int32]?
    public init(tokens: [Int32], typeIds: [Int32]? = nil) {
        self.tokens = tokens
        self.typeIds = typeIds
    }
}

/// A bidirectional transformer encoder (BERT, RoBERTa / XLM-RoBERTa, DistilBERT) with the heads its
/// checkpoint holds. Immutable once loaded: any number of threads may call it, each with its own
/// pool (a pool runs one job at a time).
public protocol EncoderNetwork: AnyObject, Sendable {
    /// `model_type` of the checkpoint ("bert", "roberta", "xlm-roberta", "distilbert").
    var architecture: String { get }
    var vocabSize: Int { get }
    var hiddenSize: Int { get }
    /// The longest sequence the position table allows (RoBERTa: max_position_embeddings - padding_idx - 1).
    var maxPositions: Int { get }
    /// Number of token types (0: the model has no token type embedding, e.g. DistilBERT).
    var typeVocabSize: Int { get }
    /// Label names of the classification heads, by id (config.json `id2label`); empty without one.
    var labels: [String] { get }
    /// The heads present in the checkpoint.
    var heads: Set<EncoderHead> { get }
    /// How sequence classification logits become scores (config.json `problem_type`, label count).
    var classificationScores: ScoreFunction { get }
    /// Short description of shapes for `mii info`.
    var shapeSummary: [(String, String)] { get }
    var weightMatrices: [WeightMatrix] { get }

    /// Last hidden states of each sequence, `[n_tokens, hidden]` row-major, computed independently
    /// (no padding: sequences of different lengths are packed into the same matrix products).
    func hiddenStates(batch: [EncoderInput], pool: ThreadPool, mode: PrecisionMode,
                      shouldCancel: () -> Bool) throws -> [[Float]]
    /// Masked-LM logits `[rows, vocab]` for `hidden` (`[rows, hidden]`: all or some rows of a sequence's
    /// hidden states, e.g. only the mask positions).
    func maskedLMLogits(hidden: [Float], pool: ThreadPool, mode: PrecisionMode) throws -> [Float]
    /// Sequence classification logits `[labels]` from one sequence's hidden states `[n, hidden]`.
    func sequenceClassificationLogits(hidden: [Float], pool: ThreadPool, mode: PrecisionMode) throws -> [Float]
    /// Token classification logits `[n, labels]`.
    func tokenClassificationLogits(hidden: [Float], pool: ThreadPool, mode: PrecisionMode) throws -> [Float]
    /// Extractive QA logits: start `[n]` and end `[n]`.
    func questionAnsweringLogits(hidden: [Float], pool: ThreadPool, mode: PrecisionMode) throws -> (start: [Float], end: [Float])
}

extension EncoderNetwork {
    /// Hidden states `[n_tokens, hidden]` of one sequence.
    public func hiddenStates(tokens: [Int32], typeIds: [Int32]? = nil, pool: ThreadPool,
                             mode: PrecisionMode = .precise) throws -> [Float] {
        let r = try hiddenStates(batch: [EncoderInput(tokens: tokens, typeIds: typeIds)], pool: pool, mode: mode,
                                 shouldCancel: { false })
        return r.first ?? []
    }
}

// MARK: - configuration

/// Activation functions of encoder feed-forward blocks and heads (transformers `ACT2FN` names).
public enum EncoderActivation: String, Sendable {
    case gelu          // exact, with erf
    case geluTanh      // tanh approximation (gelu_new, gelu_pytorch_tanh, gelu_fast, gelu_accurate)
    case relu
    case silu
    case quickGelu
    case tanh

    public static func parse(_ name: String, context: String) throws -> EncoderActivation {
        switch name {
        case "gelu", "gelu_python": return .gelu
        case "gelu_new", "gelu_pytorch_tanh", "gelu_fast", "gelu_accurate", "gelu_python_tanh": return .geluTanh
        case "relu": return .relu
        case "silu", "swish": return .silu
        case "quick_gelu": return .quickGelu
        case "tanh": return .tanh
        default:
            throw MIIError.unsupported("\(context): activation '\(name)' is not supported (gelu, gelu_new, gelu_pytorch_tanh, gelu_fast, relu, silu, quick_gelu, tanh)")
        }
    }

    @inline(__always)
    func apply(_ x: Float) -> Float {
        switch self {
        case .gelu: return 0.5 * x * (1 + erff(x * 0.70710678118654752))
        case .geluTanh:
            return 0.5 * x * (1 + tanhf(0.79788456080286536 * (x + 0.044715 * x * x * x)))
        case .relu: return x > 0 ? x : 0
        case .silu: return x / (1 + expf(-x))
        case .quickGelu: return x / (1 + expf(-1.702 * x))
        case .tanh: return tanhf(x)
        }
    }
}

/// How position ids are assigned to a sequence's tokens.
public enum EncoderPositions: Sendable, Equatable {
    /// 0, 1, 2, ... (BERT, DistilBERT).
    case fromZero
    /// RoBERTa: tokens equal to the padding id get `paddingIdx`; the others count up from paddingIdx + 1.
    case afterPadding(paddingIdx: Int)
}

/// Shapes and options of a post-LayerNorm transformer encoder.
public struct EncoderConfig: Sendable {
    public var architecture: String
    public var nVocab: Int
    public var nEmbd: Int
    public var nLayer: Int
    public var nHead: Int
    public var nFF: Int
    /// Rows of the position embedding table.
    public var positionTable: Int
    /// Rows of the token type table (0: none).
    public var typeVocab: Int
    public var normEps: Float
    public var activation: EncoderActivation
    public var positions: EncoderPositions

    public var headDim: Int { nEmbd / nHead }

    /// The longest sequence the position table allows.
    public var maxPositions: Int {
        switch positions {
        case .fromZero: return positionTable
        case .afterPadding(let p): return max(0, positionTable - p - 1)
        }
    }

    public func validate() throws {
        func positive(_ v: Int, _ name: String, max: Int) throws {
            guard v >= 1 && v <= max else {
                throw MIIError.format("\(architecture): \(name) = \(v) is out of range (1...\(max))")
            }
        }
        try positive(nLayer, "number of layers", max: Limits.maxLayers)
        try positive(nEmbd, "hidden size", max: Limits.maxWidth)
        try positive(nFF, "intermediate size", max: Limits.maxWidth)
        try positive(nHead, "attention heads", max: Limits.maxHeads)
        try positive(nVocab, "vocabulary size", max: Limits.maxVocab)
        try positive(positionTable, "max_position_embeddings", max: Limits.maxContext)
        guard typeVocab >= 0 && typeVocab <= Limits.maxVocab else {
            throw MIIError.format("\(architecture): type_vocab_size = \(typeVocab) is out of range")
        }
        guard nEmbd % nHead == 0 else {
            throw MIIError.format("\(architecture): hidden size \(nEmbd) is not a multiple of the \(nHead) attention heads")
        }
        guard normEps.isFinite && normEps > 0 && normEps < 1 else {
            throw MIIError.format("\(architecture): layer_norm_eps \(normEps) is out of range")
        }
        if case .afterPadding(let p) = positions {
            guard p >= 0 && p < positionTable - 1 else {
                throw MIIError.format("\(architecture): pad_token_id \(p) leaves no positions in a table of \(positionTable)")
            }
        }
    }
}

// MARK: - layers

/// y = x W^T + b.
struct DenseLayer {
    let w: WeightMatrix     // [out, in]
    let b: [Float]?         // [out]

    static func load(_ t: TensorSource, _ prefix: String, rows: Int, cols: Int, bias: Bool = true) throws -> DenseLayer {
        let w = try t.matrix(prefix + ".weight", rows: rows, cols: cols)
        let b = bias ? try t.vector(prefix + ".bias", count: rows) : try t.optionalVector(prefix + ".bias", count: rows)
        return DenseLayer(w: w, b: b)
    }

    /// y [n, out] = x [n, in] W^T + b
    func apply(_ x: UnsafePointer<Float>, _ n: Int, _ y: UnsafeMutablePointer<Float>, pool: ThreadPool,
               mode: PrecisionMode, scratch: KernelScratch) {
        linear(w, x, n, y, pool: pool, mode: mode, scratch: scratch)
        if let b { addRowBias(y, b, rows: n) }
    }
}

/// LayerNorm with weight and bias.
struct NormLayer {
    let w: [Float]   // [n]
    let b: [Float]   // [n]
    let eps: Float

    static func load(_ t: TensorSource, _ prefix: String, count: Int, eps: Float) throws -> NormLayer {
        // Old conversions name LayerNorm parameters gamma / beta.
        let g = t.lookup(prefix + ".weight") == nil && t.lookup(prefix + ".gamma") != nil
        return NormLayer(w: try t.vector(prefix + (g ? ".gamma" : ".weight"), count: count),
                         b: try t.vector(prefix + (g ? ".beta" : ".bias"), count: count), eps: eps)
    }

    /// out = (x - mean) / sqrt(var + eps) * w + b over one row of `w.count` values (out may be x).
    @inline(__always)
    func apply(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>) {
        let n = w.count
        var sum: Float = 0
        for i in 0..<n { sum += x[i] }
        let mean = sum / Float(n)
        var ss: Float = 0
        for i in 0..<n { let d = x[i] - mean; ss += d * d }
        let inv = 1 / (ss / Float(n) + eps).squareRoot()
        w.withUnsafeBufferPointer { wp in
            b.withUnsafeBufferPointer { bp in
                for i in 0..<n { out[i] = (x[i] - mean) * inv * wp[i] + bp[i] }
            }
        }
    }
}

@inline(__always)
func addRowBias(_ y: UnsafeMutablePointer<Float>, _ b: [Float], rows: Int) {
    let d = b.count
    b.withUnsafeBufferPointer { bp in
        for t in 0..<rows {
            let row = y + t * d
            for i in 0..<d { row[i] += bp[i] }
        }
    }
}

/// One post-LayerNorm block: x = LN(x + Attn(x)); x = LN(x + FFN(x)).
struct EncoderLayer {
    let q: DenseLayer, k: DenseLayer, v: DenseLayer, o: DenseLayer   // [d, d]
    let attnNorm: NormLayer
    let up: DenseLayer      // [ff, d]
    let down: DenseLayer    // [d, ff]
    let outNorm: NormLayer
}

// MARK: - heads

/// Masked-LM head: dense + activation + LayerNorm, then the vocabulary projection (often the word
/// embedding) with its bias.
struct MaskedLMHead {
    let transform: DenseLayer   // [d, d]
    let activation: EncoderActivation
    let norm: NormLayer
    let decoder: WeightMatrix   // [vocab, d]
    let bias: [Float]           // [vocab]
}

/// Sequence classification from the first token: optional dense + activation (BERT's pooler with
/// tanh, RoBERTa's classification head with tanh, DistilBERT's pre_classifier with ReLU), then the
/// output projection.
struct SequenceClassificationHead {
    let pre: DenseLayer?         // [d, d]
    let preActivation: EncoderActivation
    let out: DenseLayer          // [labels, d]
}

// MARK: - the network

/// The shared encoder core plus the heads found in the checkpoint; built by the architecture files
/// (BERT.swift, RoBERTa.swift, DistilBERT.swift). Engine tensor names (llama.cpp's BERT names):
/// `token_embd.weight`, `position_embd.weight`, `token_types.weight`, `token_embd_norm.{weight,bias}`,
/// `blk.N.attn_{q,k,v,output}.{weight,bias}`, `blk.N.attn_output_norm.{weight,bias}`,
/// `blk.N.ffn_{up,down}.{weight,bias}`, `blk.N.layer_output_norm.{weight,bias}`.
public final class TransformerEncoder: @unchecked Sendable {
    public let config: EncoderConfig
    public let labels: [String]
    /// config.json `problem_type` (regression, single_label_classification, multi_label_classification).
    public let problemType: String?
    let tokenEmbedding: WeightMatrix      // [n_vocab, d]
    let positionEmbedding: WeightMatrix   // [position_table, d]
    let typeEmbedding: WeightMatrix?      // [type_vocab, d]
    let embeddingNorm: NormLayer
    let layers: [EncoderLayer]
    let mlm: MaskedLMHead?
    let sequenceHead: SequenceClassificationHead?
    let tokenHead: DenseLayer?            // [labels, d]
    let qaHead: DenseLayer?               // [2, d]
    /// Keeps the file mappings the weight matrices point into alive as long as the network.
    private let storage: TensorSource

    /// Tokens of sequences packed into one set of matrix products.
    static let packTokens = 2048

    init(config c: EncoderConfig, tensors t: TensorSource, labels: [String], problemType: String?, mlm: MaskedLMHead?,
         sequenceHead: SequenceClassificationHead?, tokenHead: DenseLayer?, qaHead: DenseLayer?) throws {
        try c.validate()
        config = c
        storage = t
        self.labels = labels
        self.problemType = problemType
        self.mlm = mlm
        self.sequenceHead = sequenceHead
        self.tokenHead = tokenHead
        self.qaHead = qaHead
        let d = c.nEmbd
        tokenEmbedding = try t.matrix("token_embd.weight", rows: c.nVocab, cols: d)
        positionEmbedding = try t.matrix("position_embd.weight", rows: c.positionTable, cols: d)
        typeEmbedding = c.typeVocab > 0 ? try t.matrix("token_types.weight", rows: c.typeVocab, cols: d) : nil
        embeddingNorm = try NormLayer.load(t, "token_embd_norm", count: d, eps: c.normEps)
        var layers: [EncoderLayer] = []
        for i in 0..<c.nLayer {
            let p = "blk.\(i)."
            layers.append(EncoderLayer(
                q: try DenseLayer.load(t, p + "attn_q", rows: d, cols: d),
                k: try DenseLayer.load(t, p + "attn_k", rows: d, cols: d),
                v: try DenseLayer.load(t, p + "attn_v", rows: d, cols: d),
                o: try DenseLayer.load(t, p + "attn_output", rows: d, cols: d),
                attnNorm: try NormLayer.load(t, p + "attn_output_norm", count: d, eps: c.normEps),
                up: try DenseLayer.load(t, p + "ffn_up", rows: c.nFF, cols: d),
                down: try DenseLayer.load(t, p + "ffn_down", rows: d, cols: c.nFF),
                outNorm: try NormLayer.load(t, p + "layer_output_norm", count: d, eps: c.normEps)))
        }
        self.layers = layers
        if let s = sequenceHead, s.out.w.rows != labels.count {
            throw MIIError.format("\(c.architecture): the classifier has \(s.out.w.rows) outputs but config.json names \(labels.count) labels")
        }
        if let h = tokenHead, h.w.rows != labels.count {
            throw MIIError.format("\(c.architecture): the token classifier has \(h.w.rows) outputs but config.json names \(labels.count) labels")
        }
    }

    public var matrices: [WeightMatrix] {
        var all = [tokenEmbedding, positionEmbedding]
        if let typeEmbedding { all.append(typeEmbedding) }
        for l in layers { all += [l.q.w, l.k.w, l.v.w, l.o.w, l.up.w, l.down.w] }
        if let m = mlm {
            all.append(m.transform.w)
            if m.decoder.data != tokenEmbedding.data { all.append(m.decoder) }
        }
        if let s = sequenceHead { all += (s.pre.map { [$0.w] } ?? []) + [s.out.w] }
        if let h = tokenHead { all.append(h.w) }
        if let h = qaHead { all.append(h.w) }
        return all
    }

    // MARK: forward

    /// Checks a sequence and returns its position ids.
    private func positionIds(_ input: EncoderInput, index: Int) throws -> [Int] {
        let c = config
        let n = input.tokens.count
        guard n > 0 else { throw MIIError.argument("sequence \(index) is empty") }
        guard n <= c.maxPositions else {
            throw MIIError(.contextFull, "sequence \(index) has \(n) tokens, more than the \(c.maxPositions) positions of this \(c.architecture) model")
        }
        for (i, id) in input.tokens.enumerated() where id < 0 || Int(id) >= c.nVocab {
            throw MIIError(.invalidToken, "sequence \(index): token id \(id) at \(i) is outside the vocabulary (0..<\(c.nVocab))")
        }
        if let types = input.typeIds {
            guard types.count == n else {
                throw MIIError.argument("sequence \(index): \(types.count) token type ids for \(n) tokens")
            }
            for (i, ty) in types.enumerated() where ty != 0 && (ty < 0 || Int(ty) >= c.typeVocab) {
                throw MIIError.argument(c.typeVocab == 0
                    ? "sequence \(index): token type \(ty) at \(i), but \(c.architecture) has no token types"
                    : "sequence \(index): token type \(ty) at \(i) is outside 0..<\(c.typeVocab)")
            }
        }
        switch c.positions {
        case .fromZero:
            return Array(0..<n)
        case .afterPadding(let pad):
            var count = 0
            return input.tokens.map { id in
                if Int(id) == pad { return pad }
                count += 1
                return pad + count
            }
        }
    }

    public func hiddenStates(batch: [EncoderInput], pool: ThreadPool, mode: PrecisionMode,
                      shouldCancel: () -> Bool) throws -> [[Float]] {
        var positions: [[Int]] = []
        positions.reserveCapacity(batch.count)
        for (i, s) in batch.enumerated() { positions.append(try positionIds(s, index: i)) }
        var out: [[Float]] = []
        out.reserveCapacity(batch.count)
        var start = 0
        while start < batch.count {
            // Pack whole sequences up to packTokens (at least one).
            var end = start
            var total = 0
            while end < batch.count && (end == start || total + batch[end].tokens.count <= Self.packTokens) {
                total += batch[end].tokens.count
                end += 1
            }
            out += try forwardPack(Array(batch[start..<end]), positions: Array(positions[start..<end]),
                                   pool: pool, mode: mode, shouldCancel: shouldCancel)
            start = end
        }
        return out
    }

    /// Several checked sequences through the encoder as one [T, d] matrix; attention stays within
    /// each sequence.
    private func forwardPack(_ seqs: [EncoderInput], positions: [[Int]], pool: ThreadPool, mode: PrecisionMode,
                             shouldCancel: () -> Bool) throws -> [[Float]] {
        let c = config
        let d = c.nEmbd
        var offsets: [Int] = []
        var total = 0
        var longest = 0
        for s in seqs {
            offsets.append(total)
            total += s.tokens.count
            longest = max(longest, s.tokens.count)
        }
        let ws = try EncoderWorkspace(tokens: total, config: c, longest: longest, threads: pool.threads)
        let x = ws.x, tmp = ws.tmp

        // Embeddings: x[t] = LN(word + position + type)
        for (si, s) in seqs.enumerated() {
            let pos = positions[si]
            for (i, id) in s.tokens.enumerated() {
                let row = x + (offsets[si] + i) * d
                tokenEmbedding.dequantizeRow(Int(id), into: row)
                positionEmbedding.dequantizeRow(pos[i], into: tmp)
                add(row, tmp, d)
                if let te = typeEmbedding {
                    te.dequantizeRow(Int(s.typeIds?[i] ?? 0), into: tmp)
                    add(row, tmp, d)
                }
                embeddingNorm.apply(row, row)
            }
        }

        let scale = 1 / Float(c.headDim).squareRoot()
        for L in layers {
            if shouldCancel() { throw MIIError(.cancelled, "cancelled") }
            L.q.apply(x, total, ws.q, pool: pool, mode: mode, scratch: ws.scratch)
            L.k.apply(x, total, ws.k, pool: pool, mode: mode, scratch: ws.scratch)
            L.v.apply(x, total, ws.v, pool: pool, mode: mode, scratch: ws.scratch)
            attention(seqs: seqs, offsets: offsets, ws: ws, scale: scale, pool: pool)
            L.o.apply(ws.ctx, total, tmp, pool: pool, mode: mode, scratch: ws.scratch)
            residualNorm(x, tmp, L.attnNorm, rows: total, pool: pool)
            if shouldCancel() { throw MIIError(.cancelled, "cancelled") }
            L.up.apply(x, total, ws.h, pool: pool, mode: mode, scratch: ws.scratch)
            activate(ws.h, count: total * c.nFF, c.activation, pool: pool)
            L.down.apply(ws.h, total, tmp, pool: pool, mode: mode, scratch: ws.scratch)
            residualNorm(x, tmp, L.outNorm, rows: total, pool: pool)
        }
        return seqs.indices.map { si in
            let n = seqs[si].tokens.count
            return Array(UnsafeBufferPointer(start: x + offsets[si] * d, count: n * d))
        }
    }

    /// x[t] = LN(x[t] + y[t]) for every row, rows split between threads.
    private func residualNorm(_ x: UnsafeMutablePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ norm: NormLayer,
                              rows: Int, pool: ThreadPool) {
        let d = config.nEmbd
        pool.run { ith, nth in
            for t in ThreadPool.chunk(rows, ith, nth) {
                let r = x + t * d
                add(r, y + t * d, d)
                norm.apply(r, r)
            }
        }
    }

    private func activate(_ h: UnsafeMutablePointer<Float>, count: Int, _ act: EncoderActivation, pool: ThreadPool) {
        pool.run { ith, nth in
            for i in ThreadPool.chunk(count, ith, nth, align: 64) { h[i] = act.apply(h[i]) }
        }
    }

    /// Bidirectional multi-head attention within each sequence: ctx [T, d] from q, k, v [T, d].
    /// Work items are (sequence, head) pairs; each is two sgemm calls on strided head slices.
    private func attention(seqs: [EncoderInput], offsets: [Int], ws: EncoderWorkspace, scale: Float, pool: ThreadPool) {
        _ = configureOpenBLASOnce
        let c = config
        let d = c.nEmbd
        let hd = c.headDim
        let items = seqs.count * c.nHead
        pool.run { ith, nth in
            let scores = ws.scores + ith * ws.scoresPerThread    // [n, n]
            var item = ith
            while item < items {
                defer { item += nth }
                let si = item / c.nHead
                let h = item % c.nHead
                let n = seqs[si].tokens.count
                let base = offsets[si] * d + h * hd
                let q = ws.q + base, k = ws.k + base, v = ws.v + base
                // scores[i, j] = scale * q_i . k_j
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(n), Int32(n), Int32(hd),
                            scale, q, Int32(d), k, Int32(d), 0, scores, Int32(n))
                for i in 0..<n {
                    let row = scores + i * n
                    var mx = -Float.infinity
                    for j in 0..<n where row[j] > mx { mx = row[j] }
                    let inv = 1 / miik_exp_shifted(row, Int64(n), mx)
                    for j in 0..<n { row[j] *= inv }
                }
                // ctx_i (head h) = sum_j p[i, j] v_j
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(hd), Int32(n),
                            1, scores, Int32(n), v, Int32(d), 0, ws.ctx + base, Int32(d))
            }
        }
    }

    // MARK: heads

    /// Rows of `hidden` ([rows, d]) after checking its size.
    private func rows(of hidden: [Float]) throws -> Int {
        let d = config.nEmbd
        guard !hidden.isEmpty, hidden.count % d == 0 else {
            throw MIIError.argument("hidden states hold \(hidden.count) values, not a positive multiple of the hidden size \(d)")
        }
        return hidden.count / d
    }

    private func missing(_ h: EncoderHead) -> MIIError {
        MIIError.unsupported("this \(config.architecture) checkpoint has no \(h.rawValue) head")
    }

    public func maskedLMLogits(hidden: [Float], pool: ThreadPool, mode: PrecisionMode) throws -> [Float] {
        guard let m = mlm else { throw missing(.maskedLM) }
        let n = try rows(of: hidden)
        let d = config.nEmbd
        let scratch = KernelScratch(threads: pool.threads, floatsPerThread: gemmTileRows * d)
        var t = [Float](repeating: 0, count: n * d)          // [n, d]
        var out = [Float](repeating: 0, count: n * m.decoder.rows)   // [n, vocab]
        hidden.withUnsafeBufferPointer { hp in
            t.withUnsafeMutableBufferPointer { tp in
                let tb = tp.baseAddress!
                m.transform.apply(hp.baseAddress!, n, tb, pool: pool, mode: mode, scratch: scratch)
                for i in 0..<(n * d) { tb[i] = m.activation.apply(tb[i]) }
                for r in 0..<n { m.norm.apply(tb + r * d, tb + r * d) }
                out.withUnsafeMutableBufferPointer { op in
                    linear(m.decoder, tb, n, op.baseAddress!, pool: pool, mode: mode, scratch: scratch)
                }
            }
        }
        out.withUnsafeMutableBufferPointer { addRowBias($0.baseAddress!, m.bias, rows: n) }
        return out
    }

    public func sequenceClassificationLogits(hidden: [Float], pool: ThreadPool, mode: PrecisionMode) throws -> [Float] {
        guard let s = sequenceHead else { throw missing(.sequenceClassification) }
        _ = try rows(of: hidden)
        let d = config.nEmbd
        let scratch = KernelScratch(threads: pool.threads, floatsPerThread: gemmTileRows * d)
        var x = Array(hidden[0..<d])     // [d]: the first token
        if let pre = s.pre {
            var y = [Float](repeating: 0, count: d)
            x.withUnsafeBufferPointer { xp in
                y.withUnsafeMutableBufferPointer { yp in
                    pre.apply(xp.baseAddress!, 1, yp.baseAddress!, pool: pool, mode: mode, scratch: scratch)
                }
            }
            x = y.map { s.preActivation.apply($0) }
        }
        var out = [Float](repeating: 0, count: s.out.w.rows)   // [labels]
        x.withUnsafeBufferPointer { xp in
            out.withUnsafeMutableBufferPointer { op in
                s.out.apply(xp.baseAddress!, 1, op.baseAddress!, pool: pool, mode: mode, scratch: scratch)
            }
        }
        return out
    }

    public func tokenClassificationLogits(hidden: [Float], pool: ThreadPool, mode: PrecisionMode) throws -> [Float] {
        guard let h = tokenHead else { throw missing(.tokenClassification) }
        return try project(h, hidden, pool: pool, mode: mode)
    }

    public func questionAnsweringLogits(hidden: [Float], pool: ThreadPool, mode: PrecisionMode) throws -> (start: [Float], end: [Float]) {
        guard let h = qaHead else { throw missing(.questionAnswering) }
        let y = try project(h, hidden, pool: pool, mode: mode)    // [n, 2]
        let n = y.count / 2
        return ((0..<n).map { y[2 * $0] }, (0..<n).map { y[2 * $0 + 1] })
    }

    /// [n, out] = hidden [n, d] W^T + b
    private func project(_ layer: DenseLayer, _ hidden: [Float], pool: ThreadPool, mode: PrecisionMode) throws -> [Float] {
        let n = try rows(of: hidden)
        let scratch = KernelScratch(threads: pool.threads, floatsPerThread: gemmTileRows * config.nEmbd)
        var out = [Float](repeating: 0, count: n * layer.w.rows)
        hidden.withUnsafeBufferPointer { hp in
            out.withUnsafeMutableBufferPointer { op in
                layer.apply(hp.baseAddress!, n, op.baseAddress!, pool: pool, mode: mode, scratch: scratch)
            }
        }
        return out
    }
}

extension TransformerEncoder: EncoderNetwork {
    public var architecture: String { config.architecture }
    public var vocabSize: Int { config.nVocab }
    public var hiddenSize: Int { config.nEmbd }
    public var maxPositions: Int { config.maxPositions }
    public var typeVocabSize: Int { config.typeVocab }
    public var weightMatrices: [WeightMatrix] { matrices }
    public var classificationScores: ScoreFunction {
        ScoreFunction.forClassification(problemType: problemType, labels: labels.count)
    }
    public var heads: Set<EncoderHead> {
        var s = Set<EncoderHead>()
        if mlm != nil { s.insert(.maskedLM) }
        if sequenceHead != nil { s.insert(.sequenceClassification) }
        if tokenHead != nil { s.insert(.tokenClassification) }
        if qaHead != nil { s.insert(.questionAnswering) }
        return s
    }
    public var shapeSummary: [(String, String)] {
        let c = config
        return [
            ("layers", "\(c.nLayer)"), ("hidden", "\(c.nEmbd)"), ("ffn", "\(c.nFF)"),
            ("heads", "\(c.nHead) (head_dim \(c.headDim))"), ("vocab", "\(c.nVocab)"),
            ("positions", "\(c.maxPositions)"), ("token_types", "\(c.typeVocab)"),
            ("activation", c.activation.rawValue), ("norm_eps", "\(c.normEps)"),
            ("task_heads", heads.sorted().map(\.rawValue).joined(separator: ", ")),
        ]
    }
}

/// Activations of one packed forward pass. calloc'd; freed with the workspace.
final class EncoderWorkspace {
    let x: UnsafeMutablePointer<Float>      // [T, d] residual stream / hidden states
    let tmp: UnsafeMutablePointer<Float>    // [T, d] block outputs (and a row of embedding scratch)
    let q: UnsafeMutablePointer<Float>      // [T, d]
    let k: UnsafeMutablePointer<Float>      // [T, d]
    let v: UnsafeMutablePointer<Float>      // [T, d]
    let ctx: UnsafeMutablePointer<Float>    // [T, d] attention output
    let h: UnsafeMutablePointer<Float>      // [T, ff]
    let scores: UnsafeMutablePointer<Float> // [threads, longest, longest]
    let scoresPerThread: Int
    let scratch: KernelScratch

    init(tokens: Int, config c: EncoderConfig, longest: Int, threads: Int) throws {
        func alloc(_ count: Int, _ what: String) throws -> UnsafeMutablePointer<Float> {
            guard count > 0, count < Int.max / 8,
                  let p = calloc(count, MemoryLayout<Float>.stride) else {
                throw MIIError(.outOfMemory, "cannot allocate \(what) (\(count) floats)")
            }
            return p.assumingMemoryBound(to: Float.self)
        }
        let (td, o1) = tokens.multipliedReportingOverflow(by: c.nEmbd)
        let (tf, o2) = tokens.multipliedReportingOverflow(by: c.nFF)
        let (ll, o3) = longest.multipliedReportingOverflow(by: longest)
        let (sc, o4) = ll.multipliedReportingOverflow(by: threads)
        if o1 || o2 || o3 || o4 { throw MIIError.argument("a batch of \(tokens) tokens is too large") }
        x = try alloc(td, "activations")
        tmp = try alloc(td, "activations")
        q = try alloc(td, "activations")
        k = try alloc(td, "activations")
        v = try alloc(td, "activations")
        ctx = try alloc(td, "activations")
        h = try alloc(tf, "activations")
        scores = try alloc(sc, "attention scores")
        scoresPerThread = ll
        scratch = KernelScratch(threads: threads, floatsPerThread: gemmTileRows * max(c.nEmbd, c.nFF))
    }

    deinit {
        for p in [x, tmp, q, k, v, ctx, h, scores] { free(p) }
    }
}

// MARK: - loading helpers shared by the architecture files

enum HFEncoderLoading {
    /// The prefix of the encoder's tensors: the task classes store `bert.embeddings...`, the bare
    /// model (and sentence-transformers checkpoints such as all-MiniLM-L6-v2) `embeddings...`.
    static func prefix(_ f: HFFolder, candidates: [String], probe: String) throws -> String {
        for p in candidates where f.weights.lookup(p + probe) != nil { return p }
        let tried = candidates.map { "'\($0)\(probe)'" }.joined(separator: ", ")
        throw MIIError.format("\(f.modelType): no encoder embeddings found (looked for \(tried))")
    }

    /// The first of several checkpoint names that exists (LayerNorm `weight`/`gamma`...), else the first.
    static func pick(_ base: TensorSource, _ names: String...) -> String {
        for n in names where base.lookup(n) != nil { return n }
        return names[0]
    }

    /// `architectures` of config.json (task class names), or [] when absent.
    static func architectures(_ c: HFConfig) throws -> [String] {
        try c.stringList("architectures")
    }

    /// Label names by id from `id2label` (object of "0": "NAME"), or LABEL_i for `count` labels when
    /// config.json has none. Ids must be exactly 0..<n.
    static func labels(_ c: HFConfig) throws -> [String]? {
        guard let v = c["id2label"] else { return nil }
        guard let obj = v.object else {
            throw MIIError.format("config.json: 'id2label' is \(v.typeName), expected an object")
        }
        var byId: [Int: String] = [:]
        for (k, name) in obj {
            guard let id = Int(k), id >= 0, id < obj.count else {
                throw MIIError.format("config.json: id2label key '\(k)' is not a label id in 0..<\(obj.count)")
            }
            guard let s = name.string else {
                throw MIIError.format("config.json: id2label['\(k)'] is \(name.typeName), expected a string")
            }
            if byId[id] != nil { throw MIIError.format("config.json: id2label repeats id \(id)") }
            byId[id] = s
        }
        return (0..<obj.count).map { byId[$0] ?? "LABEL_\($0)" }
    }

    /// Labels for a classifier with `rows` outputs: config.json's names (which must agree in
    /// number), or LABEL_i.
    static func labels(_ c: HFConfig, rows: Int?) throws -> [String] {
        let named = try labels(c)
        guard let rows else { return named ?? [] }
        if let named {
            guard named.count == rows else {
                throw MIIError.format("config.json: id2label names \(named.count) labels but the classifier has \(rows) outputs")
            }
            return named
        }
        return (0..<rows).map { "LABEL_\($0)" }
    }

    /// Output rows of a stored 2-D `[rows, cols]` tensor, checking its width.
    static func outputRows(_ t: TensorSource, _ name: String, cols: Int) throws -> Int? {
        guard let x = t.lookup(name) else { return nil }
        guard x.dims.count == 2, x.dims[0] == Int64(cols), x.dims[1] >= 1, x.dims[1] <= Int64(Limits.maxVocab) else {
            throw MIIError.format("tensor '\(name)' has shape \(x.dims), expected [\(cols), labels]")
        }
        return Int(x.dims[1])
    }

    static func activation(_ c: HFConfig, key: String, arch: String) throws -> EncoderActivation {
        try EncoderActivation.parse(try c.string(key) ?? "gelu", context: "config.json: '\(key)'")
    }

    /// The masked-LM decoder: the word embedding when tied (tie_word_embeddings, default true), else
    /// the stored matrix; its bias from either of the two names transformers ties together.
    static func mlmDecoder(_ c: HFConfig, _ t: TensorSource, embedding: String, decoder: String,
                           biasNames: [String], vocab: Int, d: Int) throws -> (WeightMatrix, [Float]) {
        let tied = try c.bool("tie_word_embeddings") ?? true
        let w = tied || t.lookup(decoder + ".weight") == nil
            ? try t.matrix(embedding, rows: vocab, cols: d)
            : try t.matrix(decoder + ".weight", rows: vocab, cols: d)
        if !tied && t.lookup(decoder + ".weight") == nil {
            throw MIIError.format("config.json sets tie_word_embeddings = false but '\(decoder).weight' is missing")
        }
        // Tied: transformers makes decoder.bias the head's own bias; untied, the decoder's bias counts.
        let order = tied ? biasNames : biasNames.reversed()
        for n in order {
            if let b = try t.optionalVector(n, count: vocab) { return (w, b) }
        }
        throw MIIError.format("missing tensor '\(biasNames[0])' (masked-LM output bias)")
    }

    /// Rejects encoder options libmii does not implement.
    static func checkCommon(_ c: HFConfig, arch: String) throws {
        if let p = try c.string("position_embedding_type"), p != "absolute" {
            throw MIIError.unsupported("config.json: position_embedding_type '\(p)' is not supported for \(arch) (absolute only)")
        }
        if try c.bool("is_decoder") == true {
            throw MIIError.unsupported("config.json: is_decoder = true (a causal \(arch)) is not supported; libmii runs \(arch) as a bidirectional encoder")
        }
    }
}
