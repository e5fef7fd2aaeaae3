/// The syntax tree of a parsed template. Literals are kept as plain data (Sendable), so a parsed
/// template can be shared between threads; runtime values are built from them when evaluated.
indirect enum Literal: Sendable {
    case none
    case bool(Bool)
    case int(Int)
    case float(Double)
    case string(String)
}

enum BinaryOp: String, Sendable {
    case add = "+", sub = "-", mul = "*", div = "/", floordiv = "//", mod = "%", pow = "**", concat = "~"
}

enum CompareOp: String, Sendable {
    case eq = "==", ne = "!=", lt = "<", gt = ">", le = "<=", ge = ">=", isIn = "in", notIn = "not in"
}

enum UnaryOp: Sendable { case not, neg, pos }

struct Arguments: Sendable {
    var positional: [Expr] = []
    var keyword: [(String, Expr)] = []
    /// `*items` and `**mapping` spread into the call.
    var star: Expr? = nil
    var doubleStar: Expr? = nil
}

indirect enum Expr: Sendable {
    case literal(Literal)
    case name(String)
    case list([Expr])
    case tuple([Expr])
    case dict([(Expr, Expr)])
    case attr(Expr, String)
    case item(Expr, Expr)
    case slice(Expr, Expr?, Expr?, Expr?)
    case call(Expr, Arguments)
    case filter(Expr, String, Arguments)
    case test(Expr, String, Arguments, negated: Bool)
    case unary(UnaryOp, Expr)
    case binary(BinaryOp, Expr, Expr)
    case and(Expr, Expr)
    case or(Expr, Expr)
    case compare(Expr, [(CompareOp, Expr)])
    case conditional(then: Expr, test: Expr, otherwise: Expr?)
}

/// Assignment targets: `x`, `a, b`, `ns.attr`.
indirect enum Target: Sendable {
    case name(String)
    case tuple([Target])
    case attr(String, String)
}

struct FilterCall: Sendable {
    var name: String
    var args: Arguments
}

indirect enum Node: Sendable {
    case text(String)
    case output(Expr, line: Int)
    case ifChain([(Expr, [Node])], otherwise: [Node], line: Int)
    case forLoop(target: Target, iterable: Expr, condition: Expr?, body: [Node], otherwise: [Node], line: Int)
    case set(Target, Expr, line: Int)
    case setBlock(String, filters: [FilterCall], body: [Node], line: Int)
    case macro(name: String, params: [(String, Expr?)], body: [Node], line: Int)
    case callBlock(call: Expr, params: [(String, Expr?)], body: [Node], line: Int)
    case filterBlock([FilterCall], body: [Node], line: Int)
    case breakLoop(line: Int)
    case continueLoop(line: Int)
    /// `{% generation %}` (transformers' assistant-mask extension) and other pass-through blocks.
    case group([Node])
}
