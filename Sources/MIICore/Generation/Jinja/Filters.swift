/// jinja2's built-in filters and tests, Python's str/dict/list methods, and transformers' `tojson`
/// (json.dumps with ensure_ascii=False), as chat templates use them.
extension JinjaInterpreter {
    // MARK: - Filters

    func applyFilter(_ name: String, _ v: JinjaValue, _ args: CallArgs, _ scope: Scope) throws -> JinjaValue {
        try tick()
        let a = args
        switch name {
        case "default", "d":
            let def = a.arg(0, "default_value") ?? .string("")
            let boolean = a.arg(1, "boolean")?.truthy ?? false
            if v.isUndefined || (boolean && !v.truthy) { return def }
            return v
        case "length", "count":
            return .int(try length(v))
        case "string":
            return .string(try v.str())
        case "safe":
            return .string(try v.str())
        case "e", "escape", "forceescape":
            return try checked(.string(htmlEscape(try v.str())))
        case "upper":
            return .string(ScalarText.upper(try v.str()))
        case "lower":
            return .string(ScalarText.lower(try v.str()))
        case "capitalize":
            return .string(ScalarText.capitalize(try v.str()))
        case "title":
            return .string(ScalarText.jinjaTitle(try v.str()))
        case "trim":
            let chars = try optionalString(a.arg(0, "chars"))
            return .string(ScalarText.strip(try v.str(), chars, left: true, right: true))
        case "replace":
            guard let old = a.arg(0, "old"), let new = a.arg(1, "new") else { throw JinjaError.type("replace expects old and new") }
            let count = try a.arg(2, "count").map { try intArg($0, "count") } ?? -1
            return .string(try ScalarText.replace(try v.str(), try old.str(), try new.str(), count))
        case "join":
            var items = try iterate(v)
            if let attr = a.kw("attribute") { items = try items.map { try attribute($0, attr) } }
            let sep = try a.arg(0, "d")?.str() ?? ""
            var out = ""
            for (i, x) in items.enumerated() {
                if i > 0 { out += sep }
                out += try x.str()
                if out.utf8.count > Limits.maxJinjaOutputBytes { throw JinjaError.limit("a string exceeds \(Limits.maxJinjaOutputBytes) bytes") }
            }
            return .string(out)
        case "first":
            if case .string(let s) = v { return s.unicodeScalars.first.map { .string(String($0)) } ?? .undefined("No first item, sequence was empty.") }
            return try iterate(v).first ?? .undefined("No first item, sequence was empty.")
        case "last":
            if case .string(let s) = v { return s.unicodeScalars.last.map { .string(String($0)) } ?? .undefined("No last item, sequence was empty.") }
            return try iterate(v).last ?? .undefined("No last item, sequence was empty.")
        case "list":
            return .list(try iterate(v))
        case "reverse":
            if case .string(let s) = v { return .string(String(String.UnicodeScalarView(s.unicodeScalars.reversed()))) }
            return .iterator(try iterate(v).reversed(), .reverseIterator)
        case "items":
            if v.isUndefined { return .list([]) }
            guard case .dict(let d) = v else { throw JinjaError.type("Can only get item pairs from a mapping.") }
            return .iterator(d.items.map { .tuple([$0.0, $0.1]) }, .generator)
        case "dictsort":
            guard case .dict(let d) = v else { throw JinjaError.type("dictsort expects a mapping") }
            let caseSensitive = a.arg(0, "case_sensitive")?.truthy ?? false
            let by = try a.arg(1, "by")?.str() ?? "key"
            let reverse = a.arg(2, "reverse")?.truthy ?? false
            guard by == "key" || by == "value" else { throw JinjaError.type("You can only sort by either \"key\" or \"value\"") }
            let pairs = d.items.map { JinjaValue.tuple([$0.0, $0.1]) }
            return .list(try sortValues(pairs, reverse: reverse) { p in
                guard case .tuple(let kv) = p else { return p }
                let x = by == "key" ? kv[0] : kv[1]
                return caseSensitive ? x : self.foldCase(x)
            })
        case "sort":
            let reverse = a.arg(0, "reverse")?.truthy ?? false
            let caseSensitive = a.arg(1, "case_sensitive")?.truthy ?? false
            let attr = a.arg(2, "attribute")
            return .list(try sortValues(try iterate(v), reverse: reverse) { x in
                let k = try attr.map { try self.attribute(x, $0) } ?? x
                return caseSensitive ? k : self.foldCase(k)
            })
        case "unique":
            let caseSensitive = a.arg(0, "case_sensitive")?.truthy ?? false
            let attr = a.arg(1, "attribute")
            var seen = Set<JinjaKey>()
            var out: [JinjaValue] = []
            for x in try iterate(v) {
                var k = try attr.map { try attribute(x, $0) } ?? x
                if !caseSensitive { k = foldCase(k) }
                if seen.insert(try JinjaKey(k)).inserted { out.append(x) }
            }
            return .iterator(out, .generator)
        case "min", "max":
            let caseSensitive = a.arg(0, "case_sensitive")?.truthy ?? false
            let attr = a.arg(1, "attribute")
            let sorted = try sortValues(try iterate(v), reverse: false) { x in
                let k = try attr.map { try self.attribute(x, $0) } ?? x
                return caseSensitive ? k : self.foldCase(k)
            }
            let r = name == "min" ? sorted.first : sorted.last
            return r ?? .undefined("No aggregated item, sequence was empty.")
        case "sum":
            let attr = a.arg(0, "attribute")
            var total = a.arg(1, "start") ?? .int(0)
            for x in try iterate(v) {
                total = try binary(.add, total, try attr.map { try attribute(x, $0) } ?? x)
            }
            return total
        case "map":
            let items = v.truthy ? try iterate(v) : []
            if let attr = a.kw("attribute") {
                let def = a.kw("default")
                return .iterator(try items.map { x in
                    let r = try attribute(x, attr)
                    if r.isUndefined, let def { return def }
                    return r
                }, .generator)
            }
            guard let f = a.positional.first else { return .iterator(items, .generator) }
            let filterName = try f.str()
            let rest = CallArgs(positional: Array(a.positional.dropFirst()), keyword: a.keyword)
            return .iterator(try items.map { try applyFilter(filterName, $0, rest, scope) }, .generator)
        case "select", "reject":
            let keep = name == "select"
            let items = v.truthy ? try iterate(v) : []
            guard let t = a.positional.first else { return .iterator(items.filter { $0.truthy == keep }, .generator) }
            let testName = try t.str()
            let rest = Array(a.positional.dropFirst())
            return .iterator(try items.filter { try applyTest(testName, $0, rest, scope) == keep }, .generator)
        case "selectattr", "rejectattr":
            let keep = name == "selectattr"
            guard let attr = a.positional.first else { throw JinjaError.type("\(name) expects an attribute name") }
            let items = v.truthy ? try iterate(v) : []
            if a.positional.count < 2 { return .iterator(try items.filter { try attribute($0, attr).truthy == keep }, .generator) }
            let testName = try a.positional[1].str()
            let rest = Array(a.positional.dropFirst(2))
            return .iterator(try items.filter { try applyTest(testName, try attribute($0, attr), rest, scope) == keep }, .generator)
        case "attr":
            guard let n = a.positional.first else { throw JinjaError.type("attr expects a name") }
            let key = try n.str()
            switch v {
            case .namespace, .string, .list, .tuple: return try getAttr(v, key)
            case .dict: return JinjaInterpreter.dictMethods.contains(key) ? .method(v, key) : .undefined("'dict object' has no attribute '\(key)'")
            default: return .undefined("'\(v.typeName) object' has no attribute '\(key)'")
            }
        case "batch":
            guard let c = a.arg(0, "linecount"), let size = c.integer, size > 0 else { throw JinjaError.type("batch expects a positive size") }
            let fill = a.arg(1, "fill_with")
            var out: [JinjaValue] = []
            var cur: [JinjaValue] = []
            for x in try iterate(v) {
                cur.append(x)
                if cur.count == size { out.append(.list(cur)); cur = [] }
            }
            if !cur.isEmpty {
                if let fill, !fill.isNone { while cur.count < size { cur.append(fill) } }
                out.append(.list(cur))
            }
            return .iterator(out, .generator)
        case "int":
            let def = a.arg(0, "default") ?? .int(0)
            let base = try a.arg(1, "base").map { try intArg($0, "base") } ?? 10
            return toInt(v, base: base) ?? def
        case "float":
            let def = a.arg(0, "default") ?? .float(0)
            return toFloat(v).map { .float($0) } ?? def
        case "abs":
            switch v {
            case .int(let i):
                guard i != Int.min else { throw JinjaError.limit("integer overflow") }
                return .int(abs(i))
            case .bool(let b): return .int(b ? 1 : 0)
            case .float(let d): return .float(abs(d))
            default: throw JinjaError.type("bad operand type for abs(): '\(v.typeName)'")
            }
        case "round":
            let precision = try a.arg(0, "precision").map { try intArg($0, "precision") } ?? 0
            let method = try a.arg(1, "method")?.str() ?? "common"
            guard let x = v.number else { throw JinjaError.type("type \(v.typeName) doesn't define __round__ method") }
            guard precision >= -300 && precision <= 300 else { return v }
            var scale = 1.0
            for _ in 0..<abs(precision) { scale *= 10 }
            let scaled = precision >= 0 ? x * scale : x / scale
            let r: Double
            switch method {
            case "common": r = scaled.rounded(.toNearestOrEven)
            case "ceil": r = scaled.rounded(.up)
            case "floor": r = scaled.rounded(.down)
            default: throw JinjaError.type("method must be common, ceil or floor")
            }
            let result = precision >= 0 ? r / scale : r * scale
            if method == "common", case .int = v { return .int(Int(exactly: result) ?? 0) }
            return .float(result)
        case "tojson":
            return try checked(.string(try toJSON(v, args: a)))
        case "indent":
            let widthArg = a.arg(0, "width") ?? .int(4)
            let indention: String
            if case .string(let s) = widthArg { indention = s } else { indention = String(repeating: " ", count: max(0, min(try intArg(widthArg, "width"), 1024))) }
            let first = a.arg(1, "first")?.truthy ?? false
            let blank = a.arg(2, "blank")?.truthy ?? false
            let lines = ScalarText.splitlines(try v.str() + "\n", keepends: false)
            var out = ""
            for (i, l) in lines.enumerated() {
                if i > 0 { out += "\n" + (blank || !l.isEmpty ? indention : "") }
                out += l
                if out.utf8.count > Limits.maxJinjaOutputBytes { throw JinjaError.limit("a string exceeds \(Limits.maxJinjaOutputBytes) bytes") }
            }
            if first { out = indention + out }
            return .string(out)
        case "wordcount":
            var n = 0
            var inWord = false
            for u in try v.str().unicodeScalars {
                let w = ScalarText.isWordChar(u)
                if w && !inWord { n += 1 }
                inWord = w
            }
            return .int(n)
        case "center":
            let width = try a.arg(0, "width").map { try intArg($0, "width") } ?? 80
            return try checked(.string(pad(try v.str(), width, "center", " ")))
        case "format":
            let fmt = try v.str()
            if !a.keyword.isEmpty {
                var d = JinjaDict()
                for (k, x) in a.keyword { d.set(k, x) }
                return try checked(.string(try percentFormat(fmt, .dict(d))))
            }
            return try checked(.string(try percentFormat(fmt, .tuple(a.positional))))
        default:
            if Self.unimplementedJinjaFilters.contains(name) {
                throw JinjaError.unsupported("the '\(name)' filter is not supported")
            }
            throw JinjaError.type("no filter named '\(name)'")
        }
    }

    static let unimplementedJinjaFilters: Set<String> = [
        "filesizeformat", "groupby", "pprint", "random", "slice", "striptags", "truncate", "urlencode", "urlize",
        "wordwrap", "xmlattr",
    ]

    func length(_ v: JinjaValue) throws -> Int {
        switch v {
        case .string(let s): return s.unicodeScalars.count
        case .list(let a), .tuple(let a): return a.count
        case .dict(let d): return d.count
        case .iterator(let a, let k) where k.isView: return a.count
        case .undefined: return 0
        default: throw JinjaError.type("object of type '\(v.typeName)' has no len()")
        }
    }

    private func optionalString(_ v: JinjaValue?) throws -> String? {
        guard let v, !v.isNone else { return nil }
        return try v.str()
    }

    func intArg(_ v: JinjaValue, _ what: String) throws -> Int {
        guard let i = v.integer else { throw JinjaError.type("'\(what)' must be an integer, not \(v.typeName)") }
        return i
    }

    /// jinja2's attribute getter: "a.b.0" looks up each dotted part, digits as indices.
    func attribute(_ v: JinjaValue, _ attr: JinjaValue) throws -> JinjaValue {
        if let i = attr.integer { return try getItem(v, .int(i)) }
        var cur = v
        for part in ScalarText.split(try attr.str(), ".", -1) {
            if let i = Int(part) { cur = try getItem(cur, .int(i)) } else { cur = try getItem(cur, .string(part)) }
        }
        return cur
    }

    func foldCase(_ v: JinjaValue) -> JinjaValue {
        if case .string(let s) = v { return .string(ScalarText.lower(s)) }
        return v
    }

    /// A stable sort by a derived key, with Python's ordering (errors for mixed types).
    func sortValues(_ items: [JinjaValue], reverse: Bool, key: (JinjaValue) throws -> JinjaValue) throws -> [JinjaValue] {
        let keyed = try items.enumerated().map { ($0.offset, try key($0.element), $0.element) }
        var failure: Error? = nil
        let sorted = keyed.sorted { x, y in
            if failure != nil { return false }
            do {
                if try x.1.less(y.1) { return !reverse }
                if try y.1.less(x.1) { return reverse }
            } catch {
                failure = error
                return false
            }
            return x.0 < y.0
        }
        if let failure { throw failure }
        return sorted.map { $0.2 }
    }

    func toInt(_ v: JinjaValue, base: Int) -> JinjaValue? {
        switch v {
        case .int, .bool: return .int(v.integer ?? 0)
        case .float(let d):
            guard d.isFinite, abs(d) < 9.2e18 else { return nil }
            return .int(Int(d.rounded(.towardZero)))
        case .string(let s):
            var t = ScalarText.strip(s, nil, left: true, right: true)
            t = t.replacingUnderscoresBetweenDigits()
            var b = base
            var neg = false
            if t.hasPrefix("-") { neg = true; t.removeFirst() } else if t.hasPrefix("+") { t.removeFirst() }
            let lower = t.lowercased()
            if (b == 16 || b == 0), lower.hasPrefix("0x") { t.removeFirst(2); b = 16 }
            else if (b == 8 || b == 0), lower.hasPrefix("0o") { t.removeFirst(2); b = 8 }
            else if (b == 2 || b == 0), lower.hasPrefix("0b") { t.removeFirst(2); b = 2 }
            if b == 0 { b = 10 }
            if b >= 2 && b <= 36, let i = Int(t, radix: b) { return .int(neg ? -i : i) }
            if let d = toFloat(v), d.isFinite, abs(d) < 9.2e18 { return .int(Int(d.rounded(.towardZero))) }
            return nil
        default:
            return nil
        }
    }

    func toFloat(_ v: JinjaValue) -> Double? {
        switch v {
        case .int, .bool, .float: return v.number
        case .string(let s):
            let t = ScalarText.strip(s, nil, left: true, right: true).replacingUnderscoresBetweenDigits()
            switch t.lowercased() {
            case "inf", "+inf", "infinity", "+infinity": return .infinity
            case "-inf", "-infinity": return -.infinity
            case "nan", "+nan", "-nan": return .nan
            default: break
            }
            guard !t.isEmpty, t.unicodeScalars.allSatisfy({ "0123456789+-.eE".unicodeScalars.contains($0) }) else { return nil }
            return Double(t)
        default:
            return nil
        }
    }

    func htmlEscape(_ s: String) -> String {
        var out = ""
        for u in s.unicodeScalars {
            switch u {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&#34;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(u)
            }
        }
        return out
    }

    func pad(_ s: String, _ width: Int, _ mode: String, _ fill: String) -> String {
        let n = s.unicodeScalars.count
        let w = min(width, Limits.maxJinjaOutputBytes)
        guard w > n else { return s }
        let marg = w - n
        switch mode {
        case "ljust": return s + String(repeating: fill, count: marg)
        case "rjust": return String(repeating: fill, count: marg) + s
        default:
            let left = marg / 2 + (marg & w & 1)
            return String(repeating: fill, count: left) + s + String(repeating: fill, count: marg - left)
        }
    }

    // MARK: - Tests

    func applyTest(_ name: String, _ v: JinjaValue, _ args: [JinjaValue], _ scope: Scope) throws -> Bool {
        func arg() throws -> JinjaValue {
            guard let a = args.first else { throw JinjaError.type("test '\(name)' expects an argument") }
            return a
        }
        switch name {
        case "defined": return !v.isUndefined
        case "undefined": return v.isUndefined
        case "none": return v.isNone
        case "boolean": if case .bool = v { return true } else { return false }
        case "true": if case .bool(true) = v { return true } else { return false }
        case "false": if case .bool(false) = v { return true } else { return false }
        case "integer": if case .int = v { return true } else { return false }
        case "float": if case .float = v { return true } else { return false }
        case "number": return v.number != nil
        case "string": if case .string = v { return true } else { return false }
        case "mapping": if case .dict = v { return true } else { return false }
        case "iterable", "sequence":
            switch v {
            case .list, .tuple, .dict, .string, .undefined: return true
            case .iterator: return name == "iterable"
            default: return false
            }
        case "callable":
            switch v {
            case .macro, .builtin, .method: return true
            default: return false
            }
        case "odd", "even":
            if case .undefined(let m) = v { throw JinjaError.type(m) }
            guard let i = v.integer else { throw JinjaError.type("test '\(name)' expects an integer") }
            return (i & 1 == 1) == (name == "odd")
        case "divisibleby":
            guard let i = v.integer, let j = try arg().integer else { throw JinjaError.type("divisibleby expects integers") }
            guard j != 0 else { throw JinjaError.type("integer division or modulo by zero") }
            return i % j == 0
        case "eq", "equalto", "==": return v.equals(try arg())
        case "ne", "!=": return !v.equals(try arg())
        case "lt", "lessthan", "<": return try v.less(try arg())
        case "le", "<=": return try compare(.le, v, try arg())
        case "gt", "greaterthan", ">": return try compare(.gt, v, try arg())
        case "ge", ">=": return try compare(.ge, v, try arg())
        case "in": return try contains(try arg(), v)
        case "sameas":
            let o = try arg()
            switch (v, o) {
            case (.none, .none): return true
            case let (.bool(x), .bool(y)): return x == y
            case let (.namespace(x), .namespace(y)): return x === y
            default: return false
            }
        case "lower":
            let s = try v.str()
            return s == ScalarText.lower(s) && s != ScalarText.upper(s)
        case "upper":
            let s = try v.str()
            return s == ScalarText.upper(s) && s != ScalarText.lower(s)
        case "escaped": return false
        default:
            throw JinjaError.type("no test named '\(name)'")
        }
    }

    // MARK: - Methods

    func callMethod(_ recv: JinjaValue, _ name: String, _ a: CallArgs) throws -> JinjaValue {
        try tick()
        switch recv {
        case .string(let s): return try stringMethod(s, name, a)
        case .dict(let d):
            switch name {
            case "get":
                guard let k = a.arg(0, "key") else { throw JinjaError.type("get expected at least 1 argument") }
                return d.get(k) ?? a.arg(1, "default") ?? .none
            case "items": return .iterator(d.items.map { .tuple([$0.0, $0.1]) }, .dictItems)
            case "keys": return .iterator(d.keys, .dictKeys)
            case "values": return .iterator(d.values, .dictValues)
            case "copy": return recv
            default: throw JinjaError.type("access to attribute '\(name)' of 'dict' object is unsafe (templates cannot modify their inputs)")
            }
        case .list(let l), .tuple(let l):
            switch name {
            case "index":
                guard let x = a.positional.first else { throw JinjaError.type("index expected an argument") }
                guard let i = l.firstIndex(where: { $0.equals(x) }) else { throw JinjaError.type("\((try? x.repr()) ?? "value") is not in list") }
                return .int(i)
            case "count":
                guard let x = a.positional.first else { throw JinjaError.type("count expected an argument") }
                return .int(l.filter { $0.equals(x) }.count)
            case "copy": return recv
            default: throw JinjaError.type("access to attribute '\(name)' of '\(recv.typeName)' object is unsafe (templates cannot modify their inputs)")
            }
        case .loop(let i, _) where name == "cycle":
            guard !a.positional.isEmpty else { throw JinjaError.type("no items for cycling given") }
            return a.positional[i % a.positional.count]
        default:
            throw JinjaError.type("'\(recv.typeName)' object has no method '\(name)'")
        }
    }

    private func stringMethod(_ s: String, _ name: String, _ a: CallArgs) throws -> JinjaValue {
        func str(_ i: Int, _ n: String) throws -> String? {
            guard let v = a.arg(i, n), !v.isNone else { return nil }
            guard case .string(let x) = v else { throw JinjaError.type("\(name)() argument must be str, not \(v.typeName)") }
            return x
        }
        func int(_ i: Int, _ n: String, _ def: Int) throws -> Int {
            guard let v = a.arg(i, n) else { return def }
            return try intArg(v, n)
        }
        func affixes() throws -> [String] {
            guard let v = a.positional.first else { throw JinjaError.type("\(name)() takes at least 1 argument") }
            switch v {
            case .string(let x): return [x]
            case .tuple(let t), .list(let t):
                return try t.map { guard case .string(let x) = $0 else { throw JinjaError.type("tuple for \(name) must only contain str") }; return x }
            default: throw JinjaError.type("\(name) first arg must be str or a tuple of str, not \(v.typeName)")
            }
        }
        switch name {
        case "strip": return .string(ScalarText.strip(s, try str(0, "chars"), left: true, right: true))
        case "lstrip": return .string(ScalarText.strip(s, try str(0, "chars"), left: true, right: false))
        case "rstrip": return .string(ScalarText.strip(s, try str(0, "chars"), left: false, right: true))
        case "split", "rsplit":
            let sep = try str(0, "sep")
            if sep == "" { throw JinjaError.type("empty separator") }
            let max = try int(1, "maxsplit", -1)
            let parts = name == "split" ? ScalarText.split(s, sep, max) : ScalarText.rsplit(s, sep, max)
            return .list(parts.map { .string($0) })
        case "splitlines":
            return .list(ScalarText.splitlines(s, keepends: a.arg(0, "keepends")?.truthy ?? false).map { .string($0) })
        case "startswith": return .bool(try affixes().contains { ScalarText.startsWith(s, $0) })
        case "endswith": return .bool(try affixes().contains { ScalarText.endsWith(s, $0) })
        case "upper": return .string(ScalarText.upper(s))
        case "lower", "casefold": return .string(ScalarText.lower(s))
        case "title": return .string(ScalarText.pyTitle(s))
        case "capitalize": return .string(ScalarText.capitalize(s))
        case "swapcase":
            var out = ""
            for u in s.unicodeScalars {
                out += u.properties.isUppercase ? String(u).lowercased() : u.properties.isLowercase ? String(u).uppercased() : String(u)
            }
            return .string(out)
        case "replace":
            guard let old = try str(0, "old"), let new = try str(1, "new") else { throw JinjaError.type("replace expected 2 arguments") }
            return .string(try ScalarText.replace(s, old, new, try int(2, "count", -1)))
        case "format":
            return try checked(.string(try pyFormat(s, a)))
        case "join":
            guard let v = a.positional.first else { throw JinjaError.type("join() takes exactly one argument") }
            var out = ""
            for (i, x) in try iterate(v).enumerated() {
                guard case .string(let t) = x else { throw JinjaError.type("sequence item \(i): expected str instance, \(x.typeName) found") }
                if i > 0 { out += s }
                out += t
                if out.utf8.count > Limits.maxJinjaOutputBytes { throw JinjaError.limit("a string exceeds \(Limits.maxJinjaOutputBytes) bytes") }
            }
            return .string(out)
        case "find", "rfind", "index", "rindex", "count":
            guard let sub = try str(0, "sub") else { throw JinjaError.type("\(name)() takes at least 1 argument") }
            let hits = ScalarText.findAll(Array(s.unicodeScalars), Array(sub.unicodeScalars))
            if name == "count" { return .int(hits.count) }
            let r = name.hasSuffix("find") || name == "index"
                ? (name.hasPrefix("r") ? lastOccurrence(s, sub) : hits.first)
                : lastOccurrence(s, sub)
            if let r { return .int(r) }
            if name.hasSuffix("index") { throw JinjaError.type("substring not found") }
            return .int(-1)
        case "isdigit", "isdecimal", "isnumeric":
            return .bool(!s.isEmpty && s.unicodeScalars.allSatisfy { $0.properties.numericType != nil })
        case "isalpha": return .bool(!s.isEmpty && s.unicodeScalars.allSatisfy { $0.properties.isAlphabetic })
        case "isalnum":
            return .bool(!s.isEmpty && s.unicodeScalars.allSatisfy { $0.properties.isAlphabetic || $0.properties.numericType != nil })
        case "isspace": return .bool(!s.isEmpty && s.unicodeScalars.allSatisfy(ScalarText.isSpace))
        case "isupper": return .bool(s.unicodeScalars.contains { $0.properties.isCased } && s == ScalarText.upper(s))
        case "islower": return .bool(s.unicodeScalars.contains { $0.properties.isCased } && s == ScalarText.lower(s))
        case "removeprefix":
            guard let p = try str(0, "prefix") else { throw JinjaError.type("removeprefix() takes exactly one argument") }
            return .string(ScalarText.startsWith(s, p) ? ScalarText.string(Array(s.unicodeScalars.dropFirst(p.unicodeScalars.count))) : s)
        case "removesuffix":
            guard let p = try str(0, "suffix") else { throw JinjaError.type("removesuffix() takes exactly one argument") }
            return .string(ScalarText.endsWith(s, p) && !p.isEmpty ? ScalarText.string(Array(s.unicodeScalars.dropLast(p.unicodeScalars.count))) : s)
        case "partition", "rpartition":
            guard let sep = try str(0, "sep"), !sep.isEmpty else { throw JinjaError.type("empty separator") }
            let parts = name == "partition" ? ScalarText.split(s, sep, 1) : ScalarText.rsplit(s, sep, 1)
            if parts.count == 2 { return .tuple([.string(parts[0]), .string(sep), .string(parts[1])]) }
            return name == "partition" ? .tuple([.string(s), .string(""), .string("")]) : .tuple([.string(""), .string(""), .string(s)])
        case "center", "ljust", "rjust":
            let fill = try str(1, "fillchar") ?? " "
            guard fill.unicodeScalars.count == 1 else { throw JinjaError.type("The fill character must be exactly one character long") }
            return try checked(.string(pad(s, try int(0, "width", 0), name, fill)))
        case "zfill":
            let w = try int(0, "width", 0)
            let n = s.unicodeScalars.count
            guard w > n else { return .string(s) }
            let zeros = String(repeating: "0", count: min(w - n, Limits.maxJinjaOutputBytes))
            if let f = s.unicodeScalars.first, f == "-" || f == "+" {
                return .string(String(f) + zeros + String(String.UnicodeScalarView(s.unicodeScalars.dropFirst())))
            }
            return .string(zeros + s)
        default:
            throw JinjaError.type("'str' object has no attribute '\(name)'")
        }
    }

    private func lastOccurrence(_ s: String, _ sub: String) -> Int? {
        let u = Array(s.unicodeScalars), n = Array(sub.unicodeScalars)
        let r = ScalarText.find(Array(u.reversed()), Array(n.reversed()), from: 0)
        return r.map { u.count - $0 - n.count }
    }

    /// Python's `str.format` for `{}`, `{0}`, `{name}`, `{x.attr}`, `{x[key]}` with `!r`/`!s` and
    /// the simple format specs (fill/align/width).
    private func pyFormat(_ fmt: String, _ a: CallArgs) throws -> String {
        let u = Array(fmt.unicodeScalars)
        var out = ""
        var i = 0
        var auto = 0
        while i < u.count {
            let c = u[i]
            if c == "}" {
                guard i + 1 < u.count, u[i + 1] == "}" else { throw JinjaError.type("Single '}' encountered in format string") }
                out += "}"
                i += 2
                continue
            }
            guard c == "{" else { out.unicodeScalars.append(c); i += 1; continue }
            if i + 1 < u.count, u[i + 1] == "{" { out += "{"; i += 2; continue }
            var j = i + 1
            var field = ""
            var nest = 0
            while j < u.count {
                if u[j] == "[" { nest += 1 } else if u[j] == "]" { nest -= 1 }
                if u[j] == "}" && nest <= 0 { break }
                field.unicodeScalars.append(u[j])
                j += 1
            }
            guard j < u.count else { throw JinjaError.type("expected '}' before end of string") }
            i = j + 1
            var spec = ""
            var conv: String? = nil
            if let colon = field.firstIndex(of: ":") {
                spec = String(field[field.index(after: colon)...])
                field = String(field[..<colon])
            }
            if let bang = field.firstIndex(of: "!") {
                conv = String(field[field.index(after: bang)...])
                field = String(field[..<bang])
            }
            // Split the head (name or index) from the accessors.
            var head = ""
            var rest = Substring(field)
            while let f = rest.first, f != ".", f != "[" { head.append(f); rest.removeFirst() }
            var v: JinjaValue
            if head.isEmpty {
                guard auto < a.positional.count else { throw JinjaError.type("Replacement index \(auto) out of range for positional args tuple") }
                v = a.positional[auto]
                auto += 1
            } else if let n = Int(head) {
                guard n >= 0, n < a.positional.count else { throw JinjaError.type("Replacement index \(n) out of range for positional args tuple") }
                v = a.positional[n]
            } else {
                guard let x = a.kw(head) else { throw JinjaError.type("KeyError: '\(head)'") }
                v = x
            }
            while let f = rest.first {
                rest.removeFirst()
                if f == "." {
                    var name = ""
                    while let g = rest.first, g != ".", g != "[" { name.append(g); rest.removeFirst() }
                    v = try getAttr(v, name)
                } else {
                    var key = ""
                    while let g = rest.first, g != "]" { key.append(g); rest.removeFirst() }
                    if !rest.isEmpty { rest.removeFirst() }
                    v = try getItem(v, Int(key).map { .int($0) } ?? .string(key))
                }
            }
            var text: String
            switch conv {
            case nil, "s": text = try v.str()
            case "r": text = try v.repr()
            default: throw JinjaError.unsupported("format conversion !\(conv ?? "")")
            }
            if !spec.isEmpty { text = try applySpec(text, spec, numeric: v.number != nil) }
            out += text
            if out.utf8.count > Limits.maxJinjaOutputBytes { throw JinjaError.limit("a string exceeds \(Limits.maxJinjaOutputBytes) bytes") }
        }
        return out
    }

    private func applySpec(_ text: String, _ spec: String, numeric: Bool) throws -> String {
        var u = Array(spec.unicodeScalars)[...]
        var fill = " "
        var align: Unicode.Scalar? = nil
        if u.count >= 2, "<>^".unicodeScalars.contains(u[u.startIndex + 1]) {
            fill = String(u[u.startIndex])
            align = u[u.startIndex + 1]
            u = u.dropFirst(2)
        } else if let f = u.first, "<>^".unicodeScalars.contains(f) {
            align = f
            u = u.dropFirst()
        }
        let digits = String(String.UnicodeScalarView(u))
        guard let w = digits.isEmpty ? 0 : Int(digits) else {
            throw JinjaError.unsupported("format spec '\(spec)' is not supported")
        }
        guard w <= Limits.maxJinjaOutputBytes else { throw JinjaError.limit("a string exceeds \(Limits.maxJinjaOutputBytes) bytes") }
        let width = w
        let mode: String
        switch align {
        case "<": mode = "ljust"
        case ">": mode = "rjust"
        case "^": mode = "center"
        default: mode = numeric ? "rjust" : "ljust"
        }
        if mode == "center" {
            let n = text.unicodeScalars.count
            guard width > n else { return text }
            let left = (width - n) / 2
            return String(repeating: fill, count: left) + text + String(repeating: fill, count: width - n - left)
        }
        return pad(text, width, mode, fill)
    }

    // MARK: - tojson

    /// transformers' tojson: `json.dumps(x, ensure_ascii=False, indent=indent, separators=separators,
    /// sort_keys=sort_keys)`.
    func toJSON(_ v: JinjaValue, args: CallArgs) throws -> String {
        var indent: String? = nil
        if let i = args.arg(0, "indent"), !i.isNone {
            if case .string(let s) = i { indent = s } else { indent = String(repeating: " ", count: max(0, min(try intArg(i, "indent"), 64))) }
        }
        let ensureAscii = args.kw("ensure_ascii")?.truthy ?? false
        let sortKeys = args.kw("sort_keys")?.truthy ?? false
        var itemSep = indent == nil ? ", " : ","
        var keySep = ": "
        if let sep = args.kw("separators"), !sep.isNone {
            let parts = try iterate(sep)
            guard parts.count == 2 else { throw JinjaError.type("separators must be a pair of strings") }
            itemSep = try parts[0].str()
            keySep = try parts[1].str()
        }
        var out = ""
        try writeJSON(v, indent: indent, itemSep: itemSep, keySep: keySep, sortKeys: sortKeys, ascii: ensureAscii, level: 0, into: &out)
        return out
    }

    private func writeJSON(_ v: JinjaValue, indent: String?, itemSep: String, keySep: String, sortKeys: Bool, ascii: Bool,
                           level: Int, into out: inout String) throws {
        guard level < Limits.maxJinjaValueDepth else { throw JinjaError.limit("value nested too deeply for tojson") }
        try tick()
        if out.utf8.count > Limits.maxJinjaOutputBytes { throw JinjaError.limit("a string exceeds \(Limits.maxJinjaOutputBytes) bytes") }
        func newline(_ l: Int) {
            guard let indent else { return }
            out += "\n"
            for _ in 0..<l { out += indent }
        }
        switch v {
        case .none: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .float(let d): out += jsonFloat(d)
        case .string(let s): appendJSONString(s, ascii: ascii, into: &out)
        case .list(let a), .tuple(let a):
            if a.isEmpty { out += "[]"; return }
            out += "["
            for (i, x) in a.enumerated() {
                if i > 0 { out += itemSep }
                newline(level + 1)
                try writeJSON(x, indent: indent, itemSep: itemSep, keySep: keySep, sortKeys: sortKeys, ascii: ascii, level: level + 1, into: &out)
            }
            newline(level)
            out += "]"
        case .dict(let d):
            if d.count == 0 { out += "{}"; return }
            var pairs: [(String, JinjaValue)] = []
            for (k, x) in d.items {
                let key: String
                switch k {
                case .string(let s): key = s
                case .int(let i): key = String(i)
                case .float(let f): key = jsonFloat(f)
                case .bool(let b): key = b ? "true" : "false"
                case .none: key = "null"
                default: throw JinjaError.type("keys must be str, int, float, bool or None, not \(k.typeName)")
                }
                pairs.append((key, x))
            }
            if sortKeys {
                pairs = pairs.enumerated().sorted { x, y in
                    let a = x.element.0.unicodeScalars, b = y.element.0.unicodeScalars
                    if a.elementsEqual(b) { return x.offset < y.offset }
                    return a.lexicographicallyPrecedes(b)
                }.map { $0.element }
            }
            out += "{"
            for (i, (k, x)) in pairs.enumerated() {
                if i > 0 { out += itemSep }
                newline(level + 1)
                appendJSONString(k, ascii: ascii, into: &out)
                out += keySep
                try writeJSON(x, indent: indent, itemSep: itemSep, keySep: keySep, sortKeys: sortKeys, ascii: ascii, level: level + 1, into: &out)
            }
            newline(level)
            out += "}"
        case .undefined(let m):
            _ = m
            throw JinjaError.type("Object of type Undefined is not JSON serializable")
        default:
            throw JinjaError.type("Object of type \(v.typeName) is not JSON serializable")
        }
    }

    private func jsonFloat(_ d: Double) -> String {
        if d.isNaN { return "NaN" }
        if d.isInfinite { return d < 0 ? "-Infinity" : "Infinity" }
        return pythonFloat(d)
    }

    private func appendJSONString(_ s: String, ascii: Bool, into out: inout String) {
        out += "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if u.value < 0x20 {
                    out += "\\u" + hex(u.value, width: 4)
                } else if ascii && u.value > 0x7F {
                    if u.value > 0xFFFF {
                        let v = u.value - 0x10000
                        out += "\\u" + hex(0xD800 + (v >> 10), width: 4) + "\\u" + hex(0xDC00 + (v & 0x3FF), width: 4)
                    } else {
                        out += "\\u" + hex(u.value, width: 4)
                    }
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        out += "\""
    }
}

extension String {
    /// Python's numeric literals (int(), float()) allow single underscores between digits.
    func replacingUnderscoresBetweenDigits() -> String {
        let u = Array(unicodeScalars)
        var out = String.UnicodeScalarView()
        for (i, c) in u.enumerated() {
            if c == "_", i > 0, i + 1 < u.count, u[i - 1].properties.numericType != nil, u[i + 1].properties.numericType != nil { continue }
            out.append(c)
        }
        return String(out)
    }
}
