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

    public var kind: JSONDocument.Kind {
        switch self {
        case .null: return .null
        case .bool: return .bool
        case .int: return .int
        case .number: return .number
        case .string: return .string
        case .array: return .array
        case .object: return .object
        }
    }

    /// "object", "string", ... for error messages.
    public var typeName: String { kind.typeName }

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
        let doc = try JSONDocument.parse(bytes, context: context)
        return doc.value(doc.root)
    }

    public static func parse(_ bytes: [UInt8], context: String = "JSON") throws -> JSONValue {
        try bytes.withUnsafeBytes { try parse($0, context: context) }
    }

    public static func parse(_ text: String, context: String = "JSON") throws -> JSONValue {
        try parse(Array(text.utf8), context: context)
    }
}

/// A JSON document parsed once into a flat list of nodes in document order (each container followed by
/// its contents; an object's members as key, value, key, value...), with every string decoded into one
/// byte buffer. Large documents are read through it without building a `JSONValue` (and a `String`) per
/// element: tokenizer.json has ~150k strings. `value(_:)` builds a `JSONValue` for any part.
/// Node indices are `Int`s valid for this document only; `root` is the top-level value.
public struct JSONDocument: Sendable {
    public enum Kind: UInt8, Sendable {
        case null, bool, int, number, string, array, object

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
    }

    struct Node: Sendable {
        var kind: Kind
        var flag = false
        /// Strings: byte length; arrays: elements; objects: members (repeated keys counted each time).
        var count: Int32 = 0
        /// Ints: the value; numbers: the Double's bit pattern; strings: offset in `text`.
        var payload: Int64 = 0
        /// Index of the first node after this node and its contents.
        var end: Int32 = 0
    }

    /// The parser's buffers, owned as they are (no copy at the end of a parse).
    final class Storage: @unchecked Sendable {
        let nodes: UnsafeMutablePointer<Node>
        let nodeCount: Int
        /// Decoded contents of every string, one after another.
        let text: UnsafeMutablePointer<UInt8>

        init(nodes: UnsafeMutablePointer<Node>, nodeCount: Int, text: UnsafeMutablePointer<UInt8>) {
            self.nodes = nodes
            self.nodeCount = nodeCount
            self.text = text
        }

        deinit {
            nodes.deallocate()
            text.deallocate()
        }
    }

    let storage: Storage
    public let context: String

    public var root: Int { 0 }

    /// Node `i` (indices come from this document's accessors; anything else is a programming error).
    @inline(__always)
    private func node(_ i: Int) -> Node {
        precondition(i >= 0 && i < storage.nodeCount, "JSON node index out of range")
        return storage.nodes[i]
    }

    /// Parses a complete JSON document (strict RFC 8259; see `JSONParser`). `context` names it in errors.
    /// `maxValues` bounds the values (every array, object, key, string, number, literal) and with them the
    /// parser's memory, 24 bytes per value.
    public static func parse(_ bytes: UnsafeRawBufferPointer, context: String = "JSON",
                             maxValues: Int = Limits.maxJSONValues) throws -> JSONDocument {
        // Before the parser allocates its buffers (sized by the input).
        if bytes.count > Limits.maxJSONBytes {
            throw MIIError.format("\(context): document of \(bytes.count) bytes is above the limit of \(Limits.maxJSONBytes) bytes")
        }
        var p = JSONParser(bytes, context: context, maxValues: max(0, maxValues))
        do {
            try p.parseDocument()
        } catch {
            p.out.deallocate()
            p.nodes.deallocate()
            throw error
        }
        return JSONDocument(storage: Storage(nodes: p.nodes, nodeCount: p.nodeCount, text: p.out), context: context)
    }

    public static func parse(_ bytes: [UInt8], context: String = "JSON", maxValues: Int = Limits.maxJSONValues) throws -> JSONDocument {
        try bytes.withUnsafeBytes { try parse($0, context: context, maxValues: maxValues) }
    }

    public func kind(_ i: Int) -> Kind { node(i).kind }

    /// "object", "string", ... as in `JSONValue.typeName`.
    public func typeName(_ i: Int) -> String { node(i).kind.typeName }

    /// Elements of an array, members of an object (a repeated key counts each time), 0 otherwise.
    public func count(_ i: Int) -> Int {
        let n = node(i)
        return n.kind == .array || n.kind == .object ? Int(n.count) : 0
    }

    /// Calls `body` with each element of an array, in order (nothing for other kinds).
    public func forEachElement(_ i: Int, _ body: (Int) throws -> Void) rethrows {
        guard node(i).kind == .array else { return }
        var c = i + 1
        let end = Int(node(i).end)
        while c < end {
            try body(c)
            c = Int(node(c).end)
        }
    }

    /// Calls `body` with the key and value nodes of each member of an object, in document order and
    /// including every occurrence of a repeated key (nothing for other kinds).
    public func forEachMember(_ i: Int, _ body: (_ key: Int, _ value: Int) throws -> Void) rethrows {
        guard node(i).kind == .object else { return }
        var c = i + 1
        let end = Int(node(i).end)
        while c < end {
            try body(c, c + 1)
            c = Int(node(c + 1).end)
        }
    }

    /// The value of member `key` of an object: the last one when the key repeats, as in `value(_:)`;
    /// nil for a missing key or a non-object.
    public func member(_ i: Int, _ key: String) -> Int? {
        var found: Int? = nil
        var key = key
        key.withUTF8 { k in
            forEachMember(i) { kn, vn in
                if withStringBytes(kn, { $0.elementsEqual(k) }) { found = vn }
            }
        }
        return found
    }

    /// The decoded bytes of a string node (valid UTF-8); an empty buffer for other kinds.
    public func withStringBytes<R>(_ i: Int, _ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        let n = node(i)
        guard n.kind == .string else { return try body(UnsafeBufferPointer(start: nil, count: 0)) }
        return try body(UnsafeBufferPointer(start: storage.text + Int(n.payload), count: Int(n.count)))
    }

    /// A number node as an exact integer, as `JSONValue.int` (nil for other kinds).
    public func int(_ i: Int) -> Int64? {
        let n = node(i)
        switch n.kind {
        case .int: return n.payload
        case .number: return leaf(n, i).int
        default: return nil
        }
    }

    /// A string node's bytes as an array (nil for other kinds).
    public func bytes(_ i: Int) -> [UInt8]? {
        node(i).kind == .string ? withStringBytes(i) { Array($0) } : nil
    }

    public func string(_ i: Int) -> String? {
        node(i).kind == .string ? withStringBytes(i) { String(decoding: $0, as: UTF8.self) } : nil
    }

    /// A leaf node as a value (containers: empty).
    private func leaf(_ n: Node, _ i: Int) -> JSONValue {
        switch n.kind {
        case .null: return .null
        case .bool: return .bool(n.flag)
        case .int: return .int(n.payload)
        case .number: return .number(Double(bitPattern: UInt64(bitPattern: n.payload)))
        case .string: return .string(string(i)!)
        case .array: return .array([])
        case .object: return .object([])
        }
    }

    /// Node `i` and its contents as a `JSONValue` (an object's repeated key keeps its first position
    /// and its last value). Built without recursion, so any nesting the parser accepted is fine.
    public func value(_ i: Int) -> JSONValue {
        var stack: [JSONParser.Frame] = []
        var idx = i
        outer: while true {
            let node = self.node(idx)
            var v: JSONValue
            if (node.kind == .array || node.kind == .object) && Int(node.end) > idx + 1 {
                var f = JSONParser.Frame(isObject: node.kind == .object)
                f.end = Int(node.end)
                idx += 1
                if f.isObject {
                    f.key = string(idx)!
                    idx += 1
                }
                stack.append(f)
                continue outer
            }
            v = leaf(node, idx)
            idx = Int(node.end)
            while let top = stack.indices.last {
                if stack[top].isObject { stack[top].addMember(v) } else { stack[top].items.append(v) }
                if idx < stack[top].end {
                    if stack[top].isObject {
                        stack[top].key = string(idx)!
                        idx += 1
                    }
                    continue outer
                }
                let f = stack.removeLast()
                v = f.isObject ? .object(f.members) : .array(f.items)
            }
            return v
        }
    }

    /// An object without the members named in `omitting` (the rest as in `value(_:)`): for reading a
    /// document's large parts through the node accessors and its small parts as values.
    public func value(_ i: Int, omitting: Set<String>) -> JSONValue {
        guard node(i).kind == .object else { return value(i) }
        var f = JSONParser.Frame(isObject: true)
        forEachMember(i) { k, v in
            let key = string(k)!
            if omitting.contains(key) { return }
            f.key = key
            f.addMember(value(v))
        }
        return .object(f.members)
    }
}

/// Strict, non-recursive RFC 8259 parser into a `JSONDocument`. Nesting is bounded by
/// `Limits.maxJSONDepth` with an explicit stack; input size, string length and number length are
/// bounded; every error names a byte offset. Runs in time linear in the input.
struct JSONParser {
    let base: UnsafePointer<UInt8>
    let n: Int
    let context: String
    var pos = 0
    let maxStringBytes = Int(Limits.maxStringBytes)
    /// Decoded string contents, handed to the document at the end. A string never decodes to more bytes
    /// than it takes in the input, so `n` bytes are enough and writes need no checks.
    let out: UnsafeMutablePointer<UInt8>
    var outCount = 0
    /// The nodes, handed to the document at the end.
    var nodes: UnsafeMutablePointer<JSONDocument.Node>
    var nodeCount = 0
    var nodeCapacity: Int

    private static let empty: UnsafeMutablePointer<UInt8> = .allocate(capacity: 8)

    /// At most this many nodes (values); the next one is an error.
    let maxValues: Int

    init(_ bytes: UnsafeRawBufferPointer, context: String, maxValues: Int = Limits.maxJSONValues) {
        self.base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? UnsafePointer(JSONParser.empty)
        self.n = bytes.count
        self.context = context
        self.maxValues = maxValues
        self.out = .allocate(capacity: bytes.count + 8)
        // Typical documents have a node per ~16 bytes.
        nodeCapacity = min(bytes.count / 16 + 16, 1 << 22, maxValues)
        nodes = .allocate(capacity: nodeCapacity)
    }

    func fail(_ msg: String, at offset: Int? = nil) -> MIIError {
        MIIError.format("\(context): \(msg) at byte offset \(offset ?? pos)")
    }

    @inline(__always)
    func byte(_ i: Int) -> UInt8 { base[i] }

    @inline(__always)
    mutating func skipWhitespace() {
        // Indentation 8 bytes at a time.
        while n - pos >= 8 && UnsafeRawPointer(base + pos).loadUnaligned(as: UInt64.self) == 0x2020_2020_2020_2020 { pos += 8 }
        while pos < n {
            let c = byte(pos)
            if c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 { pos += 1 } else { break }
        }
    }

    func describe(_ c: UInt8) -> String {
        if c >= 0x20 && c < 0x7F { return "'\(Character(Unicode.Scalar(c)))'" }
        return "byte 0x" + String(c, radix: 16)
    }

    /// A container being built into a `JSONValue` (by `JSONDocument.value`).
    struct Frame {
        var isObject: Bool
        var items: [JSONValue] = []
        var members: [(String, JSONValue)] = []
        /// Key -> member position, built once an object has more than a few members.
        var index: [String: Int]? = nil
        var key: String = ""
        /// Index of the node after the container.
        var end = 0

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

    @inline(__always)
    mutating func append(_ node: JSONDocument.Node) throws {
        if nodeCount == nodeCapacity {
            if nodeCount >= maxValues {
                throw fail("the document has more than \(maxValues) values (arrays, objects, keys, strings, numbers, literals), the limit")
            }
            // Every node takes at least one input byte, so n + 1 nodes are never exceeded.
            let grown = min(nodeCapacity * 2, n + 16, maxValues)
            let bigger = UnsafeMutablePointer<JSONDocument.Node>.allocate(capacity: grown)
            bigger.moveInitialize(from: nodes, count: nodeCount)
            nodes.deallocate()
            nodes = bigger
            nodeCapacity = grown
        }
        (nodes + nodeCount).initialize(to: node)
        nodeCount += 1
        // Nodes end after themselves; containers are updated when they close.
        nodes[nodeCount - 1].end = Int32(nodeCount)
    }

    mutating func parseDocument() throws {
        if n >= 3 && byte(0) == 0xEF && byte(1) == 0xBB && byte(2) == 0xBF {
            throw fail("byte order mark is not allowed", at: 0)
        }
        // Open containers: their node indices.
        var stack: [Int] = []
        outer: while true {
            // Parse one value (or open a container).
            skipWhitespace()
            guard pos < n else {
                throw fail(stack.isEmpty && pos == 0 ? "empty document" : "unexpected end of input, expected a value")
            }
            let c = byte(pos)
            switch c {
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                if stack.count >= Limits.maxJSONDepth {
                    throw fail("nesting deeper than \(Limits.maxJSONDepth) levels")
                }
                pos += 1
                skipWhitespace()
                let isArray = c == UInt8(ascii: "[")
                try append(JSONDocument.Node(kind: isArray ? .array : .object))
                if pos < n && byte(pos) == (isArray ? UInt8(ascii: "]") : UInt8(ascii: "}")) {
                    pos += 1
                } else {
                    stack.append(nodeCount - 1)
                    if !isArray { try parseKey() }
                    continue outer
                }
            case UInt8(ascii: "\""):
                try parseString()
            case UInt8(ascii: "t"):
                try literal("true"); try append(JSONDocument.Node(kind: .bool, flag: true))
            case UInt8(ascii: "f"):
                try literal("false"); try append(JSONDocument.Node(kind: .bool, flag: false))
            case UInt8(ascii: "n"):
                try literal("null"); try append(JSONDocument.Node(kind: .null))
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                try append(try parseNumber())
            default:
                throw fail("unexpected \(describe(c)), expected a value")
            }
            // A value ended: count it in the enclosing containers, closing them as they end.
            while let top = stack.last {
                nodes[top].count += 1
                skipWhitespace()
                let isObject = nodes[top].kind == .object
                guard pos < n else {
                    throw fail(isObject ? "unexpected end of input, expected ',' or '}'"
                                        : "unexpected end of input, expected ',' or ']'")
                }
                let d = byte(pos)
                if d == UInt8(ascii: ",") {
                    pos += 1
                    if isObject {
                        skipWhitespace()
                        try parseKey()
                    }
                    continue outer
                }
                if isObject {
                    guard d == UInt8(ascii: "}") else { throw fail("unexpected \(describe(d)), expected ',' or '}'") }
                } else {
                    guard d == UInt8(ascii: "]") else { throw fail("unexpected \(describe(d)), expected ',' or ']'") }
                }
                pos += 1
                nodes[top].end = Int32(nodeCount)
                stack.removeLast()
            }
            skipWhitespace()
            if pos < n { throw fail("unexpected \(describe(byte(pos))) after the document") }
            return
        }
    }

    /// `"key"` followed by `:` (whitespace allowed around the colon); leaves `pos` at the value.
    mutating func parseKey() throws {
        guard pos < n else { throw fail("unexpected end of input, expected an object key") }
        guard byte(pos) == UInt8(ascii: "\"") else {
            throw fail("unexpected \(describe(byte(pos))), expected an object key (a string)")
        }
        try parseString()
        skipWhitespace()
        guard pos < n else { throw fail("unexpected end of input, expected ':'") }
        guard byte(pos) == UInt8(ascii: ":") else { throw fail("unexpected \(describe(byte(pos))), expected ':'") }
        pos += 1
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

    /// A number node (an `.int` when the literal is an integer that fits, else a `.number`).
    mutating func parseNumber() throws -> JSONDocument.Node {
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
            if negative { return JSONDocument.Node(kind: .int, payload: acc) }
            if acc != Int64.min { return JSONDocument.Node(kind: .int, payload: -acc) }
        }
        // Correctly rounded, locale-independent conversion (the standard library uses strtod_l with
        // the C locale). The literal has already been checked against the JSON grammar.
        let text = String(decoding: UnsafeRawBufferPointer(start: UnsafeRawPointer(base + start), count: pos - start), as: UTF8.self)
        guard let d = Double(text) else { throw fail("invalid number", at: start) }
        if !d.isFinite { throw fail("number \(text.prefix(40)) is out of the range of a double", at: start) }
        return JSONDocument.Node(kind: .number, payload: Int64(bitPattern: d.bitPattern))
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
    mutating func emit(_ b: UInt8) {
        out[outCount] = b
        outCount += 1
    }

    @inline(__always)
    mutating func appendScalar(_ v: UInt32) {
        if v < 0x80 {
            emit(UInt8(v))
        } else if v < 0x800 {
            emit(UInt8(0xC0 | (v >> 6)))
            emit(UInt8(0x80 | (v & 0x3F)))
        } else if v < 0x10000 {
            emit(UInt8(0xE0 | (v >> 12)))
            emit(UInt8(0x80 | ((v >> 6) & 0x3F)))
            emit(UInt8(0x80 | (v & 0x3F)))
        } else {
            emit(UInt8(0xF0 | (v >> 18)))
            emit(UInt8(0x80 | ((v >> 12) & 0x3F)))
            emit(UInt8(0x80 | ((v >> 6) & 0x3F)))
            emit(UInt8(0x80 | (v & 0x3F)))
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

    /// A string starting at the opening quote, decoded into the document's text and appended as a node;
    /// leaves `pos` after the closing quote.
    mutating func parseString() throws {
        let start = pos
        pos += 1
        let offset = outCount
        let maxBytes = maxStringBytes
        while true {
            // A run of bytes that stand for themselves, copied as they are scanned.
            while pos < n {
                let c = base[pos]
                if c < 0x20 || c == 0x22 || c == 0x5C { break }
                if c >= 0x80 {
                    // Two-byte sequences (U+0080-U+07FF: byte-level BPE's Ġ, Latin, Cyrillic...) here,
                    // longer ones below.
                    guard c >= 0xC2 && c <= 0xDF && n - pos >= 2 && base[pos + 1] & 0xC0 == 0x80 else { break }
                    out[outCount] = c
                    out[outCount + 1] = base[pos + 1]
                    outCount += 2
                    pos += 2
                    continue
                }
                out[outCount] = c
                outCount += 1
                pos += 1
            }
            guard pos < n else { throw fail("unterminated string", at: start) }
            if outCount - offset > maxBytes {
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
                case UInt8(ascii: "\""): emit(0x22)
                case UInt8(ascii: "\\"): emit(0x5C)
                case UInt8(ascii: "/"): emit(0x2F)
                case UInt8(ascii: "b"): emit(0x08)
                case UInt8(ascii: "f"): emit(0x0C)
                case UInt8(ascii: "n"): emit(0x0A)
                case UInt8(ascii: "r"): emit(0x0D)
                case UInt8(ascii: "t"): emit(0x09)
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
            let len = utf8Length(c)
            if len == 0 { throw fail("invalid UTF-8 in a string") }
            for k in 0..<len { emit(base[pos + k]) }
            pos += len
        }
        let length = outCount - offset
        if length > maxBytes {
            throw fail("string longer than \(maxBytes) bytes", at: start)
        }
        // The bytes were validated above (escapes only produce valid scalars).
        try append(JSONDocument.Node(kind: .string, count: Int32(length), payload: Int64(offset)))
    }
}
