/// Typed, checked access to a Hugging Face `config.json` (or `generation_config.json`). Every getter
/// rejects values of the wrong JSON type with an error naming the key, so a malformed config gives a
/// clear message instead of a default silently taking over.
public struct HFConfig: Sendable {
    public let json: JSONValue
    /// What the messages call this file ("config.json").
    public let context: String
    private let fields: [String: JSONValue]

    public init(json: JSONValue, context: String) throws {
        guard let d = json.dictionary else {
            throw MIIError.format("\(context): the top level is \(json.typeName), expected an object")
        }
        self.json = json
        self.context = context
        self.fields = d
    }

    public init(bytes: [UInt8], context: String) throws {
        try self.init(json: JSONValue.parse(bytes, context: context), context: context)
    }

    /// The value of `key`, treating an explicit JSON null as absent.
    public subscript(key: String) -> JSONValue? {
        guard let v = fields[key], !v.isNull else { return nil }
        return v
    }

    public func has(_ key: String) -> Bool { self[key] != nil }

    public func int(_ key: String) throws -> Int? {
        guard let v = self[key] else { return nil }
        // Some writers store integral values as 1.0: accept exact integers only.
        if let i = v.int, let n = Int(exactly: i) { return n }
        if let d = v.double, d.rounded() == d, abs(d) < 9.0e15 { return Int(d) }
        throw MIIError.format("\(context): '\(key)' is \(v), expected an integer")
    }

    public func requireInt(_ key: String) throws -> Int {
        guard let v = try int(key) else { throw MIIError.format("\(context): '\(key)' is missing") }
        return v
    }

    /// The first of several alternative spellings (e.g. `n_embd` / `hidden_size`) that is present.
    public func requireInt(anyOf keys: [String]) throws -> Int {
        for k in keys { if let v = try int(k) { return v } }
        throw MIIError.format("\(context): none of \(keys.joined(separator: ", ")) is present")
    }

    public func int(anyOf keys: [String]) throws -> Int? {
        for k in keys { if let v = try int(k) { return v } }
        return nil
    }

    public func double(_ key: String) throws -> Double? {
        guard let v = self[key] else { return nil }
        guard let d = v.double, d.isFinite else {
            throw MIIError.format("\(context): '\(key)' is \(v), expected a number")
        }
        return d
    }

    public func double(anyOf keys: [String]) throws -> Double? {
        for k in keys { if let v = try double(k) { return v } }
        return nil
    }

    public func bool(_ key: String) throws -> Bool? {
        guard let v = self[key] else { return nil }
        guard let b = v.bool else { throw MIIError.format("\(context): '\(key)' is \(v), expected true or false") }
        return b
    }

    public func string(_ key: String) throws -> String? {
        guard let v = self[key] else { return nil }
        guard let s = v.string else { throw MIIError.format("\(context): '\(key)' is \(v), expected a string") }
        return s
    }

    public func object(_ key: String) throws -> HFConfig? {
        guard let v = self[key] else { return nil }
        return try HFConfig(json: v, context: "\(context): '\(key)'")
    }

    /// An integer or a list of integers (e.g. `eos_token_id`).
    public func intList(_ key: String) throws -> [Int] {
        guard let v = self[key] else { return [] }
        if let a = v.array {
            return try a.map { e in
                guard let i = e.int, let n = Int(exactly: i) else {
                    throw MIIError.format("\(context): '\(key)' holds \(e), expected integers")
                }
                return n
            }
        }
        guard let i = v.int, let n = Int(exactly: i) else {
            throw MIIError.format("\(context): '\(key)' is \(v), expected an integer or a list of integers")
        }
        return [n]
    }

    public func stringList(_ key: String) throws -> [String] {
        guard let v = self[key] else { return [] }
        guard let a = v.array else { throw MIIError.format("\(context): '\(key)' is \(v), expected a list of strings") }
        return try a.map { e in
            guard let s = e.string else { throw MIIError.format("\(context): '\(key)' holds \(e), expected strings") }
            return s
        }
    }

    public var keys: [String] { fields.keys.sorted() }
}
