/// Decodes several sequences together: each step feeds one token of every active sequence through
/// the model as one batch, so the weights are read once per step instead of once per sequence.
///
/// Two levels:
/// - `step(_:tokens:)`: one token for each of the given sessions (any sessions of this model; the
///   caller picks which ones take part in each step, so sequences join and leave freely).
/// - `generate(_:params:)`: continuous batching over a queue of prompts: up to `maxSequences`
///   sequences decode together; a finished sequence leaves and the next prompt takes its slot.
///
/// Each sequence keeps its own KV cache (its session's). Used by one thread at a time.
public final class BatchDecoder: @unchecked Sendable {
    public let model: Model
    public let maxSequences: Int
    public let threads: Int
    public var mode: PrecisionMode
    let pool: ThreadPool
    private let network: LanguageModelNetwork
    private var work: AnyObject
    private var workContext: Int

    public init(model: Model, maxSequences: Int = 8, threads: Int = 0, mode: PrecisionMode? = nil) throws {
        guard maxSequences >= 1 && maxSequences <= Limits.maxBatchSequences else {
            throw MIIError.argument("max_sequences must be in 1...\(Limits.maxBatchSequences) (got \(maxSequences))")
        }
        guard threads >= 0 && threads <= 1024 else {
            throw MIIError.argument("threads must be in 0...1024 (got \(threads))")
        }
        self.model = model
        self.network = try model.requireDecoder()
        self.maxSequences = maxSequences
        self.threads = threads > 0 ? threads : model.defaultThreads
        self.mode = mode ?? model.options.mode
        self.pool = try ThreadPool(threads: self.threads)
        self.workContext = 1
        self.work = try network.makeBatchWork(maxRows: maxSequences, maxContext: 1, threads: self.threads)
    }

    /// A session that computes on this decoder's threads (for prompts) and can join its steps.
    public func makeSession(options: SessionOptions = SessionOptions()) throws -> Session {
        try Session(model: model, options: options, pool: pool)
    }

    /// Appends `tokens[i]` to `sessions[i]` for every i, in one pass over the weights, and returns the
    /// logits of every row ([sessions.count, n_vocab], row-major). The sessions must be distinct,
    /// belong to this decoder's model and have room for one more token. On error no session changes.
    public func step(_ sessions: [Session], tokens: [Int32]) throws -> [Float] {
        let n = sessions.count
        guard n >= 1, n <= maxSequences else {
            throw MIIError.argument("a step takes 1...\(maxSequences) sessions (got \(n))")
        }
        guard tokens.count == n else {
            throw MIIError.argument("\(n) sessions but \(tokens.count) tokens")
        }
        var seen = Set<ObjectIdentifier>()
        var longest = 0
        for (i, s) in sessions.enumerated() {
            guard s.model === model else { throw MIIError.argument("session \(i) belongs to another model") }
            guard seen.insert(ObjectIdentifier(s)).inserted else {
                throw MIIError.argument("session \(i) appears twice in one step")
            }
            if s.tokenCount >= s.contextLength {
                throw MIIError(.contextFull, "session \(i) is full (\(s.tokenCount) of \(s.contextLength) tokens)")
            }
            longest = max(longest, s.tokenCount + 1)
        }
        try sessions[0].checkTokens(tokens)
        if longest > workContext {
            // Attention scores need room for the longest sequence; grow to its whole context at once.
            let ctx = sessions.map(\.contextLength).max()!
            work = try network.makeBatchWork(maxRows: maxSequences, maxContext: ctx, threads: threads)
            workContext = ctx
        }
        var out = [Float](repeating: 0, count: n * model.vocabSize)
        try tokens.withUnsafeBufferPointer { tp in
            try out.withUnsafeMutableBufferPointer { o in
                try network.forwardBatch(tp, positions: sessions.map(\.tokenCount), states: sessions.map(\.state),
                                         work: work, pool: pool, mode: mode, logits: o.baseAddress!)
            }
        }
        for (s, t) in zip(sessions, tokens) { s.appendEvaluated(t) }
        return out
    }

    /// Generates a continuation of every prompt, decoding up to `maxSequences` of them together
    /// (continuous batching: prompts wait in a queue and take the slot of a sequence that finished).
    /// Results are in the order of `prompts`; each is what `Session.generate` returns for that prompt
    /// alone with the same parameters (sampling is per sequence, seeded by `params`), up to the
    /// rounding of the batched matrix products (the same tokens in the tests).
    /// `contextLength` sizes each sequence's cache (0: the model's, capped at 32768).
    public func generate(_ prompts: [[Int32]], params: GenerationParams, contextLength: Int = 0) throws -> [GenerationResult] {
        try params.validate()
        for (i, p) in prompts.enumerated() {
            guard !p.isEmpty else { throw MIIError.argument("prompt \(i) has no tokens") }
        }
        var options = SessionOptions()
        options.contextLength = contextLength
        options.mode = mode
        var results = [GenerationResult?](repeating: nil, count: prompts.count)
        struct Active {
            let index: Int
            let session: Session
            var seq: SequenceGeneration
            var next: Int32
            let t0: Double
            let promptSeconds: Double
        }
        var free: [Session] = []
        var active: [Active] = []
        var queue = prompts.indices.makeIterator()

        func finish(_ a: inout Active) {
            a.seq.end()
            results[a.index] = GenerationResult(text: a.seq.text, tokens: a.seq.generated,
                                                promptTokens: prompts[a.index].count, finishReason: a.seq.finish,
                                                promptSeconds: a.promptSeconds,
                                                decodeSeconds: monotonicSeconds() - a.t0 - a.promptSeconds)
            free.append(a.session)
        }

        while true {
            // Fill free slots from the queue: evaluate the prompt, sample its first token.
            while active.count < maxSequences, let i = queue.next() {
                let session: Session
                if let s = free.popLast() { session = s; session.reset() } else { session = try makeSession(options: options) }
                let prompt = prompts[i]
                try session.checkTokens(prompt)
                if prompt.count >= session.contextLength {
                    throw MIIError(.contextFull, "prompt \(i) has \(prompt.count) tokens; the context holds \(session.contextLength)")
                }
                let t0 = monotonicSeconds()
                var logits = try session.evaluate(prompt)
                let tp = monotonicSeconds() - t0
                var seq = try SequenceGeneration(model: model, params: params)
                var a = Active(index: i, session: session, seq: seq, next: 0, t0: t0, promptSeconds: tp)
                if let id = try seq.next(logits: &logits, history: session.tokens[...],
                                         roomLeft: session.tokenCount < session.contextLength) {
                    a.seq = seq
                    a.next = id
                    active.append(a)
                } else {
                    a.seq = seq
                    finish(&a)
                }
            }
            if active.isEmpty { break }
            // One step for every active sequence.
            let logits = try step(active.map(\.session), tokens: active.map(\.next))
            let v = model.vocabSize
            var still: [Active] = []
            for (r, var a) in active.enumerated() {
                var row = Array(logits[(r * v)..<((r + 1) * v)])
                if let id = try a.seq.next(logits: &row, history: a.session.tokens[...],
                                           roomLeft: a.session.tokenCount < a.session.contextLength) {
                    a.next = id
                    still.append(a)
                } else {
                    finish(&a)
                }
            }
            active = still
        }
        return results.map { $0! }
    }
}
