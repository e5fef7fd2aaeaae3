/// Errors reported by the engine. Every failure path in MIICore throws one of these; the C layer maps
/// `code` onto `mii_status` and `message` onto the per-thread last error.
public struct MIIError: Error, CustomStringConvertible, Equatable, Sendable {
    public enum Code: Int32, Sendable {
        case invalidArgument = 1   // a parameter is out of range or inconsistent
        case io = 2                // a file could not be opened, read or mapped
        case invalidFormat = 3     // a model/tokenizer file is malformed
        case unsupported = 4       // well-formed, but something we do not implement
        case outOfMemory = 5
        case contextFull = 6       // the sequence would exceed the context length
        case cancelled = 7
        case invalidToken = 8      // a token id outside the vocabulary
        case callbackFailed = 9
        case busy = 10
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }

    public static func format(_ m: String) -> MIIError { MIIError(.invalidFormat, m) }
    public static func argument(_ m: String) -> MIIError { MIIError(.invalidArgument, m) }
    public static func unsupported(_ m: String) -> MIIError { MIIError(.unsupported, m) }
    public static func io(_ m: String) -> MIIError { MIIError(.io, m) }
}
