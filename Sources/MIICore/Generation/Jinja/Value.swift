/// Runtime values of the Jinja interpreter, modelled on the Python objects jinja2 works with: the
/// printing (`str`/`repr`), truthiness, equality and ordering rules follow Python's, because chat
/// templates are written against jinja2 and their output has to match it byte for byte.
indirect enum JinjaValue {
    /// jinja2's default `Undefined`: prints as "", is falsy, iterates as empty; most other uses fail.
    /// The payload says what was undefined, for the error message.
    case undefined(String)
    case none
    case bool(Bool)
    case int(Int)
    case float(Double)
    case string(String)
    case list([JinjaValue])
    case tuple([JinjaValue])
    case dict(JinjaDict)
    /// Python's lazy iterables: the generators jinja2's map/select/... return, `reversed()`, and dict
    /// views. They iterate like lists but differ in length, truthiness, printing and JSON.
    case iterator([JinjaValue], IteratorKind)
    case namespace(JinjaNamespace)
    /// The `loop` variable of a for loop: the position and the items (attributes computed on access,
    /// so an iteration costs no allocation).
    case loop(index: Int, items: [JinjaValue])
    case macro(JinjaMacro)
    /// A global function (range, namespace, raise_exception, ...).
    case builtin(String)
    /// A method bound to its receiver (`"a b".split`, `d.get`).
    case method(JinjaValue, String)

    static func undefinedName(_ name: String) -> JinjaValue { .undefined("'\(name)' is undefined") }

    /// Whether lists, dicts and namespaces nest more than `limit` levels (recursion bounded by `limit`).
    func nests(deeperThan limit: Int) -> Bool {
        if limit < 0 { return true }
        switch self {
        case .list(let a), .tuple(let a), .iterator(let a, _): return a.contains { $0.nests(deeperThan: limit - 1) }
        case .dict(let d): return d.values.contains { $0.nests(deeperThan: limit - 1) } || d.keys.contains { $0.nests(deeperThan: limit - 1) }
        case .namespace(let n): return JinjaValue.dict(n.attrs).nests(deeperThan: limit - 1)
        case .loop(_, let items): return items.contains { $0.nests(deeperThan: limit - 1) }
        case .method(let r, _): return r.nests(deeperThan: limit - 1)
        default: return false
        }
    }

    var isUndefined: Bool { if case .undefined = self { return true } else { return false } }
    var isNone: Bool { if case .none = self { return true } else { return false } }

    /// Python truthiness.
    var truthy: Bool {
        switch self {
        case .undefined, .none: return false
        case .bool(let b): return b
        case .int(let i): return i != 0
        case .float(let d): return d != 0
        case .string(let s): return !s.isEmpty
        case .list(let a), .tuple(let a): return !a.isEmpty
        case .dict(let d): return d.count > 0
        case .iterator(let a, let k): return k.isView ? !a.isEmpty : true
        case .namespace, .loop, .macro, .builtin, .method: return true
        }
    }

    /// The Python type name, for error messages.
    var typeName: String {
        switch self {
        case .undefined: return "Undefined"
        case .none: return "NoneType"
        case .bool: return "bool"
        case .int: return "int"
        case .float: return "float"
        case .string: return "str"
        case .list: return "list"
        case .tuple: return "tuple"
        case .dict: return "dict"
        case .iterator(_, let k): return k.rawValue
        case .namespace: return "Namespace"
        case .loop: return "LoopContext"
        case .macro: return "Macro"
        case .builtin: return "builtin_function"
        case .method: return "method"
        }
    }

    /// Numeric view (bools count as ints, as in Python).
    var number: Double? {
        switch self {
        case .int(let i): return Double(i)
        case .float(let d): return d
        case .bool(let b): return b ? 1 : 0
        default: return nil
        }
    }

    var integer: Int? {
        switch self {
        case .int(let i): return i
        case .bool(let b): return b ? 1 : 0
        default: return nil
        }
    }

    var stringValue: String? { if case .string(let s) = self { return s } else { return nil } }
}

enum IteratorKind: String {
    case generator
    case reverseIterator = "list_reverseiterator"
    case dictItems = "dict_items", dictKeys = "dict_keys", dictValues = "dict_values"

    var isView: Bool { self == .dictItems || self == .dictKeys || self == .dictValues }
}

/// Python's hashing identity for dict keys: bools and integral floats collapse onto ints.
enum JinjaKey: Hashable {
    case str(String)
    case int(Int)
    case float(Double)
    case none
    case tuple([JinjaKey])

    init(_ v: JinjaValue) throws {
        switch v {
        case .string(let s): self = .str(s)
        case .int(let i): self = .int(i)
        case .bool(let b): self = .int(b ? 1 : 0)
        case .float(let d):
            if d == d.rounded(), abs(d) < 9.0e18 { self = .int(Int(d)) } else { self = .float(d) }
        case .none: self = .none
        case .tuple(let a): self = .tuple(try a.map { try JinjaKey($0) })
        default: throw JinjaError.type("unhashable type: '\(v.typeName)'")
        }
    }
}

/// An insertion-ordered dictionary, like Python's dict.
struct JinjaDict {
    private(set) var keys: [JinjaValue] = []
    private(set) var values: [JinjaValue] = []
    private var index: [JinjaKey: Int] = [:]

    init() {}

    var count: Int { keys.count }

    func get(_ key: JinjaValue) -> JinjaValue? {
        guard let k = try? JinjaKey(key), let i = index[k] else { return nil }
        return values[i]
    }

    func get(_ key: String) -> JinjaValue? {
        guard let i = index[.str(key)] else { return nil }
        return values[i]
    }

    mutating func set(_ key: JinjaValue, _ value: JinjaValue) throws {
        let k = try JinjaKey(key)
        if let i = index[k] {
            values[i] = value
        } else {
            index[k] = keys.count
            keys.append(key)
            values.append(value)
        }
    }

    mutating func set(_ key: String, _ value: JinjaValue) {
        if let i = index[.str(key)] {
            values[i] = value
        } else {
            index[.str(key)] = keys.count
            keys.append(.string(key))
            values.append(value)
        }
    }

    var items: [(JinjaValue, JinjaValue)] { Array(zip(keys, values)) }
}

/// jinja2's `namespace()`: the one mutable object templates can assign attributes on.
final class JinjaNamespace {
    var attrs = JinjaDict()
    init(_ attrs: JinjaDict) { self.attrs = attrs }
}

/// A macro (or the `caller` of a call block) closed over the scope it was defined in.
final class JinjaMacro {
    let name: String
    let params: [(String, Expr?)]
    let body: [Node]
    let scope: Scope
    /// The `caller` of a `{% call %}` block, when this macro is invoked from one.
    init(name: String, params: [(String, Expr?)], body: [Node], scope: Scope) {
        self.name = name
        self.params = params
        self.body = body
        self.scope = scope
    }
}

/// Errors raised while rendering; mapped onto `MIIError` at the API boundary with the line number.
enum JinjaError: Error {
    case type(String)          // a TypeError/ValueError/UndefinedError in jinja2
    case unsupported(String)   // something this interpreter does not implement
    case raised(String)        // raise_exception(message)
    case limit(String)         // a resource bound was hit
}

// MARK: - Printing

extension JinjaValue {
    /// Python `str()` of the value, which is what `{{ x }}` prints.
    func str() throws -> String {
        switch self {
        case .undefined: return ""
        case .string(let s): return s
        default:
            var out = ""
            try appendRepr(to: &out, depth: 0, top: true)
            return out
        }
    }

    /// Python `repr()`.
    func repr() throws -> String {
        var out = ""
        try appendRepr(to: &out, depth: 0, top: false)
        return out
    }

    private func appendRepr(to out: inout String, depth: Int, top: Bool) throws {
        guard depth < Limits.maxJinjaValueDepth else { throw JinjaError.limit("value nested too deeply to print") }
        switch self {
        case .undefined: out += top ? "" : "Undefined"
        case .none: out += "None"
        case .bool(let b): out += b ? "True" : "False"
        case .int(let i): out += String(i)
        case .float(let d): out += pythonFloat(d)
        case .string(let s): out += top ? s : pythonStringRepr(s)
        case .list(let a):
            out += "["
            for (i, v) in a.enumerated() {
                if i > 0 { out += ", " }
                try v.appendRepr(to: &out, depth: depth + 1, top: false)
                if out.utf8.count > Limits.maxJinjaOutputBytes { throw JinjaError.limit("output exceeds \(Limits.maxJinjaOutputBytes) bytes") }
            }
            out += "]"
        case .tuple(let a):
            out += "("
            for (i, v) in a.enumerated() {
                if i > 0 { out += ", " }
                try v.appendRepr(to: &out, depth: depth + 1, top: false)
            }
            out += a.count == 1 ? ",)" : ")"
        case .dict(let d):
            out += "{"
            for (i, (k, v)) in d.items.enumerated() {
                if i > 0 { out += ", " }
                try k.appendRepr(to: &out, depth: depth + 1, top: false)
                out += ": "
                try v.appendRepr(to: &out, depth: depth + 1, top: false)
                if out.utf8.count > Limits.maxJinjaOutputBytes { throw JinjaError.limit("output exceeds \(Limits.maxJinjaOutputBytes) bytes") }
            }
            out += "}"
        case .iterator(let a, let k):
            if k.isView {
                out += k.rawValue + "("
                try JinjaValue.list(a).appendRepr(to: &out, depth: depth + 1, top: false)
                out += ")"
            } else {
                out += "<\(k.rawValue) object>"
            }
        case .namespace(let n):
            out += "<Namespace "
            try JinjaValue.dict(n.attrs).appendRepr(to: &out, depth: depth + 1, top: false)
            out += ">"
        case .loop(let i, let items): out += "<LoopContext \(i + 1)/\(items.count)>"
        case .macro(let m): out += "<Macro '\(m.name)'>"
        case .builtin(let n): out += "<built-in function \(n)>"
        case .method(let r, let n): out += "<built-in method \(n) of \(r.typeName) object>"
        }
    }
}

/// Python's `repr(float)`: shortest round-trip digits; Swift's description uses the same notation.
func pythonFloat(_ d: Double) -> String {
    if d.isNaN { return "nan" }
    if d.isInfinite { return d < 0 ? "-inf" : "inf" }
    return d.description
}

/// Python's `repr(str)`: single quotes unless the text has ' and no ", with backslash escapes.
func pythonStringRepr(_ s: String) -> String {
    let useDouble = s.contains("'") && !s.contains("\"")
    let q: Character = useDouble ? "\"" : "'"
    let qb: UInt8 = useDouble ? 0x22 : 0x27
    if !s.utf8.contains(where: { $0 < 0x20 || $0 == 0x7f || $0 == 0x5c || $0 == qb }) {
        return String(q) + s + String(q)
    }
    var out = String(q)
    for u in s.unicodeScalars {
        switch u {
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default:
            if Character(u) == q {
                out += "\\"
                out.unicodeScalars.append(u)
            } else if u.value < 0x20 || u.value == 0x7f {
                out += "\\x" + hex(u.value, width: 2)
            } else {
                out.unicodeScalars.append(u)
            }
        }
    }
    out.append(q)
    return out
}

func hex(_ v: UInt32, width: Int) -> String {
    let digits = Array("0123456789abcdef")
    var s = ""
    var x = v
    repeat {
        s.append(digits[Int(x & 15)])
        x >>= 4
    } while x > 0
    while s.count < width { s.append("0") }
    return String(s.reversed())
}

// MARK: - Equality and ordering (Python semantics)

extension JinjaValue {
    func equals(_ other: JinjaValue) -> Bool {
        switch (self, other) {
        case (.undefined, .undefined), (.none, .none): return true
        case let (.string(a), .string(b)): return a.unicodeScalars.elementsEqual(b.unicodeScalars)
        case let (.list(a), .list(b)), let (.tuple(a), .tuple(b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.equals($1) }
        case let (.dict(a), .dict(b)):
            guard a.count == b.count else { return false }
            for (k, v) in a.items {
                guard let w = b.get(k), v.equals(w) else { return false }
            }
            return true
        case let (.namespace(a), .namespace(b)): return a === b
        case let (.macro(a), .macro(b)): return a === b
        case let (.builtin(a), .builtin(b)): return a == b
        default:
            if let x = number, let y = other.number {
                if let i = integer, let j = other.integer { return i == j }
                return x == y
            }
            return false
        }
    }

    /// Python's `<`; throws for unorderable types.
    func less(_ other: JinjaValue) throws -> Bool {
        switch (self, other) {
        case let (.string(a), .string(b)):
            return a.unicodeScalars.lexicographicallyPrecedes(b.unicodeScalars)
        case let (.list(a), .list(b)), let (.tuple(a), .tuple(b)):
            for (x, y) in zip(a, b) where !x.equals(y) { return try x.less(y) }
            return a.count < b.count
        default:
            if let i = integer, let j = other.integer { return i < j }
            if let x = number, let y = other.number { return x < y }
            if case .undefined(let m) = self { throw JinjaError.type(m) }
            if case .undefined(let m) = other { throw JinjaError.type(m) }
            throw JinjaError.type("'<' not supported between instances of '\(typeName)' and '\(other.typeName)'")
        }
    }
}

// MARK: - Conversion from the public JSON value

extension JinjaValue {
    init(_ json: JSONValue) {
        switch json {
        case .null: self = .none
        case .bool(let b): self = .bool(b)
        case .int(let i): self = Int(exactly: i).map { .int($0) } ?? .float(Double(i))
        case .number(let d): self = .float(d)
        case .string(let s): self = .string(s)
        case .array(let a): self = .list(a.map { JinjaValue($0) })
        case .object(let o):
            var d = JinjaDict()
            for (k, v) in o { d.set(k, JinjaValue(v)) }
            self = .dict(d)
        }
    }
}
