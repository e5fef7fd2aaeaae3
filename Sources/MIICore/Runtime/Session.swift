import MIIKernels
#if canImport(Glibc)
import Glibc
#endif

/// Options for a session.
public struct SessionOptions: Sendable {
    /// Tokens the session can hold (prompt + generated); 0: the model's context length, capped at 32768.
    public var contextLength: Int = 0
    /// Threads for this session's computation; 0: the model's default.
    public var threads: Int = 0
    /// Precision mode; nil: the model's default.
    public var mode: PrecisionMode? = nil
    /// Tokens per forward chunk during prompt processing; 0: automatic.
    public var batch: Int = 0
    /// How the KV cache stores keys and values; nil: by the precision mode (`KVFormat(mode:)`).
    public var kvCache: KVFormat? = nil
    public init() {}
}

/// One sequence: its KV cache, the tokens in it, and generation. Used by one thread at a time;
/// `cancel()` is the one call that may come from any thread.
public final class Session: @unchecked Sendable {
    public let model: Model
    public let contextLength: Int
    public let threads: Int
    public var mode: PrecisionMode
    let pool: ThreadPool
    let state: AnyObject
    /// The tokens whose keys/values are in the cache, in order.
    public private(set) var tokens: [Int32] = []
    private let cancelFlag: OpaquePointer

    public convenience init(model: Model, options: SessionOptions = SessionOptions()) throws {
        if options.threads < 0 || options.threads > 1024 {
            throw MIIError.argument("threads must be in 0...1024 (got \(options.threads))")
        }
        let threads = options.threads > 0 ? options.threads : model.defaultThreads
        try self.init(model: model, options: options, pool: try ThreadPool(threads: threads))
    }

    /// A session computing on `pool` (sessions of one BatchDecoder share its pool).
    init(model: Model, options: SessionOptions, pool: ThreadPool) throws {
        self.model = model
        if options.contextLength < 0 || options.contextLength > Limits.maxContext {
            throw MIIError.argument("context length \(options.contextLength) is out of range")
        }
        if options.threads < 0 || options.threads > 1024 {
            throw MIIError.argument("threads must be in 0...1024 (got \(options.threads))")
        }
        if options.batch < 0 || options.batch > 8192 {
            throw MIIError.argument("batch must be in 0...8192 (got \(options.batch))")
        }
        let ctx = options.contextLength > 0 ? options.contextLength : min(model.contextLength, 32768)
        self.contextLength = ctx
        self.threads = pool.threads
        self.mode = options.mode ?? model.options.mode
        self.pool = pool
        let batch = options.batch > 0 ? options.batch : 256
        self.state = try model.requireDecoder().makeState(maxContext: ctx, batch: min(batch, ctx), threads: threads,
                                                          kvFormat: options.kvCache ?? KVFormat(mode: mode))
        guard let f = miik_flag_create() else { throw MIIError(.outOfMemory, "out of memory") }
        self.cancelFlag = f
    }

    deinit { miik_flag_free(cancelFlag) }

    // Call state: 0 idle, 1 running, 2 running with a cancel request. cancel() only moves 1 -> 2, so a
    // request reaches exactly the call in progress: never a later call, and never lost mid-call.
    private static let idle: Int32 = 0, running: Int32 = 1, cancelRequested: Int32 = 2

    /// Asks the running evaluate/generate to stop at the next matrix product or token. Thread-safe.
    /// A cancel made while no call is running is ignored.
    public func cancel() { _ = miik_flag_cas(cancelFlag, Session.running, Session.cancelRequested) }

    private var cancelled: Bool { miik_flag_get(cancelFlag) == Session.cancelRequested }

    /// Marks a public call as running for the duration of `body`.
    private func asCall<T>(_ body: () throws -> T) rethrows -> T {
        miik_flag_set(cancelFlag, Session.running)
        defer { miik_flag_set(cancelFlag, Session.idle) }
        return try body()
    }

    /// Forgets all tokens.
    public func reset() { tokens.removeAll() }

    /// Records tokens whose keys/values a batched step (BatchDecoder) wrote into this session's cache.
    func appendEvaluated(_ id: Int32) { tokens.append(id) }

    /// Keeps only the first `n` tokens of the cache.
    public func truncate(to n: Int) throws {
        guard n >= 0 && n <= tokens.count else {
            throw MIIError.argument("cannot truncate \(tokens.count) tokens to \(n)")
        }
        tokens.removeSubrange(n...)
    }

    func checkTokens<C: Collection>(_ ids: C) throws where C.Element == Int32 {
        let v = model.vocabSize
        for id in ids where id < 0 || Int(id) >= v {
            throw MIIError(.invalidToken, "token id \(id) is outside the vocabulary (0..<\(v))")
        }
    }

    /// Appends `ids` to the sequence and returns the logits of the last one ([n_vocab]), or of every
    /// one ([ids.count, n_vocab]) with `allLogits`. On error the session is unchanged.
    public func evaluate(_ ids: [Int32], allLogits: Bool = false) throws -> [Float] {
        try asCall { try evaluateTokens(ids, allLogits: allLogits) }
    }

    private func evaluateTokens(_ ids: [Int32], allLogits: Bool = false) throws -> [Float] {
        guard !ids.isEmpty else { throw MIIError.argument("no tokens to evaluate") }
        try checkTokens(ids)
        if tokens.count + ids.count > contextLength {
            throw MIIError(.contextFull, "\(tokens.count) + \(ids.count) tokens exceed the context of \(contextLength)")
        }
        let rows = allLogits ? ids.count : 1
        var out = [Float](repeating: 0, count: rows * model.vocabSize)
        try ids.withUnsafeBufferPointer { p in
            try out.withUnsafeMutableBufferPointer { o in
                try model.requireDecoder().forward(p, startPos: tokens.count, state: state, pool: pool, mode: mode,
                                          allLogits: allLogits, logits: o.baseAddress!,
                                          shouldCancel: { self.cancelled })
            }
        }
        tokens.append(contentsOf: ids)
        return out
    }

    /// Generates a continuation of `prompt`. Reuses the cached prefix the prompt shares with the
    /// tokens already in the session. `onText` receives each piece of text as it becomes final
    /// (valid UTF-8, stop strings held back); returning false stops generation (finish: cancelled).
    public func generate(prompt: [Int32], params: GenerationParams,
                         onText: ((String) -> Bool)? = nil) throws -> GenerationResult {
        try asCall { try generateTokens(prompt: prompt, params: params, onText: onText) }
    }

    private func generateTokens(prompt: [Int32], params: GenerationParams,
                                onText: ((String) -> Bool)?) throws -> GenerationResult {
        try params.validate()
        guard !prompt.isEmpty else { throw MIIError.argument("the prompt has no tokens") }
        try checkTokens(prompt)
        if prompt.count >= contextLength {
            throw MIIError(.contextFull, "the prompt has \(prompt.count) tokens; the context holds \(contextLength)")
        }
        // Reuse the common prefix (at least one token must be evaluated to get logits).
        var common = 0
        while common < min(tokens.count, prompt.count - 1) && tokens[common] == prompt[common] { common += 1 }
        tokens.removeSubrange(common...)

        let t0 = monotonicSeconds()
        var logits: [Float]
        do {
            logits = try evaluateTokens(Array(prompt[common...]))
        } catch let e as MIIError where e.code == .cancelled {
            // Cancelled during the prompt: nothing generated; the session keeps the shared prefix.
            let t = monotonicSeconds() - t0
            return GenerationResult(text: "", tokens: [], promptTokens: prompt.count, finishReason: .cancelled,
                                    promptSeconds: t, decodeSeconds: 0)
        }
        let t1 = monotonicSeconds()

        var seq = try SequenceGeneration(model: model, params: params, onText: onText)
        while true {
            if cancelled { seq.finish = .cancelled; break }
            guard let id = try seq.next(logits: &logits, history: tokens[...], roomLeft: tokens.count < contextLength)
            else { break }
            do {
                logits = try evaluateTokens([id])
            } catch let e as MIIError where e.code == .cancelled {
                seq.finish = .cancelled
                break
            }
        }
        seq.end()
        return GenerationResult(text: seq.text, tokens: seq.generated, promptTokens: prompt.count,
                                finishReason: seq.finish, promptSeconds: t1 - t0,
                                decodeSeconds: monotonicSeconds() - t1)
    }
}

func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

extension Session {
    public var tokenCount: Int { tokens.count }
}
