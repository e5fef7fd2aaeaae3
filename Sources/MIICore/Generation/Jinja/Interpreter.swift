#if canImport(Glibc)
import Glibc
#endif

/// A lexical scope. Loop iterations and macro calls open a child scope, as in jinja2, so `set`
/// inside a loop does not leak out of the iteration (templates use `namespace()` for that).
final class Scope {
    var vars: [String: JinjaValue] = [:]
    let parent: Scope?

    init(parent: Scope?) { self.parent = parent }

    func lookup(_ name: String) -> JinjaValue? {
        var s: Scope? = self
        while let c = s {
            if let v = c.vars[name] { return v }
            s = c.parent
        }
        return nil
    }
}

/// A parsed template, ready to render any number of times (thread-safe: the tree is immutable).
public struct JinjaTemplate: Sendable {
    let nodes: [Node]

    public init(_ source: String) throws {
        nodes = try JinjaParser.parse(source)
    }

    /// Renders with the given variables (JSON values, as Hugging Face passes them to jinja2).
    /// `now` (seconds since the epoch) is the time `strftime_now` reports; nil: the clock.
    public func render(_ context: [String: JSONValue], now: Int? = nil) throws -> String {
        var vars: [String: JinjaValue] = [:]
        for (k, v) in context { vars[k] = JinjaValue(v) }
        return try render(values: vars, now: now)
    }

    func render(values: [String: JinjaValue], now: Int? = nil) throws -> String {
        let interp = JinjaInterpreter(now: now)
        return try interp.run(nodes, values)
    }
}

enum Flow { case normal, breakLoop, continueLoop }

final class JinjaInterpreter {
    private var steps = 0
    private var depth = 0
    private(set) var line = 0
    let globals = Scope(parent: nil)
    /// Scopes closed over by macros and namespaces made during the run. They can form reference
    /// cycles (a macro is stored in the very scope it closes over; a namespace can hold a macro or
    /// itself), which ARC never frees: `run` empties them when it ends, as no value of a run
    /// outlives it.
    private var capturedScopes: [Scope] = []
    private var namespaces: [JinjaNamespace] = []

    /// The time strftime_now reports (seconds since the epoch); nil: the clock.
    let now: Int?

    init(now: Int? = nil) {
        self.now = now
        for name in ["range", "namespace", "dict", "raise_exception", "strftime_now"] {
            globals.vars[name] = .builtin(name)
        }
    }

    func run(_ nodes: [Node], _ context: [String: JinjaValue]) throws -> String {
        let scope = Scope(parent: globals)
        scope.vars = context
        defer { breakCycles() }
        var out = ""
        do {
            _ = try exec(nodes, scope, &out)
        } catch let e as JinjaError {
            switch e {
            case .type(let m): throw MIIError.format("chat template line \(line): \(m)")
            case .unsupported(let m): throw MIIError.unsupported("chat template line \(line): \(m)")
            case .limit(let m): throw MIIError.format("chat template line \(line): \(m)")
            case .raised(let m): throw MIIError.argument("chat template: \(m)")
            }
        }
        return out
    }

    private func capture(_ scope: Scope) {
        if capturedScopes.last !== scope { capturedScopes.append(scope) }
    }

    private func breakCycles() {
        for s in capturedScopes { s.vars.removeAll() }
        for n in namespaces { n.attrs = JinjaDict() }
        capturedScopes.removeAll()
        namespaces.removeAll()
    }

    // MARK: - Bookkeeping

    /// Charges `n` steps (one per expression, statement or loop iteration; list-building builtins
    /// charge per element) against `Limits.maxJinjaSteps`.
    @inline(__always) func tick(_ n: Int = 1) throws {
        steps += n
        if steps > Limits.maxJinjaSteps {
            throw JinjaError.limit("rendering took more than \(Limits.maxJinjaSteps) steps")
        }
    }

    func enter() throws {
        depth += 1
        if depth > Limits.maxJinjaRecursion {
            throw JinjaError.limit("rendering nested more than \(Limits.maxJinjaRecursion) levels deep (runaway macro recursion?)")
        }
    }

    func leave() { depth -= 1 }

    func emit(_ s: String, _ out: inout String) throws {
        out += s
        if out.utf8.count > Limits.maxJinjaOutputBytes {
            throw JinjaError.limit("output exceeds \(Limits.maxJinjaOutputBytes) bytes")
        }
    }

    // MARK: - Statements

    func exec(_ nodes: [Node], _ scope: Scope, _ out: inout String) throws -> Flow {
        try enter()
        defer { leave() }
        for node in nodes {
            try tick()
            let flow = try exec(node, scope, &out)
            if flow != .normal { return flow }
        }
        return .normal
    }

    private func exec(_ node: Node, _ scope: Scope, _ out: inout String) throws -> Flow {
        switch node {
        case .text(let t):
            try emit(t, &out)
        case .output(let e, let l):
            line = l
            try emit(try eval(e, scope).str(), &out)
        case .ifChain(let branches, let otherwise, let l):
            line = l
            for (cond, body) in branches {
                line = l
                if try eval(cond, scope).truthy { return try exec(body, scope, &out) }
            }
            return try exec(otherwise, scope, &out)
        case .forLoop(let target, let iterable, let condition, let body, let otherwise, let l):
            line = l
            return try execFor(target, iterable, condition, body, otherwise, scope, &out)
        case .set(let target, let e, let l):
            line = l
            let v = try eval(e, scope)
            // Values kept across statements could otherwise nest without bound ({% set x = [x] %}
            // repeated), and deeply nested values overflow the stack when printed or freed.
            if v.nests(deeperThan: Limits.maxJinjaValueDepth) {
                throw JinjaError.limit("a value nests more than \(Limits.maxJinjaValueDepth) levels deep")
            }
            try assign(target, v, scope)
        case .setBlock(let name, let filters, let body, let l):
            var captured = ""
            _ = try exec(body, scope, &captured)
            line = l
            var v = JinjaValue.string(captured)
            for f in filters { v = try applyFilter(f.name, v, try evalArgs(f.args, scope), scope) }
            scope.vars[name] = v
        case .macro(let name, let params, let body, _):
            capture(scope)
            scope.vars[name] = .macro(JinjaMacro(name: name, params: params, body: body, scope: scope))
        case .callBlock(let call, let params, let body, let l):
            line = l
            guard case .call(let calleeExpr, let args) = call else { throw JinjaError.type("call block without a call") }
            let callee = try eval(calleeExpr, scope)
            capture(scope)
            let caller = JinjaMacro(name: "caller", params: params, body: body, scope: scope)
            guard case .macro(let m) = callee else { throw JinjaError.type("'\(callee.typeName)' object is not a macro") }
            let v = try callMacro(m, try evalArgs(args, scope), caller: caller)
            try emit(try v.str(), &out)
        case .filterBlock(let filters, let body, let l):
            var captured = ""
            _ = try exec(body, scope, &captured)
            line = l
            var v = JinjaValue.string(captured)
            for f in filters { v = try applyFilter(f.name, v, try evalArgs(f.args, scope), scope) }
            try emit(try v.str(), &out)
        case .breakLoop:
            return .breakLoop
        case .continueLoop:
            return .continueLoop
        case .group(let body):
            return try exec(body, scope, &out)
        }
        return .normal
    }

    private func execFor(_ target: Target, _ iterable: Expr, _ condition: Expr?, _ body: [Node], _ otherwise: [Node],
                         _ scope: Scope, _ out: inout String) throws -> Flow {
        var items = try iterate(try eval(iterable, scope))
        if let cond = condition {
            var kept: [JinjaValue] = []
            for item in items {
                try tick()
                let s = Scope(parent: scope)
                try assign(target, item, s)
                if try eval(cond, s).truthy { kept.append(item) }
            }
            items = kept
        }
        if items.isEmpty { return try exec(otherwise, scope, &out) }
        for (i, item) in items.enumerated() {
            try tick()
            let s = Scope(parent: scope)
            s.vars["loop"] = .loop(index: i, items: items)
            try assign(target, item, s)
            let flow = try exec(body, s, &out)
            if flow == .breakLoop { break }
        }
        return .normal
    }

    func assign(_ target: Target, _ value: JinjaValue, _ scope: Scope) throws {
        switch target {
        case .name(let n):
            scope.vars[n] = value
        case .tuple(let targets):
            let items = try iterate(value)
            guard items.count == targets.count else {
                throw JinjaError.type(items.count > targets.count
                    ? "too many values to unpack (expected \(targets.count))"
                    : "not enough values to unpack (expected \(targets.count), got \(items.count))")
            }
            for (t, v) in zip(targets, items) { try assign(t, v, scope) }
        case .attr(let name, let attr):
            guard let obj = scope.lookup(name) else { throw JinjaError.type("'\(name)' is undefined") }
            guard case .namespace(let ns) = obj else {
                throw JinjaError.type("cannot assign attribute on non-namespace object")
            }
            if attr.hasPrefix("_") { throw JinjaError.type("cannot store underscore-prefixed attribute '\(attr)' on a namespace") }
            ns.attrs.set(attr, value)
            if JinjaValue.namespace(ns).nests(deeperThan: Limits.maxJinjaValueDepth) {
                ns.attrs.set(attr, .none)  // do not leave a reference cycle behind
                throw JinjaError.limit("a value nests more than \(Limits.maxJinjaValueDepth) levels deep")
            }
        }
    }

    /// The items `for` iterates over: list/tuple elements, dict keys, string characters.
    func iterate(_ v: JinjaValue) throws -> [JinjaValue] {
        switch v {
        case .list(let a), .tuple(let a), .iterator(let a, _): return a
        case .dict(let d): return d.keys
        case .string(let s): return s.unicodeScalars.map { .string(String($0)) }
        case .undefined: return []
        default: throw JinjaError.type("'\(v.typeName)' object is not iterable")
        }
    }

    // MARK: - Expressions

    func evalArgs(_ args: Arguments, _ scope: Scope) throws -> CallArgs {
        var r = CallArgs(positional: try args.positional.map { try eval($0, scope) },
                         keyword: try args.keyword.map { ($0.0, try eval($0.1, scope)) })
        if let star = args.star { r.positional += try iterate(try eval(star, scope)) }
        if let ds = args.doubleStar {
            let v = try eval(ds, scope)
            guard case .dict(let d) = v else { throw JinjaError.type("argument after ** must be a mapping, not \(v.typeName)") }
            for (k, x) in d.items {
                guard case .string(let name) = k else { throw JinjaError.type("keywords must be strings") }
                r.keyword.append((name, x))
            }
        }
        return r
    }

    func eval(_ e: Expr, _ scope: Scope) throws -> JinjaValue {
        try tick()
        try enter()
        defer { leave() }
        switch e {
        case .literal(let l):
            switch l {
            case .none: return .none
            case .bool(let b): return .bool(b)
            case .int(let i): return .int(i)
            case .float(let d): return .float(d)
            case .string(let s): return .string(s)
            }
        case .name(let n):
            return scope.lookup(n) ?? .undefinedName(n)
        case .list(let items):
            return .list(try items.map { try eval($0, scope) })
        case .tuple(let items):
            return .tuple(try items.map { try eval($0, scope) })
        case .dict(let pairs):
            var d = JinjaDict()
            for (k, v) in pairs { try d.set(try eval(k, scope), try eval(v, scope)) }
            return .dict(d)
        case .attr(let base, let name):
            return try getAttr(try eval(base, scope), name)
        case .item(let base, let index):
            return try getItem(try eval(base, scope), try eval(index, scope))
        case .slice(let base, let a, let b, let c):
            let v = try eval(base, scope)
            return try slice(v, try a.map { try eval($0, scope) }, try b.map { try eval($0, scope) },
                             try c.map { try eval($0, scope) })
        case .call(let callee, let args):
            let f = try eval(callee, scope)
            return try call(f, try evalArgs(args, scope))
        case .filter(let base, let name, let args):
            let v = try eval(base, scope)
            return try applyFilter(name, v, try evalArgs(args, scope), scope)
        case .test(let base, let name, let args, let negated):
            let v = try eval(base, scope)
            let r = try applyTest(name, v, try evalArgs(args, scope).positional, scope)
            return .bool(r != negated)
        case .unary(let op, let x):
            let v = try eval(x, scope)
            switch op {
            case .not: return .bool(!v.truthy)
            case .neg:
                switch v {
                case .int(let i):
                    guard i != Int.min else { throw JinjaError.limit("integer overflow") }
                    return .int(-i)
                case .bool(let b): return .int(b ? -1 : 0)
                case .float(let d): return .float(-d)
                case .undefined(let m): throw JinjaError.type(m)
                default: throw JinjaError.type("bad operand type for unary -: '\(v.typeName)'")
                }
            case .pos:
                guard v.number != nil else {
                    if case .undefined(let m) = v { throw JinjaError.type(m) }
                    throw JinjaError.type("bad operand type for unary +: '\(v.typeName)'")
                }
                if case .bool(let b) = v { return .int(b ? 1 : 0) }
                return v
            }
        case .binary(let op, let a, let b):
            let x = try eval(a, scope), y = try eval(b, scope)
            if op == .add, case .string(let l) = x, case .string(let r) = y {
                // markupsafe: Markup + str escapes the str (jinja2 with autoescape off still has
                // Markup values, from |safe and |escape).
                let ml = Self.isMarkup(a), mr = Self.isMarkup(b)
                if ml != mr {
                    return try checked(.string((ml ? l : htmlEscape(l)) + (mr ? r : htmlEscape(r))))
                }
            }
            return try binary(op, x, y)
        case .and(let a, let b):
            let x = try eval(a, scope)
            return x.truthy ? try eval(b, scope) : x
        case .or(let a, let b):
            let x = try eval(a, scope)
            return x.truthy ? x : try eval(b, scope)
        case .compare(let first, let ops):
            var left = try eval(first, scope)
            for (op, rhs) in ops {
                let right = try eval(rhs, scope)
                if !(try compare(op, left, right)) { return .bool(false) }
                left = right
            }
            return .bool(true)
        case .conditional(let then, let test, let otherwise):
            if try eval(test, scope).truthy { return try eval(then, scope) }
            if let o = otherwise { return try eval(o, scope) }
            return .undefined("the inline if-expression evaluated to false and no else section was defined")
        }
    }

    /// Whether an expression yields a markupsafe `Markup` string (statically: |safe, |escape, and
    /// sums or repetitions involving them).
    static func isMarkup(_ e: Expr) -> Bool {
        switch e {
        case .filter(_, let name, _): return ["safe", "e", "escape", "forceescape"].contains(name)
        case .binary(.add, let a, let b): return isMarkup(a) || isMarkup(b)
        case .binary(.mul, let a, _), .binary(.mod, let a, _): return isMarkup(a)
        default: return false
        }
    }

    func compare(_ op: CompareOp, _ a: JinjaValue, _ b: JinjaValue) throws -> Bool {
        switch op {
        case .eq: return a.equals(b)
        case .ne: return !a.equals(b)
        case .lt: return try a.less(b)
        case .gt: return try b.less(a)
        case .le: return try a.less(b) || a.equals(b)
        case .ge: return try b.less(a) || a.equals(b)
        case .isIn: return try contains(b, a)
        case .notIn: return !(try contains(b, a))
        }
    }

    func contains(_ container: JinjaValue, _ item: JinjaValue) throws -> Bool {
        switch container {
        case .string(let s):
            guard case .string(let sub) = item else {
                if case .undefined(let m) = item { throw JinjaError.type(m) }
                throw JinjaError.type("'in <string>' requires string as left operand, not \(item.typeName)")
            }
            return ScalarText.find(Array(s.unicodeScalars), Array(sub.unicodeScalars), from: 0) != nil
        case .list(let a), .tuple(let a), .iterator(let a, _):
            for x in a {
                try tick()
                if x.equals(item) { return true }
            }
            return false
        case .dict(let d): return d.get(item) != nil
        case .undefined: return false
        case .namespace(let n): return n.attrs.get(item) != nil
        default: throw JinjaError.type("argument of type '\(container.typeName)' is not iterable")
        }
    }

    // MARK: - Arithmetic

    func binary(_ op: BinaryOp, _ a: JinjaValue, _ b: JinjaValue) throws -> JinjaValue {
        if op == .concat {
            return try checked(.string(try a.str() + b.str()))
        }
        if case .undefined(let m) = a { throw JinjaError.type(m) }
        if case .undefined(let m) = b { throw JinjaError.type(m) }
        func unsupported() -> JinjaError {
            JinjaError.type("unsupported operand type(s) for \(op.rawValue): '\(a.typeName)' and '\(b.typeName)'")
        }
        switch op {
        case .add:
            switch (a, b) {
            case let (.string(x), .string(y)): return try checked(.string(x + y))
            case let (.list(x), .list(y)): return try checkedList(.list(x + y), x.count + y.count)
            case let (.tuple(x), .tuple(y)): return try checkedList(.tuple(x + y), x.count + y.count)
            default:
                if let i = a.integer, let j = b.integer { return try intResult(i.addingReportingOverflow(j)) }
                if let x = a.number, let y = b.number { return .float(x + y) }
                if case .string = a { throw JinjaError.type("can only concatenate str (not \"\(b.typeName)\") to str") }
                throw unsupported()
            }
        case .sub:
            if let i = a.integer, let j = b.integer { return try intResult(i.subtractingReportingOverflow(j)) }
            if let x = a.number, let y = b.number { return .float(x - y) }
            throw unsupported()
        case .mul:
            switch (a, b) {
            case (.string(let s), _) where b.integer != nil: return try repeatString(s, b.integer ?? 0)
            case (_, .string(let s)) where a.integer != nil: return try repeatString(s, a.integer ?? 0)
            case (.list(let l), _) where b.integer != nil: return .list(try repeatList(l, b.integer ?? 0))
            case (.tuple(let l), _) where b.integer != nil: return .tuple(try repeatList(l, b.integer ?? 0))
            default:
                if let i = a.integer, let j = b.integer { return try intResult(i.multipliedReportingOverflow(by: j)) }
                if let x = a.number, let y = b.number { return .float(x * y) }
                throw unsupported()
            }
        case .div:
            guard let x = a.number, let y = b.number else { throw unsupported() }
            guard y != 0 else { throw JinjaError.type("division by zero") }
            return .float(x / y)
        case .floordiv:
            if let i = a.integer, let j = b.integer {
                guard j != 0 else { throw JinjaError.type("integer division or modulo by zero") }
                guard !(i == Int.min && j == -1) else { throw JinjaError.limit("integer overflow") }
                var q = i / j
                if (i % j != 0) && ((i < 0) != (j < 0)) { q -= 1 }
                return .int(q)
            }
            guard let x = a.number, let y = b.number else { throw unsupported() }
            guard y != 0 else { throw JinjaError.type("float floor division by zero") }
            return .float((x / y).rounded(.down))
        case .mod:
            if case .string(let fmt) = a { return try checked(.string(try percentFormat(fmt, b))) }
            if let i = a.integer, let j = b.integer {
                guard j != 0 else { throw JinjaError.type("integer division or modulo by zero") }
                guard !(i == Int.min && j == -1) else { return .int(0) }
                var r = i % j
                if r != 0 && ((r < 0) != (j < 0)) { r += j }
                return .int(r)
            }
            guard let x = a.number, let y = b.number else { throw unsupported() }
            guard y != 0 else { throw JinjaError.type("float modulo") }
            var r = x.truncatingRemainder(dividingBy: y)
            if r != 0 && ((r < 0) != (y < 0)) { r += y }
            return .float(r)
        case .pow:
            if let i = a.integer, let j = b.integer, j >= 0 {
                var result = 1
                var base = i
                var e = j
                while e > 0 {
                    try tick()
                    if e & 1 == 1 { result = try intResult(result.multipliedReportingOverflow(by: base)).integer ?? 0 }
                    e >>= 1
                    if e > 0 { base = try intResult(base.multipliedReportingOverflow(by: base)).integer ?? 0 }
                }
                return .int(result)
            }
            guard let x = a.number, let y = b.number else { throw unsupported() }
            return .float(Glibc.pow(x, y))
        case .concat:
            return .none  // handled above
        }
    }

    private func intResult(_ r: (partialValue: Int, overflow: Bool)) throws -> JinjaValue {
        if r.overflow { throw JinjaError.limit("integer overflow") }
        return .int(r.partialValue)
    }

    func checked(_ v: JinjaValue) throws -> JinjaValue {
        if case .string(let s) = v, s.utf8.count > Limits.maxJinjaOutputBytes {
            throw JinjaError.limit("a string exceeds \(Limits.maxJinjaOutputBytes) bytes")
        }
        return v
    }

    private func checkedList(_ v: JinjaValue, _ count: Int) throws -> JinjaValue {
        if count > Limits.maxJinjaListCount { throw JinjaError.limit("a list exceeds \(Limits.maxJinjaListCount) items") }
        return v
    }

    private func repeatString(_ s: String, _ n: Int) throws -> JinjaValue {
        guard n > 0, !s.isEmpty else { return .string("") }
        let (total, o) = s.utf8.count.multipliedReportingOverflow(by: n)
        if o || total > Limits.maxJinjaOutputBytes {
            throw JinjaError.limit("a string exceeds \(Limits.maxJinjaOutputBytes) bytes")
        }
        return .string(String(repeating: s, count: n))
    }

    private func repeatList(_ l: [JinjaValue], _ n: Int) throws -> [JinjaValue] {
        guard n > 0, !l.isEmpty else { return [] }
        let (total, o) = l.count.multipliedReportingOverflow(by: n)
        if o || total > Limits.maxJinjaListCount { throw JinjaError.limit("a list exceeds \(Limits.maxJinjaListCount) items") }
        try tick(total)
        var r: [JinjaValue] = []
        r.reserveCapacity(total)
        for _ in 0..<n { r += l }
        return r
    }

    /// `"..." % args` (printf-style), for %s %r %d %i %f and %%.
    func percentFormat(_ fmt: String, _ arg: JinjaValue) throws -> String {
        var args: [JinjaValue]
        var mapping: JinjaDict? = nil
        switch arg {
        case .tuple(let a): args = a
        case .dict(let d): args = []; mapping = d
        default: args = [arg]
        }
        var out = ""
        var it = Array(fmt.unicodeScalars)[...]
        var next = 0
        while let c = it.popFirst() {
            guard c == "%" else { out.unicodeScalars.append(c); continue }
            var key: String? = nil
            if it.first == "(" {
                it.removeFirst()
                var k = ""
                while let d = it.popFirst(), d != ")" { k.unicodeScalars.append(d) }
                key = k
            }
            guard let conv = it.popFirst() else { throw JinjaError.type("incomplete format") }
            if conv == "%" { out += "%"; continue }
            let v: JinjaValue
            if let k = key {
                guard let m = mapping, let x = m.get(k) else { throw JinjaError.type("format requires a mapping") }
                v = x
            } else {
                guard next < args.count else { throw JinjaError.type("not enough arguments for format string") }
                v = args[next]
                next += 1
            }
            switch conv {
            case "s": out += try v.str()
            case "r": out += try v.repr()
            case "d", "i":
                if let i = v.integer { out += String(i) }
                else if let d = v.number, d.isFinite, abs(d) < 9.2e18 { out += String(Int(d.rounded(.towardZero))) }
                else { throw JinjaError.type("%d format: a real number is required, not \(v.typeName)") }
            case "f":
                guard let d = v.number else { throw JinjaError.type("must be real number, not \(v.typeName)") }
                out += formatFixed(d, 6)
            default:
                throw JinjaError.unsupported("format conversion %\(conv) is not supported")
            }
            if out.utf8.count > Limits.maxJinjaOutputBytes { throw JinjaError.limit("a string exceeds \(Limits.maxJinjaOutputBytes) bytes") }
        }
        if mapping == nil && next < args.count {
            throw JinjaError.type("not all arguments converted during string formatting")
        }
        return out
    }

    // MARK: - Access

    static let dictMethods: Set<String> = ["get", "items", "keys", "values", "copy", "pop", "popitem", "setdefault", "update", "clear"]
    static let listMethods: Set<String> = ["index", "count", "copy", "append", "pop", "extend", "insert", "remove", "reverse", "sort", "clear"]
    static let stringMethods: Set<String> = [
        "strip", "lstrip", "rstrip", "split", "rsplit", "splitlines", "startswith", "endswith", "upper", "lower",
        "title", "capitalize", "swapcase", "casefold", "replace", "format", "join", "find", "rfind", "index", "rindex",
        "count", "isdigit", "isalpha", "isalnum", "isspace", "isupper", "islower", "isnumeric", "isdecimal",
        "removeprefix", "removesuffix", "partition", "rpartition", "center", "ljust", "rjust", "zfill",
    ]

    func getAttr(_ v: JinjaValue, _ name: String) throws -> JinjaValue {
        switch v {
        case .undefined(let m):
            throw JinjaError.type(m)
        case .dict(let d):
            if Self.dictMethods.contains(name) { return .method(v, name) }
            return d.get(name) ?? .undefined("'dict object' has no attribute '\(name)'")
        case .namespace(let n):
            return n.attrs.get(name) ?? .undefined("'Namespace object' has no attribute '\(name)'")
        case .loop(let i, let items):
            let n = items.count
            switch name {
            case "index": return .int(i + 1)
            case "index0": return .int(i)
            case "revindex": return .int(n - i)
            case "revindex0": return .int(n - i - 1)
            case "first": return .bool(i == 0)
            case "last": return .bool(i == n - 1)
            case "length": return .int(n)
            case "depth": return .int(1)
            case "depth0": return .int(0)
            case "previtem": return i > 0 ? items[i - 1] : .undefined("there is no previous item")
            case "nextitem": return i + 1 < n ? items[i + 1] : .undefined("there is no next item")
            case "cycle", "changed": return .method(v, name)
            default: break
            }
        case .string:
            if Self.stringMethods.contains(name) { return .method(v, name) }
        case .list, .tuple:
            if Self.listMethods.contains(name) { return .method(v, name) }
        default:
            break
        }
        return .undefined("'\(v.typeName) object' has no attribute '\(name)'")
    }

    func getItem(_ v: JinjaValue, _ key: JinjaValue) throws -> JinjaValue {
        switch v {
        case .undefined(let m):
            throw JinjaError.type(m)
        case .dict(let d):
            if let x = d.get(key) { return x }
        case .list(let a), .tuple(let a):
            if let i = key.integer {
                let j = i < 0 ? a.count + i : i
                if j >= 0 && j < a.count { return a[j] }
                return .undefined("\(v.typeName) object has no element \(i)")
            }
        case .string(let s):
            if let i = key.integer {
                let u = Array(s.unicodeScalars)
                let j = i < 0 ? u.count + i : i
                if j >= 0 && j < u.count { return .string(String(u[j])) }
                return .undefined("str object has no element \(i)")
            }
        default:
            break
        }
        if case .string(let name) = key { return try getAttr(v, name) }
        return .undefined("'\(v.typeName) object' has no attribute '\((try? key.str()) ?? "")'")
    }

    func slice(_ v: JinjaValue, _ a: JinjaValue?, _ b: JinjaValue?, _ c: JinjaValue?) throws -> JinjaValue {
        func bound(_ x: JinjaValue?) throws -> Int? {
            guard let x, !x.isNone else { return nil }
            guard let i = x.integer else { throw JinjaError.type("slice indices must be integers or None") }
            return i
        }
        let start = try bound(a), stop = try bound(b), step = try bound(c) ?? 1
        guard step != 0 else { throw JinjaError.type("slice step cannot be zero") }
        func indices(_ n: Int) -> [Int] {
            func clamp(_ x: Int?, _ def: Int, lo: Int, hi: Int) -> Int {
                guard var x else { return def }
                if x < 0 { x += n }
                return Swift.min(Swift.max(x, lo), hi)
            }
            var r: [Int] = []
            if step > 0 {
                var i = clamp(start, 0, lo: 0, hi: n)
                let e = clamp(stop, n, lo: 0, hi: n)
                while i < e {
                    r.append(i)
                    let (next, o) = i.addingReportingOverflow(step)
                    if o { break }
                    i = next
                }
            } else {
                var i = clamp(start, n - 1, lo: -1, hi: n - 1)
                let e = clamp(stop, -1, lo: -1, hi: n - 1)
                while i > e { r.append(i); i += step }
            }
            return r
        }
        switch v {
        case .list(let l): return .list(indices(l.count).map { l[$0] })
        case .tuple(let l): return .tuple(indices(l.count).map { l[$0] })
        case .string(let s):
            let u = Array(s.unicodeScalars)
            var out = String.UnicodeScalarView()
            for i in indices(u.count) { out.append(u[i]) }
            return .string(String(out))
        case .undefined(let m): throw JinjaError.type(m)
        default: throw JinjaError.type("'\(v.typeName)' object is not subscriptable")
        }
    }

    // MARK: - Calls

    func call(_ f: JinjaValue, _ args: CallArgs) throws -> JinjaValue {
        switch f {
        case .macro(let m): return try callMacro(m, args, caller: nil)
        case .builtin(let name): return try callBuiltin(name, args)
        case .method(let recv, let name): return try callMethod(recv, name, args)
        case .undefined(let m): throw JinjaError.type(m)
        default: throw JinjaError.type("'\(f.typeName)' object is not callable")
        }
    }

    func callMacro(_ m: JinjaMacro, _ args: CallArgs, caller: JinjaMacro?) throws -> JinjaValue {
        try enter()
        defer { leave() }
        let s = Scope(parent: m.scope)
        var extra: [JinjaValue] = []
        for (i, v) in args.positional.enumerated() {
            if i < m.params.count { s.vars[m.params[i].0] = v } else { extra.append(v) }
        }
        var kwargs = JinjaDict()
        for (k, v) in args.keyword {
            if m.params.contains(where: { $0.0 == k }) {
                if s.vars[k] != nil { throw JinjaError.type("macro '\(m.name)' got multiple values for argument '\(k)'") }
                s.vars[k] = v
            } else {
                kwargs.set(k, v)
            }
        }
        for (name, def) in m.params where s.vars[name] == nil {
            s.vars[name] = try def.map { try eval($0, s) } ?? .undefined("parameter '\(name)' was not provided")
        }
        s.vars["varargs"] = .tuple(extra)
        s.vars["kwargs"] = .dict(kwargs)
        if let caller { s.vars["caller"] = .macro(caller) }
        var out = ""
        _ = try exec(m.body, s, &out)
        return .string(out)
    }

    func callBuiltin(_ name: String, _ args: CallArgs) throws -> JinjaValue {
        let a = args.positional
        switch name {
        case "range":
            guard !a.isEmpty, a.count <= 3, args.keyword.isEmpty else { throw JinjaError.type("range expected 1 to 3 integer arguments") }
            var ints: [Int] = []
            for v in a {
                guard let i = v.integer else { throw JinjaError.type("'\(v.typeName)' object cannot be interpreted as an integer") }
                ints.append(i)
            }
            let (start, stop) = ints.count == 1 ? (0, ints[0]) : (ints[0], ints[1])
            let step = ints.count == 3 ? ints[2] : 1
            guard step != 0 else { throw JinjaError.type("range() arg 3 must not be zero") }
            let span = step > 0 ? Double(stop) - Double(start) : Double(start) - Double(stop)
            let count = span <= 0 ? 0 : (span / abs(Double(step))).rounded(.up)
            guard count <= Double(Limits.maxJinjaRange) else {
                throw JinjaError.limit("range too big: the sandbox allows at most \(Limits.maxJinjaRange) items")
            }
            try tick(Int(count))
            var r: [JinjaValue] = []
            var i = start
            for _ in 0..<Int(count) {
                r.append(.int(i))
                i = i.addingReportingOverflow(step).partialValue
            }
            return .list(r)
        case "namespace", "dict":
            var d = JinjaDict()
            for v in a {
                switch v {
                case .dict(let x): for (k, w) in x.items { try d.set(k, w) }
                case .list(let pairs), .tuple(let pairs):
                    for p in pairs {
                        let kv = try iterate(p)
                        guard kv.count == 2 else { throw JinjaError.type("dictionary update sequence element has length \(kv.count); 2 is required") }
                        try d.set(kv[0], kv[1])
                    }
                default: throw JinjaError.type("'\(v.typeName)' object is not a mapping")
                }
            }
            for (k, v) in args.keyword { d.set(k, v) }
            if name == "dict" { return .dict(d) }
            for k in d.keys {
                if case .string(let s) = k, s.hasPrefix("_") {
                    throw JinjaError.type("cannot store underscore-prefixed attribute '\(s)' on a namespace")
                }
            }
            let ns = JinjaNamespace(d)
            namespaces.append(ns)
            return .namespace(ns)
        case "raise_exception":
            throw JinjaError.raised(try a.first?.str() ?? "")
        case "strftime_now":
            guard case .string(let fmt)? = a.first else { throw JinjaError.type("strftime_now expects a format string") }
            return .string(try strftimeNow(fmt, now: now))
        default:
            throw JinjaError.unsupported("function '\(name)' is not supported")
        }
    }
}

/// Evaluated call arguments.
struct CallArgs {
    var positional: [JinjaValue] = []
    var keyword: [(String, JinjaValue)] = []

    func kw(_ name: String) -> JinjaValue? { keyword.first { $0.0 == name }?.1 }

    /// The argument at `index` or passed as `name`.
    func arg(_ index: Int, _ name: String) -> JinjaValue? {
        if index < positional.count { return positional[index] }
        return kw(name)
    }
}

/// Fixed-point formatting (`%f`, `round`), without Foundation.
func formatFixed(_ d: Double, _ places: Int) -> String {
    if d.isNaN { return "nan" }
    if d.isInfinite { return d < 0 ? "-inf" : "inf" }
    var scale = 1.0
    for _ in 0..<places { scale *= 10 }
    let neg = d < 0
    let v = (abs(d) * scale).rounded(.toNearestOrEven)
    guard v < 9.0e18 else { return pythonFloat(d) }
    let n = UInt64(v)
    var digits = String(n)
    if places > 0 {
        while digits.count <= places { digits = "0" + digits }
        let cut = digits.index(digits.endIndex, offsetBy: -places)
        digits = digits[..<cut] + "." + digits[cut...]
    }
    return (neg ? "-" : "") + digits
}
