/// A parsed JSON value (RFC 8259). Integer literals (no fraction, no exponent) that fit an `Int64` are
/// kept exactly as `.int`; every other number is a `.number` rounded like `strtod`. Objects keep their
/// members in document order; a duplicate key keeps its first position and its last value (as Python).
public indirect enum JSONValue: Sendable, Equatable, CustomStringConvertible {
    case null
    case bool(Bool)
    case int(Int64)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])

    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case let (.bool(x), .bool(y)): return x == y
        case let (.int(x), .int(y)): return x == y
        case let (.number(x), .number(y)): return x == y
        case let (.string(x), .string(y)): return x == y
        case let (.array(x), .array(y)): return x == y
        case let (.object(x), .object(y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }

    /// The member `key` of an object (nil for a missing key or a non-object).
    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        for (k, v) in members where k == key { return v }
        return nil
    }

    /// Element `index` of an array (nil when out of range or not an array).
    public subscript(index: Int) -> JSONValue? {
        guard case .array(let a) = self, index >= 0, index < a.count else { return nil }
        return a[index]
    }

    public var isNull: Bool { if case .null = self { return true } else { return false } }

    public var bool: Bool? { if case .bool(let b) = self { return b } else { return nil } }

    /// The value as an exact integer: an `.int`, or a `.number` that is integral and fits an Int64.
    public var int: Int64? {
        switch self {
        case .int(let v): return v
        case .number(let d):
            guard d.isFinite, d.rounded(.towardZero) == d, d >= -9.223372036854775808e18, d < 9.223372036854775808e18 else { return nil }
            return Int64(d)
        default: return nil
        }
    }

    /// The value as a double (integers converted, possibly rounded).
    public var double: Double? {
        switch self {
        case .int(let v): return Double(v)
        case .number(let d): return d
        default: return nil
        }
    }

    public var string: String? { if case .string(let s) = self { return s } else { return nil } }
    public var array: [JSONValue]? { if case .array(let a) = self { return a } else { return nil } }
    public var object: [(String, JSONValue)]? { if case .object(let o) = self { return o } else { return nil } }

    /// An object's members as a dictionary (for repeated lookups in large objects).
    public var dictionary: [String: JSONValue]? {
        guard case .object(let o) = self else { return nil }
        var d: [String: JSONValue] = [:]
        d.reserveCapacity(o.count)
        for (k, v) in o { d[k] = v }
        return d
    }

    public var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "boolean"
        case .int, .number: return "number"
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        }
    }

    public var description: String {
        switch self {
        case .null: return "null"
        case .bool(let b): return "\(b)"
        case .int(let v): return "\(v)"
        case .number(let d): return "\(d)"
        case .string(let s): return s.count > 60 ? "\"\(s.prefix(60))...\"" : "\"\(s)\""
        case .array(let a): return "[\(a.count) values]"
        case .object(let o): return "{\(o.count) members}"
        }
    }

    /// Parses a complete JSON document. `context` names the document in error messages.
    public static func parse(_ bytes: UnsafeRawBufferPointer, context: String = "JSON") throws -> JSONValue {
        var p = JSONParser(bytes, context: context)
        return try p.parseDocument()
    }

    public static func parse(_ bytes: [UInt8], context: String = "JSON") throws -> JSONValue {
        try bytes.withUnsafeBytes { try parse($0, context: context) }
    }

    public static func parse(_ text: String, context: String = "JSON") throws -> JSONValue {
        try parse(Array(text.utf8), context: context)
    }
}

/// Strict, non-recursive RFC 8259 parser. Nesting is bounded by `Limits.maxJSONDepth` with an explicit
/// stack; input size, string length and number length are bounded; every error names a byte offset.
/// Runs in time linear in the input.
struct JSONParser {
    let base: UnsafeRawPointer?
    let n: Int
    let context: String
    var pos = 0
    /// Reused buffer for string contents.
    var scratch: [UInt8] = []

    init(_ bytes: UnsafeRawBufferPointer, context: String) {
        self.base = bytes.baseAddress
        self.n = bytes.count
        self.context = context
    }

    func fail(_ msg: String, at offset: Int? = nil) -> MIIError {
        MIIError.format("\(context): \(msg) at byte offset \(offset ?? pos)")
    }

    @inline(__always)
    func byte(_ i: Int) -> UInt8 { base!.load(fromByteOffset: i, as: UInt8.self) }

    @inline(__always)
    mutating func skipWhitespace() {
        while pos < n {
            let c = byte(pos)
            if c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 { pos += 1 } else { break }
        }
    }

    func describe(_ c: UInt8) -> String {
        if c >= 0x20 && c < 0x7F { return "'\(Character(Unicode.Scalar(c)))'" }
        return "byte 0x" + String(c, radix: 16)
    }

    struct Frame {
        var isObject: Bool
        var items: [JSONValue] = []
        var members: [(String, JSONValue)] = []
        /// Key -> member position, built once an object has more than a few members.
        var index: [String: Int]? = nil
        var key: String = ""

        mutating func addMember(_ v: JSONValue) {
            if let idx = index {
                if let i = idx[key] { members[i].1 = v; return }
                index![key] = members.count
            } else {
                for i in members.indices where members[i].0 == key { members[i].1 = v; return }
                if members.count >= 8 {
                    var d: [String: Int] = [:]
                    for (i, m) in members.enumerated() { d[m.0] = i }
                    d[key] = members.count
                    index = d
                }
            }
            members.append((key, v))
        }
    }

    mutating func parseDocument() throws -> JSONValue {
        if n > Limits.maxJSONBytes {
            throw MIIError.format("\(context): document of \(n) bytes is above the limit of \(Limits.maxJSONBytes) bytes")
        }
        if n >= 3 && byte(0) == 0xEF && byte(1) == 0xBB && byte(2) == 0xBF {
            throw fail("byte order mark is not allowed", at: 0)
        }
        var stack: [Frame] = []
        outer: while true {
            // Parse one value (or open a container).
            skipWhitespace()
            guard pos < n else {
                throw fail(stack.isEmpty && pos == 0 ? "empty document" : "unexpected end of input, expected a value")
            }
            var value: JSONValue
            let c = byte(pos)
            switch c {
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                if stack.count >= Limits.maxJSONDepth {
                    throw fail("nesting deeper than \(Limits.maxJSONDepth) levels")
                }
                pos += 1
                skipWhitespace()
                if c == UInt8(ascii: "[") {
                    if pos < n && byte(pos) == UInt8(ascii: "]") {
                        pos += 1
                        value = .array([])
                    } else {
                        stack.append(Frame(isObject: false))
                        continue outer
                    }
                } else {
                    if pos < n && byte(pos) == UInt8(ascii: "}") {
                        pos += 1
                        value = .object([])
                    } else {
                        var f = Frame(isObject: true)
                        f.key = try parseKey()
                        stack.append(f)
                        continue outer
                    }
                }
            case UInt8(ascii: "\""):
                value = .string(try parseString())
            case UInt8(ascii: "t"):
                try literal("true"); value = .bool(true)
            case UInt8(ascii: "f"):
                try literal("false"); value = .bool(false)
            case UInt8(ascii: "n"):
                try literal("null"); value = .null
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                value = try parseNumber()
            default:
                throw fail("unexpected \(describe(c)), expected a value")
            }
            // Attach the finished value to the enclosing containers, closing them as they end.
            while true {
                guard !stack.isEmpty else {
                    skipWhitespace()
                    if pos < n { throw fail("unexpected \(describe(byte(pos))) after the document") }
                    return value
                }
                let top = stack.count - 1
                if stack[top].isObject { stack[top].addMember(value) } else { stack[top].items.append(value) }
                skipWhitespace()
                guard pos < n else {
                    throw fail(stack[top].isObject ? "unexpected end of input, expected ',' or '}'"
                                                   : "unexpected end of input, expected ',' or ']'")
                }
                let d = byte(pos)
                if d == UInt8(ascii: ",") {
                    pos += 1
                    if stack[top].isObject {
                        skipWhitespace()
                        stack[top].key = try parseKey()
                    }
                    continue outer
                }
                if stack[top].isObject {
                    guard d == UInt8(ascii: "}") else { throw fail("unexpected \(describe(d)), expected ',' or '}'") }
                    pos += 1
                    value = .object(stack.removeLast().members)
                } else {
                    guard d == UInt8(ascii: "]") else { throw fail("unexpected \(describe(d)), expected ',' or ']'") }
                    pos += 1
                    value = .array(stack.removeLast().items)
                }
            }
        }
    }

    /// `"key"` followed by `:` (whitespace allowed around the colon); leaves `pos` at the value.
    mutating func parseKey() throws -> String {
        guard pos < n else { throw fail("unexpected end of input, expected an object key") }
        guard byte(pos) == UInt8(ascii: "\"") else {
            throw fail("unexpected \(describe(byte(pos))), expected an object key (a string)")
        }
        let key = try parseString()
        skipWhitespace()
        guard pos < n else { throw fail("unexpected end of input, expected ':'") }
        guard byte(pos) == UInt8(ascii: ":") else { throw fail("unexpected \(describe(byte(pos))), expected ':'") }
        pos += 1
        return key
    }

    mutating func literal(_ word: StaticString) throws {
        let len = word.utf8CodeUnitCount
        let w = word.utf8Start
        if len > n - pos { throw fail("invalid literal (expected '\(word)')") }
        for i in 0..<len where byte(pos + i) != w[i] {
            throw fail("invalid literal (expected '\(word)')")
        }
        pos += len
    }

    @inline(__always)
    func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }

    mutating func parseNumber() throws -> JSONValue {
        let start = pos
        var negative = false
        if byte(pos) == UInt8(ascii: "-") {
            negative = true
            pos += 1
        }
        guard pos < n, isDigit(byte(pos)) else { throw fail("invalid number: expected a digit", at: pos) }
        // Integer part, accumulated exactly (as a negative value, so that Int64.min fits).
        var acc: Int64 = 0
        var overflow = false
        if byte(pos) == UInt8(ascii: "0") {
            pos += 1
            if pos < n && isDigit(byte(pos)) { throw fail("invalid number: leading zeros are not allowed", at: start) }
        } else {
            while pos < n && isDigit(byte(pos)) {
                if !overflow {
                    let (m, o1) = acc.multipliedReportingOverflow(by: 10)
                    let (s, o2) = m.subtractingReportingOverflow(Int64(byte(pos) - 0x30))
                    if o1 || o2 { overflow = true } else { acc = s }
                }
                pos += 1
                if pos - start > Limits.maxJSONNumberBytes { break }
            }
        }
        var integral = true
        if pos < n && byte(pos) == UInt8(ascii: ".") {
            integral = false
            pos += 1
            guard pos < n, isDigit(byte(pos)) else { throw fail("invalid number: expected a digit after '.'", at: pos) }
            while pos < n && isDigit(byte(pos)) && pos - start <= Limits.maxJSONNumberBytes { pos += 1 }
        }
        if pos < n && (byte(pos) == UInt8(ascii: "e") || byte(pos) == UInt8(ascii: "E")) {
            integral = false
            pos += 1
            if pos < n && (byte(pos) == UInt8(ascii: "+") || byte(pos) == UInt8(ascii: "-")) { pos += 1 }
            guard pos < n, isDigit(byte(pos)) else { throw fail("invalid number: expected a digit in the exponent", at: pos) }
            while pos < n && isDigit(byte(pos)) && pos - start <= Limits.maxJSONNumberBytes { pos += 1 }
        }
        if pos - start > Limits.maxJSONNumberBytes {
            throw fail("number literal longer than \(Limits.maxJSONNumberBytes) bytes", at: start)
        }
        if integral && !overflow {
            if negative { return .int(acc) }
            if acc != Int64.min { return .int(-acc) }
        }
        // Correctly rounded, locale-independent conversion (the standard library uses strtod_l with
        // the C locale). The literal has already been checked against the JSON grammar.
        let text = String(decoding: UnsafeRawBufferPointer(start: base! + start, count: pos - start), as: UTF8.self)
        guard let d = Double(text) else { throw fail("invalid number", at: start) }
        if !d.isFinite { throw fail("number \(text.prefix(40)) is out of the range of a double", at: start) }
        return .number(d)
    }

    mutating func hex4() throws -> UInt32 {
        guard n - pos >= 4 else { throw fail("unexpected end of input in a \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = byte(pos)
            let d: UInt32
            switch c {
            case 0x30...0x39: d = UInt32(c - 0x30)
            case 0x41...0x46: d = UInt32(c - 0x41 + 10)
            case 0x61...0x66: d = UInt32(c - 0x61 + 10)
            default: throw fail("invalid hex digit \(describe(c)) in a \\u escape")
            }
            v = v << 4 | d
            pos += 1
        }
        return v
    }

    @inline(__always)
    mutating func appendScalar(_ v: UInt32) {
        if v < 0x80 {
            scratch.append(UInt8(v))
        } else if v < 0x800 {
            scratch.append(UInt8(0xC0 | (v >> 6)))
            scratch.append(UInt8(0x80 | (v & 0x3F)))
        } else if v < 0x10000 {
            scratch.append(UInt8(0xE0 | (v >> 12)))
            scratch.append(UInt8(0x80 | ((v >> 6) & 0x3F)))
            scratch.append(UInt8(0x80 | (v & 0x3F)))
        } else {
            scratch.append(UInt8(0xF0 | (v >> 18)))
            scratch.append(UInt8(0x80 | ((v >> 12) & 0x3F)))
            scratch.append(UInt8(0x80 | ((v >> 6) & 0x3F)))
            scratch.append(UInt8(0x80 | (v & 0x3F)))
        }
    }

    /// Length of a valid UTF-8 sequence starting at `pos` with lead byte `b` (>= 0x80), or 0 if invalid
    /// (overlong forms, surrogates, values above U+10FFFF, truncated sequences).
    func utf8Length(_ b: UInt8) -> Int {
        @inline(__always) func cont(_ i: Int, _ lo: UInt8 = 0x80, _ hi: UInt8 = 0xBF) -> Bool {
            i < n && byte(i) >= lo && byte(i) <= hi
        }
        switch b {
        case 0xC2...0xDF: return cont(pos + 1) ? 2 : 0
        case 0xE0: return cont(pos + 1, 0xA0) && cont(pos + 2) ? 3 : 0
        case 0xE1...0xEC, 0xEE...0xEF: return cont(pos + 1) && cont(pos + 2) ? 3 : 0
        case 0xED: return cont(pos + 1, 0x80, 0x9F) && cont(pos + 2) ? 3 : 0
        case 0xF0: return cont(pos + 1, 0x90) && cont(pos + 2) && cont(pos + 3) ? 4 : 0
        case 0xF1...0xF3: return cont(pos + 1) && cont(pos + 2) && cont(pos + 3) ? 4 : 0
        case 0xF4: return cont(pos + 1, 0x80, 0x8F) && cont(pos + 2) && cont(pos + 3) ? 4 : 0
        default: return 0
        }
    }

    /// A string starting at the opening quote; leaves `pos` after the closing quote.
    mutating func parseString() throws -> String {
        let start = pos
        pos += 1
        scratch.removeAll(keepingCapacity: true)
        let maxBytes = Int(Limits.maxStringBytes)
        while true {
            guard pos < n else { throw fail("unterminated string", at: start) }
            if scratch.count > maxBytes {
                throw fail("string longer than \(maxBytes) bytes", at: start)
            }
            let c = byte(pos)
            if c == UInt8(ascii: "\"") {
                pos += 1
                break
            }
            if c < 0x20 {
                throw fail("unescaped control character \(describe(c)) in a string")
            }
            if c == UInt8(ascii: "\\") {
                pos += 1
                guard pos < n else { throw fail("unterminated string", at: start) }
                let e = byte(pos)
                pos += 1
                switch e {
                case UInt8(ascii: "\""): scratch.append(0x22)
                case UInt8(ascii: "\\"): scratch.append(0x5C)
                case UInt8(ascii: "/"): scratch.append(0x2F)
                case UInt8(ascii: "b"): scratch.append(0x08)
                case UInt8(ascii: "f"): scratch.append(0x0C)
                case UInt8(ascii: "n"): scratch.append(0x0A)
                case UInt8(ascii: "r"): scratch.append(0x0D)
                case UInt8(ascii: "t"): scratch.append(0x09)
                case UInt8(ascii: "u"):
                    let escStart = pos - 2
                    let u = try hex4()
                    if u >= 0xD800 && u <= 0xDBFF {
                        guard n - pos >= 2, byte(pos) == UInt8(ascii: "\\"), byte(pos + 1) == UInt8(ascii: "u") else {
                            throw fail("unpaired high surrogate \\u\(String(u, radix: 16, uppercase: true))", at: escStart)
                        }
                        pos += 2
                        let lo = try hex4()
                        guard lo >= 0xDC00 && lo <= 0xDFFF else {
                            throw fail("high surrogate \\u\(String(u, radix: 16, uppercase: true)) not followed by a low surrogate", at: escStart)
                        }
                        appendScalar(0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00))
                    } else if u >= 0xDC00 && u <= 0xDFFF {
                        throw fail("unpaired low surrogate \\u\(String(u, radix: 16, uppercase: true))", at: escStart)
                    } else {
                        appendScalar(u)
                    }
                default:
                    throw fail("invalid escape '\\\(e >= 0x20 && e < 0x7F ? String(Character(Unicode.Scalar(e))) : describe(e))'", at: pos - 2)
                }
                continue
            }
            if c < 0x80 {
                scratch.append(c)
                pos += 1
                continue
            }
            let len = utf8Length(c)
            if len == 0 { throw fail("invalid UTF-8 in a string") }
            for i in 0..<len { scratch.append(byte(pos + i)) }
            pos += len
        }
        if scratch.count > maxBytes {
            throw fail("string longer than \(maxBytes) bytes", at: start)
        }
        // The bytes were validated above (escapes only produce valid scalars).
        return String(decoding: scratch, as: UTF8.self)
    }
}
