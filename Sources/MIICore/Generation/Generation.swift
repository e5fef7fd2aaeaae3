/// Everything that controls one generation call.
public struct GenerationParams: Sendable {
    public var maxNewTokens: Int = 128
    public var sampling = SamplingParams()
    /// Generation stops when the text contains any of these; the stop string itself is not returned.
    public var stop: [String] = []
    /// Keep generating through end-of-generation tokens.
    public var ignoreEOS = false
    public init() {}

    public func validate() throws {
        if maxNewTokens < 0 { throw MIIError.argument("max_new_tokens must be >= 0 (got \(maxNewTokens))") }
        if stop.contains(where: { $0.isEmpty }) { throw MIIError.argument("stop strings must not be empty") }
        try sampling.validate()
    }
}

public enum FinishReason: String, Sendable {
    /// max_new_tokens reached.
    case length
    /// An end-of-generation token or a stop string.
    case stop
    /// The context window is full.
    case contextFull = "context_full"
    /// Cancelled from another thread or by the streaming callback.
    case cancelled
}

public struct GenerationResult: Sendable {
    public var text: String
    public var tokens: [Int32]
    public var promptTokens: Int
    public var finishReason: FinishReason
    /// Seconds spent on the prompt and on generated tokens.
    public var promptSeconds: Double
    public var decodeSeconds: Double
}

/// Finds stop strings in streamed text and says how much text is safe to emit: any suffix that could
/// still grow into a stop string is held back.
struct StopMatcher {
    let stops: [String]
    private(set) var text = ""
    private var emitted = 0  // characters of `text` already emitted

    init(stops: [String]) { self.stops = stops }

    /// Appends new text. Returns (text to emit now, whether a stop string was found).
    mutating func push(_ piece: String) -> (String, Bool) {
        text += piece
        if stops.isEmpty {
            let out = String(text.dropFirst(emitted))
            emitted = text.count
            return (out, false)
        }
        // Earliest occurrence of any stop string.
        var cut: String.Index? = nil
        for s in stops {
            if let r = text.range(of: s), cut == nil || r.lowerBound < cut! { cut = r.lowerBound }
        }
        if let cut {
            let final = String(text[..<cut])
            let out = String(final.dropFirst(emitted))
            text = final
            emitted = final.count
            return (out, true)
        }
        // Hold back the longest suffix that is a proper prefix of a stop string.
        var hold = 0
        for s in stops {
            var k = min(s.count - 1, text.count)
            while k > hold {
                if text.hasSuffix(s.prefix(k)) { hold = k; break }
                k -= 1
            }
        }
        let safe = text.count - hold
        if safe <= emitted { return ("", false) }
        let start = text.index(text.startIndex, offsetBy: emitted)
        let end = text.index(text.startIndex, offsetBy: safe)
        emitted = safe
        return (String(text[start..<end]), false)
    }

    /// The held-back text, at the end of generation.
    mutating func flush() -> String {
        let out = String(text.dropFirst(emitted))
        emitted = text.count
        return out
    }
}

extension String {
    func range(of needle: String) -> Range<String.Index>? {
        guard !needle.isEmpty, needle.count <= count else { return nil }
        var i = startIndex
        while i < endIndex {
            if self[i...].hasPrefix(needle) {
                return i..<index(i, offsetBy: needle.count)
            }
            i = index(after: i)
        }
        return nil
    }
}
