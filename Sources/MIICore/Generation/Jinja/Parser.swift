/// Recursive-descent parser for the jinja2 subset chat templates use, with jinja2's operator
/// precedence (lowest first): `x if c else y`, `or`, `and`, `not`, comparisons / `in`, `+ -`, `~`,
/// `* / // %`, `**`, unary `- +`, then primaries with `.attr`, `[item]`, `(call)`, `|filter`, `is test`.
/// Nesting is bounded (`Limits.maxJinjaNesting`), so hostile input cannot exhaust the stack.
struct JinjaParser {
    private let tokens: [JinjaToken]
    private var p = 0
    private var depth = 0

    static func parse(_ source: String) throws -> [Node] {
        guard source.utf8.count <= Limits.maxJinjaTemplateBytes else {
            throw MIIError.format("chat template is \(source.utf8.count) bytes, over the \(Limits.maxJinjaTemplateBytes)-byte limit")
        }
        var parser = JinjaParser(tokens: try JinjaLexer.tokenize(source))
        let (nodes, end) = try parser.parseBody(until: [])
        if let end { throw parser.fail("unexpected '\(end)'") }
        return nodes
    }

    private init(tokens: [JinjaToken]) { self.tokens = tokens }

    // MARK: - Token helpers

    private var cur: JinjaToken { tokens[min(p, tokens.count - 1)] }
    private func peek(_ k: Int = 1) -> JinjaToken { tokens[min(p + k, tokens.count - 1)] }

    private func fail(_ m: String) -> MIIError { MIIError.format("chat template line \(cur.line): \(m)") }

    private func isOp(_ o: String) -> Bool { cur.kind == .op && cur.text == o }
    private func isName(_ n: String) -> Bool { cur.kind == .name && cur.text == n }

    private mutating func advance() { if p < tokens.count - 1 { p += 1 } }

    private mutating func skipOp(_ o: String) -> Bool {
        if isOp(o) { advance(); return true }
        return false
    }

    private mutating func skipName(_ n: String) -> Bool {
        if isName(n) { advance(); return true }
        return false
    }

    private mutating func expectOp(_ o: String) throws {
        guard skipOp(o) else { throw fail("expected '\(o)', found \(describe(cur))") }
    }

    private mutating func expectName() throws -> String {
        guard cur.kind == .name else { throw fail("expected a name, found \(describe(cur))") }
        let n = cur.text
        advance()
        return n
    }

    private mutating func expectBlockEnd() throws {
        guard cur.kind == .blockEnd else { throw fail("expected end of tag '%}', found \(describe(cur))") }
        advance()
    }

    private func describe(_ t: JinjaToken) -> String {
        switch t.kind {
        case .eof: return "end of template"
        case .blockEnd: return "'%}'"
        case .varEnd: return "'}}'"
        case .blockBegin: return "'{%'"
        case .varBegin: return "'{{'"
        case .text: return "text"
        case .string: return "a string"
        case .int, .float: return "a number"
        case .name, .op: return "'\(t.text)'"
        }
    }

    private mutating func enter() throws {
        depth += 1
        if depth > Limits.maxJinjaNesting {
            throw fail("template nested more than \(Limits.maxJinjaNesting) levels deep")
        }
    }

    private mutating func leave() { depth -= 1 }

    // MARK: - Statements

    /// Parses nodes until a block tag whose name is in `until`; returns that name with the parser
    /// positioned just after it (inside the tag), or nil at the end of the template.
    private mutating func parseBody(until: Set<String>) throws -> ([Node], String?) {
        try enter()
        defer { leave() }
        var nodes: [Node] = []
        while true {
            switch cur.kind {
            case .eof:
                if !until.isEmpty {
                    throw fail("unexpected end of template: expected " + until.sorted().map { "'\($0)'" }.joined(separator: " or "))
                }
                return (nodes, nil)
            case .text:
                nodes.append(.text(cur.text))
                advance()
            case .varBegin:
                let line = cur.line
                advance()
                let e = try parseTuple(condExpr: true)
                guard cur.kind == .varEnd else { throw fail("expected '}}', found \(describe(cur))") }
                advance()
                nodes.append(.output(e, line: line))
            case .blockBegin:
                advance()
                guard cur.kind == .name else { throw fail("expected a tag name, found \(describe(cur))") }
                if until.contains(cur.text) {
                    let n = cur.text
                    advance()
                    return (nodes, n)
                }
                nodes.append(try parseStatement())
            default:
                throw fail("unexpected \(describe(cur))")
            }
        }
    }

    private mutating func parseStatement() throws -> Node {
        let line = cur.line
        let tag = cur.text
        advance()
        switch tag {
        case "if":
            var branches: [(Expr, [Node])] = []
            var cond = try parseTuple(condExpr: true)
            try expectBlockEnd()
            while true {
                let (body, end) = try parseBody(until: ["elif", "else", "endif"])
                branches.append((cond, body))
                if end == "elif" {
                    cond = try parseTuple(condExpr: true)
                    try expectBlockEnd()
                    continue
                }
                var otherwise: [Node] = []
                if end == "else" {
                    try expectBlockEnd()
                    (otherwise, _) = try parseBody(until: ["endif"])
                }
                try expectBlockEnd()
                return .ifChain(branches, otherwise: otherwise, line: line)
            }
        case "for":
            let target = try parseTarget(allowAttr: false)
            guard skipName("in") else { throw fail("expected 'in' in for loop, found \(describe(cur))") }
            let iterable = try parseTuple(condExpr: false)
            var condition: Expr? = nil
            if skipName("if") { condition = try parseExpression(condExpr: true) }
            if isName("recursive") { throw MIIError.unsupported("chat template line \(line): recursive loops are not supported") }
            try expectBlockEnd()
            let (body, end) = try parseBody(until: ["else", "endfor"])
            var otherwise: [Node] = []
            if end == "else" {
                try expectBlockEnd()
                (otherwise, _) = try parseBody(until: ["endfor"])
            }
            try expectBlockEnd()
            return .forLoop(target: target, iterable: iterable, condition: condition, body: body, otherwise: otherwise, line: line)
        case "set":
            let target = try parseTarget(allowAttr: true)
            if skipOp("=") {
                let value = try parseTuple(condExpr: true)
                try expectBlockEnd()
                return .set(target, value, line: line)
            }
            guard case .name(let name) = target else { throw fail("a block set assigns a single name") }
            let filters = try parseFilterChain(leadingPipe: true)
            try expectBlockEnd()
            let (body, _) = try parseBody(until: ["endset"])
            try expectBlockEnd()
            return .setBlock(name, filters: filters, body: body, line: line)
        case "macro":
            let name = try expectName()
            let params = try parseParams()
            try expectBlockEnd()
            let (body, _) = try parseBody(until: ["endmacro"])
            if cur.kind == .name { advance() }  // {% endmacro name %}
            try expectBlockEnd()
            return .macro(name: name, params: params, body: body, line: line)
        case "call":
            var params: [(String, Expr?)] = []
            if isOp("(") { params = try parseParams() }
            let call = try parseExpression(condExpr: true)
            guard case .call = call else { throw fail("expected a macro call after 'call'") }
            try expectBlockEnd()
            let (body, _) = try parseBody(until: ["endcall"])
            try expectBlockEnd()
            return .callBlock(call: call, params: params, body: body, line: line)
        case "filter":
            let filters = try parseFilterChain(leadingPipe: false)
            try expectBlockEnd()
            let (body, _) = try parseBody(until: ["endfilter"])
            try expectBlockEnd()
            return .filterBlock(filters, body: body, line: line)
        case "break":
            try expectBlockEnd()
            return .breakLoop(line: line)
        case "continue":
            try expectBlockEnd()
            return .continueLoop(line: line)
        case "generation":
            try expectBlockEnd()
            let (body, _) = try parseBody(until: ["endgeneration"])
            try expectBlockEnd()
            return .group(body)
        case "elif", "else", "endif", "endfor", "endset", "endmacro", "endcall", "endfilter", "endgeneration", "endraw":
            throw MIIError.format("chat template line \(line): unexpected '\(tag)'")
        default:
            throw MIIError.unsupported("chat template line \(line): the '\(tag)' tag is not supported")
        }
    }

    /// `name`, `a, b`, `(a, b)` or (for set) `ns.attr`.
    private mutating func parseTarget(allowAttr: Bool) throws -> Target {
        func one(_ ps: inout JinjaParser) throws -> Target {
            if ps.skipOp("(") {
                let t = try ps.parseTarget(allowAttr: false)
                try ps.expectOp(")")
                return t
            }
            let name = try ps.expectName()
            if allowAttr, ps.skipOp(".") {
                return .attr(name, try ps.expectName())
            }
            return .name(name)
        }
        var targets = [try one(&self)]
        while skipOp(",") {
            if cur.kind != .name && !isOp("(") { break }
            targets.append(try one(&self))
        }
        return targets.count == 1 ? targets[0] : .tuple(targets)
    }

    /// `(a, b=default, ...)` of a macro or call block.
    private mutating func parseParams() throws -> [(String, Expr?)] {
        try expectOp("(")
        var params: [(String, Expr?)] = []
        while !isOp(")") {
            if !params.isEmpty { try expectOp(",") }
            if isOp(")") { break }
            let name = try expectName()
            var def: Expr? = nil
            if skipOp("=") { def = try parseExpression(condExpr: true) }
            params.append((name, def))
        }
        try expectOp(")")
        return params
    }

    private mutating func parseFilterChain(leadingPipe: Bool) throws -> [FilterCall] {
        var chain: [FilterCall] = []
        if leadingPipe && !isOp("|") { return chain }
        if leadingPipe { advance() }
        repeat {
            var name = try expectName()
            while skipOp(".") { name += "." + (try expectName()) }
            let args = isOp("(") ? try parseCallArgs() : Arguments()
            chain.append(FilterCall(name: name, args: args))
        } while skipOp("|")
        return chain
    }

    // MARK: - Expressions

    /// An expression or a bare tuple `a, b`.
    private mutating func parseTuple(condExpr: Bool) throws -> Expr {
        let first = try parseExpression(condExpr: condExpr)
        guard isOp(",") else { return first }
        var items = [first]
        while skipOp(",") {
            if cur.kind == .varEnd || cur.kind == .blockEnd || isName("if") { break }
            items.append(try parseExpression(condExpr: condExpr))
        }
        return .tuple(items)
    }

    private mutating func parseExpression(condExpr: Bool) throws -> Expr {
        try enter()
        defer { leave() }
        var e = try parseOr()
        guard condExpr else { return e }
        while skipName("if") {
            let test = try parseOr()
            var otherwise: Expr? = nil
            if skipName("else") { otherwise = try parseExpression(condExpr: true) }
            e = .conditional(then: e, test: test, otherwise: otherwise)
        }
        return e
    }

    private mutating func parseOr() throws -> Expr {
        var e = try parseAnd()
        while skipName("or") { e = .or(e, try parseAnd()) }
        return e
    }

    private mutating func parseAnd() throws -> Expr {
        var e = try parseNot()
        while skipName("and") { e = .and(e, try parseNot()) }
        return e
    }

    private mutating func parseNot() throws -> Expr {
        if isName("not") {
            advance()
            try enter()
            defer { leave() }
            return .unary(.not, try parseNot())
        }
        return try parseCompare()
    }

    private mutating func parseCompare() throws -> Expr {
        let e = try parseMath1()
        var ops: [(CompareOp, Expr)] = []
        while true {
            if cur.kind == .op, let op = CompareOp(rawValue: cur.text) {
                advance()
                ops.append((op, try parseMath1()))
            } else if isName("in") {
                advance()
                ops.append((.isIn, try parseMath1()))
            } else if isName("not"), peek().kind == .name, peek().text == "in" {
                advance()
                advance()
                ops.append((.notIn, try parseMath1()))
            } else {
                break
            }
        }
        return ops.isEmpty ? e : .compare(e, ops)
    }

    private mutating func parseMath1() throws -> Expr {
        var e = try parseConcat()
        while cur.kind == .op, cur.text == "+" || cur.text == "-" {
            let op: BinaryOp = cur.text == "+" ? .add : .sub
            advance()
            e = .binary(op, e, try parseConcat())
        }
        return e
    }

    private mutating func parseConcat() throws -> Expr {
        var e = try parseMath2()
        while skipOp("~") { e = .binary(.concat, e, try parseMath2()) }
        return e
    }

    private mutating func parseMath2() throws -> Expr {
        var e = try parsePow()
        while cur.kind == .op, let op = BinaryOp(rawValue: cur.text), [.mul, .div, .floordiv, .mod].contains(op) {
            advance()
            e = .binary(op, e, try parsePow())
        }
        return e
    }

    private mutating func parsePow() throws -> Expr {
        var e = try parseUnary(withFilter: true)
        while skipOp("**") { e = .binary(.pow, e, try parseUnary(withFilter: true)) }
        return e
    }

    private mutating func parseUnary(withFilter: Bool) throws -> Expr {
        var e: Expr
        if isOp("-") || isOp("+") {
            let neg = isOp("-")
            advance()
            try enter()
            defer { leave() }
            e = .unary(neg ? .neg : .pos, try parseUnary(withFilter: false))
        } else {
            e = try parsePrimary()
        }
        e = try parsePostfix(e)
        if withFilter { e = try parseFilterExpr(e) }
        return e
    }

    private mutating func parsePrimary() throws -> Expr {
        let t = cur
        switch t.kind {
        case .name:
            advance()
            switch t.text {
            case "true", "True": return .literal(.bool(true))
            case "false", "False": return .literal(.bool(false))
            case "none", "None": return .literal(.none)
            default: return .name(t.text)
            }
        case .string:
            var s = t.text
            advance()
            while cur.kind == .string {  // adjacent literals concatenate
                s += cur.text
                advance()
            }
            return .literal(.string(s))
        case .int:
            advance()
            return .literal(.int(t.int))
        case .float:
            advance()
            return .literal(.float(t.float))
        case .op:
            switch t.text {
            case "(":
                advance()
                if skipOp(")") { return .tuple([]) }
                let first = try parseExpression(condExpr: true)
                if skipOp(")") { return first }
                var items = [first]
                while skipOp(",") {
                    if isOp(")") { break }
                    items.append(try parseExpression(condExpr: true))
                }
                try expectOp(")")
                return .tuple(items)
            case "[":
                advance()
                var items: [Expr] = []
                while !isOp("]") {
                    if !items.isEmpty { try expectOp(",") }
                    if isOp("]") { break }
                    items.append(try parseExpression(condExpr: true))
                }
                try expectOp("]")
                return .list(items)
            case "{":
                advance()
                var pairs: [(Expr, Expr)] = []
                while !isOp("}") {
                    if !pairs.isEmpty { try expectOp(",") }
                    if isOp("}") { break }
                    let k = try parseExpression(condExpr: true)
                    try expectOp(":")
                    pairs.append((k, try parseExpression(condExpr: true)))
                }
                try expectOp("}")
                return .dict(pairs)
            default:
                break
            }
        default:
            break
        }
        throw fail("unexpected \(describe(t))")
    }

    private mutating func parsePostfix(_ base: Expr) throws -> Expr {
        var e = base
        while true {
            if isOp(".") {
                advance()
                if cur.kind == .name {
                    e = .attr(e, cur.text)
                } else if cur.kind == .int {
                    e = .item(e, .literal(.int(cur.int)))
                } else {
                    throw fail("expected an attribute name after '.', found \(describe(cur))")
                }
                advance()
            } else if isOp("[") {
                advance()
                e = try parseSubscript(e)
            } else if isOp("(") {
                e = .call(e, try parseCallArgs())
            } else {
                return e
            }
        }
    }

    private mutating func parseSubscript(_ base: Expr) throws -> Expr {
        try enter()
        defer { leave() }
        var parts: [Expr?] = []
        var isSlice = false
        var current: Expr? = nil
        while !isOp("]") {
            if skipOp(":") {
                isSlice = true
                parts.append(current)
                current = nil
                continue
            }
            if current != nil { throw fail("expected ']' or ':' in subscript, found \(describe(cur))") }
            current = try parseTuple(condExpr: true)
        }
        advance()
        guard isSlice else {
            guard let index = current else { throw fail("empty subscript") }
            return .item(base, index)
        }
        parts.append(current)
        guard parts.count <= 3 else { throw fail("too many ':' in slice") }
        while parts.count < 3 { parts.append(nil) }
        return .slice(base, parts[0], parts[1], parts[2])
    }

    private mutating func parseCallArgs() throws -> Arguments {
        try expectOp("(")
        try enter()
        defer { leave() }
        var args = Arguments()
        var first = true
        while !isOp(")") {
            if !first { try expectOp(",") }
            first = false
            if isOp(")") { break }
            if skipOp("*") {
                guard args.star == nil else { throw fail("more than one *args") }
                args.star = try parseExpression(condExpr: true)
                continue
            }
            if skipOp("**") {
                guard args.doubleStar == nil else { throw fail("more than one **kwargs") }
                args.doubleStar = try parseExpression(condExpr: true)
                continue
            }
            if cur.kind == .name, peek().kind == .op, peek().text == "=" {
                let name = cur.text
                advance()
                advance()
                args.keyword.append((name, try parseExpression(condExpr: true)))
            } else {
                if !args.keyword.isEmpty || args.star != nil || args.doubleStar != nil {
                    throw fail("positional argument after keyword or * argument")
                }
                args.positional.append(try parseExpression(condExpr: true))
            }
        }
        try expectOp(")")
        return args
    }

    private mutating func parseFilterExpr(_ base: Expr) throws -> Expr {
        var e = base
        while true {
            if isOp("|") {
                advance()
                var name = try expectName()
                while skipOp(".") { name += "." + (try expectName()) }
                let args = isOp("(") ? try parseCallArgs() : Arguments()
                e = .filter(e, name, args)
            } else if isName("is") {
                advance()
                let negated = skipName("not")
                var name = try expectName()
                while skipOp(".") { name += "." + (try expectName()) }
                var args = Arguments()
                if isOp("(") {
                    args = try parseCallArgs()
                } else if startsTestArgument() {
                    let a = try parsePrimary()
                    args.positional = [try parsePostfix(a)]
                }
                e = .test(e, name, args, negated: negated)
            } else if isOp("(") {
                e = .call(e, try parseCallArgs())
            } else {
                return e
            }
        }
    }

    /// jinja2 accepts one argument without parentheses after a test (`x is divisibleby 3`).
    private func startsTestArgument() -> Bool {
        switch cur.kind {
        case .string, .int, .float: return true
        case .name: return !["else", "or", "and", "if", "is", "in", "not"].contains(cur.text)
        case .op: return cur.text == "[" || cur.text == "{"
        default: return false
        }
    }
}
