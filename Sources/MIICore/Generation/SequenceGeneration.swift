/// The per-token logic of one generated sequence: sampling, end-of-generation, streaming text with
/// stop strings held back, and the finish reason. Used by `Session.generate` (one sequence) and
/// `BatchDecoder.generate` (many sequences decoded together), so both behave identically.
struct SequenceGeneration {
    let model: Model
    let params: GenerationParams
    let onText: ((String) -> Bool)?
    var sampler: Sampler
    var detok: StreamingDetokenizer?
    var matcher: StopMatcher
    private(set) var generated: [Int32] = []
    private(set) var text = ""
    var finish = FinishReason.length
    private var stopHit = false

    init(model: Model, params: GenerationParams, onText: ((String) -> Bool)? = nil) throws {
        // A model without a tokenizer generates ids only: no text, so no stop strings.
        if model.tokenizer == nil && !params.stop.isEmpty {
            throw MIIError.unsupported("stop strings need a tokenizer; this model was loaded without one")
        }
        self.model = model
        self.params = params
        self.onText = onText
        sampler = Sampler(params: params.sampling)
        detok = model.tokenizer.map { StreamingDetokenizer(tokenizer: $0) }
        matcher = StopMatcher(stops: params.stop)
    }

    private mutating func emit(_ s: String) -> Bool {
        if s.isEmpty { return true }
        text += s
        return onText?(s) ?? true
    }

    /// Takes the logits of the next position ([n_vocab]; modified by sampling) and the tokens in the
    /// cache. Returns the token to evaluate next, or nil when the sequence is finished (`finish` says
    /// why). `roomLeft`: the cache can take one more token.
    mutating func next(logits: inout [Float], history: ArraySlice<Int32>, roomLeft: Bool) throws -> Int32? {
        if generated.count >= params.maxNewTokens { return nil }
        if logits.contains(where: { !$0.isFinite }) {
            throw MIIError(.invalidFormat, "the model produced non-finite logits (NaN or infinite weights in the file?)")
        }
        let id = logits.withUnsafeMutableBufferPointer { sampler.sample($0, history: history) }
        if !params.ignoreEOS && model.isEndOfGeneration(id) {
            finish = .stop
            return nil
        }
        generated.append(id)
        let (piece, stopped) = matcher.push(detok?.push(id) ?? "")
        if !emit(piece) { finish = .cancelled; stopHit = stopped; return nil }
        if stopped { finish = .stop; stopHit = true; return nil }
        if generated.count == params.maxNewTokens { return nil }
        if !roomLeft { finish = .contextFull; return nil }
        return id
    }

    /// Flushes the text held back (incomplete UTF-8, possible stop-string prefixes).
    mutating func end() {
        if !stopHit && finish != .cancelled {
            let (tail, stopped) = matcher.push(detok?.flush() ?? "")
            if stopped { finish = .stop }
            _ = emit(stopped ? tail : tail + matcher.flush())
        }
    }
}
