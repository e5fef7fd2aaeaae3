/// Splits a template into text and tag tokens, with jinja2's whitespace rules as transformers
/// configures them: `trim_blocks` (the first newline after a block or comment tag is dropped),
/// `lstrip_blocks` (spaces and tabs before a block or comment tag on its own line are dropped),
/// `-` markers (all whitespace on that side is dropped), `+` markers (disable the two options), and
/// `keep_trailing_newline=False` (one trailing newline of the template is dropped).
struct JinjaToken {
    enum Kind: Equatable {
        case text, varBegin, varEnd, blockBegin, blockEnd, name, string, int, float, op, eof
    }
    var kind: Kind
    var text: String = ""
    var int: Int = 0
    var float: Double = 0
    var line: Int
}

struct JinjaLexer {
    private let s: [Unicode.Scalar]
    private var i = 0
    private var line = 1
    private(set) var tokens: [JinjaToken] = []

    static func tokenize(_ source: String) throws -> [JinjaToken] {
        var lx = JinjaLexer(source)
        try lx.run()
        return lx.tokens
    }

    private init(_ source: String) {
        // Newlines normalized to "\n" (jinja2 does the same for text and string literals).
        var a: [Unicode.Scalar] = []
        a.reserveCapacity(source.unicodeScalars.count)
        var it = source.unicodeScalars.makeIterator()
        var pendingCR = false
        while let u = it.next() {
            if pendingCR {
                pendingCR = false
                a.append("\n")
                if u == "\n" { continue }
            }
            if u == "\r" { pendingCR = true } else { a.append(u) }
        }
        if pendingCR { a.append("\n") }
        if a.last == "\n" { a.removeLast() }
        s = a
    }

    private func fail(_ m: String) -> MIIError { MIIError.format("chat template line \(line): \(m)") }

    private func at(_ k: Int) -> Unicode.Scalar? { k < s.count ? s[k] : nil }

    private func isSpace(_ u: Unicode.Scalar) -> Bool { u.properties.isWhitespace }

    private mutating func run() throws {
        var lineStarting = true
        var stripNext = false
        while i < s.count || stripNext {
            // Find the next tag opening.
            var j = i
            var tag: Unicode.Scalar? = nil
            while j + 1 < s.count {
                if s[j] == "{", s[j + 1] == "{" || s[j + 1] == "%" || s[j + 1] == "#" {
                    tag = s[j + 1]
                    break
                }
                j += 1
            }
            if tag == nil { j = s.count }
            var text = Array(s[i..<j])
            if stripNext {
                var k = 0
                while k < text.count, isSpace(text[k]) { k += 1 }
                text.removeFirst(k)
                stripNext = false
            }
            let marker = tag != nil ? at(j + 2) : nil
            if tag != nil {
                if marker == "-" {
                    while let last = text.last, isSpace(last) { text.removeLast() }
                } else if tag != "{", marker != "+" {
                    // lstrip_blocks: only spaces/tabs between the line start and the tag.
                    var l = text.count
                    while l > 0, text[l - 1] == " " || text[l - 1] == "\t" { l -= 1 }
                    if l > 0 ? text[l - 1] == "\n" : lineStarting { text.removeLast(text.count - l) }
                }
            }
            if !text.isEmpty {
                var str = ""
                str.unicodeScalars.append(contentsOf: text)
                tokens.append(JinjaToken(kind: .text, text: str, line: line))
            }
            countLines(i, j)
            guard let kind = tag else { break }
            i = j + 2
            if marker == "-" || marker == "+" { i += 1 }
            switch kind {
            case "#":
                // Comment: skip to "#}".
                var k = i
                while k + 1 < s.count, !(s[k] == "#" && s[k + 1] == "}") { k += 1 }
                guard k + 1 < s.count else { throw fail("unterminated comment") }
                let dash = k > i && s[k - 1] == "-"
                let plus = k > i && s[k - 1] == "+"
                countLines(i, k)
                i = k + 2
                (stripNext, lineStarting) = afterTag(dash: dash, plus: plus, trim: true)
            case "%":
                if try lexRaw() { lineStarting = false; continue }
                tokens.append(JinjaToken(kind: .blockBegin, line: line))
                let (dash, plus) = try lexExpression(block: true)
                tokens.append(JinjaToken(kind: .blockEnd, line: line))
                (stripNext, lineStarting) = afterTag(dash: dash, plus: plus, trim: true)
            default:
                tokens.append(JinjaToken(kind: .varBegin, line: line))
                let (dash, _) = try lexExpression(block: false)
                tokens.append(JinjaToken(kind: .varEnd, line: line))
                (stripNext, lineStarting) = afterTag(dash: dash, plus: true, trim: false)
            }
        }
        tokens.append(JinjaToken(kind: .eof, line: line))
    }

    /// After a tag's closing delimiter: a `-` strips the following whitespace, otherwise trim_blocks
    /// eats one newline after block and comment tags. Returns (strip next text, next text starts a line).
    private mutating func afterTag(dash: Bool, plus: Bool, trim: Bool) -> (Bool, Bool) {
        if dash {
            // Emulate jinja2, whose end-of-tag match swallows the whitespace: the next text starts a
            // line if the swallowed whitespace ended with a newline.
            var k = i
            while k < s.count, isSpace(s[k]) { k += 1 }
            let starts = k > i && s[k - 1] == "\n"
            countLines(i, k)
            i = k
            return (false, starts)
        }
        if trim && !plus && at(i) == "\n" {
            i += 1
            line += 1
            return (false, true)
        }
        return (false, false)
    }

    private mutating func countLines(_ a: Int, _ b: Int) {
        var k = a
        while k < b && k < s.count {
            if s[k] == "\n" { line += 1 }
            k += 1
        }
    }

    /// `{% raw %}...{% endraw %}`: emits the contents as text. Returns false when the tag is not raw.
    private mutating func lexRaw() throws -> Bool {
        var k = i
        while k < s.count, isSpace(s[k]) { k += 1 }
        guard k + 3 <= s.count, String(String.UnicodeScalarView(s[k..<k + 3])) == "raw" else { return false }
        k += 3
        while k < s.count, isSpace(s[k]) { k += 1 }
        var dash = false
        if at(k) == "-" { dash = true; k += 1 }
        guard at(k) == "%", at(k + 1) == "}" else { return false }
        k += 2
        if dash { while k < s.count, isSpace(s[k]) { k += 1 } } else if at(k) == "\n" { k += 1 }
        // Find {%-? endraw -?%}
        var m = k
        while m + 1 < s.count {
            if s[m] == "{" && s[m + 1] == "%" {
                var p = m + 2
                let innerDash = at(p) == "-"
                if innerDash || at(p) == "+" { p += 1 }
                while p < s.count, isSpace(s[p]) { p += 1 }
                if p + 6 <= s.count, String(String.UnicodeScalarView(s[p..<p + 6])) == "endraw" {
                    p += 6
                    while p < s.count, isSpace(s[p]) { p += 1 }
                    var endDash = false
                    if at(p) == "-" { endDash = true; p += 1 }
                    if at(p) == "%", at(p + 1) == "}" {
                        var body = Array(s[k..<m])
                        if innerDash { while let l = body.last, isSpace(l) { body.removeLast() } }
                        var str = ""
                        str.unicodeScalars.append(contentsOf: body)
                        if !str.isEmpty { tokens.append(JinjaToken(kind: .text, text: str, line: line)) }
                        countLines(i, p + 2)
                        i = p + 2
                        if endDash {
                            while i < s.count, isSpace(s[i]) { i += 1 }
                        } else if at(i) == "\n" {
                            i += 1
                            line += 1
                        }
                        return true
                    }
                }
            }
            m += 1
        }
        throw fail("unterminated raw block")
    }

    /// Tokens up to the closing `%}` / `}}` (at bracket depth 0). Returns the (-, +) markers of the end.
    private mutating func lexExpression(block: Bool) throws -> (Bool, Bool) {
        var depth = 0
        let startLine = line
        while true {
            guard i < s.count else {
                throw MIIError.format("chat template line \(startLine): unterminated '\(block ? "{%" : "{{")' tag")
            }
            let c = s[i]
            if c == "\n" { line += 1; i += 1; continue }
            if isSpace(c) { i += 1; continue }
            if depth == 0 {
                let close: Unicode.Scalar = block ? "%" : "}"
                if c == close, at(i + 1) == "}" { i += 2; return (false, false) }
                if c == "-" || c == "+", at(i + 1) == close, at(i + 2) == "}" {
                    i += 3
                    return (c == "-", c == "+")
                }
            }
            if c == "'" || c == "\"" {
                tokens.append(JinjaToken(kind: .string, text: try lexString(c), line: line))
                continue
            }
            if c.properties.numericType != nil, c.isASCII {
                try lexNumber()
                continue
            }
            if c == "_" || c.properties.isAlphabetic {
                let start = i
                while i < s.count, s[i] == "_" || s[i].properties.isAlphabetic || (s[i].isASCII && s[i].properties.numericType != nil) {
                    i += 1
                }
                var name = ""
                name.unicodeScalars.append(contentsOf: s[start..<i])
                tokens.append(JinjaToken(kind: .name, text: name, line: line))
                continue
            }
            // Operators, longest first.
            let two: String? = i + 1 < s.count ? String(String.UnicodeScalarView([c, s[i + 1]])) : nil
            if let t = two, ["**", "//", "==", "!=", "<=", ">="].contains(t) {
                tokens.append(JinjaToken(kind: .op, text: t, line: line))
                i += 2
                continue
            }
            let one = String(c)
            guard "+-*/%~<>=.,:|()[]{};".unicodeScalars.contains(c) else {
                throw fail("unexpected character '\(one)' in tag")
            }
            if c == "(" || c == "[" || c == "{" { depth += 1 }
            if c == ")" || c == "]" || c == "}" {
                depth -= 1
                if depth < 0 { throw fail("unbalanced '\(one)'") }
            }
            tokens.append(JinjaToken(kind: .op, text: one, line: line))
            i += 1
        }
    }

    /// A string literal, decoded like Python's unicode-escape (unknown escapes are kept verbatim).
    private mutating func lexString(_ quote: Unicode.Scalar) throws -> String {
        let startLine = line
        i += 1
        var out = String.UnicodeScalarView()
        while true {
            guard i < s.count else {
                throw MIIError.format("chat template line \(startLine): unterminated string literal")
            }
            let c = s[i]
            if c == quote { i += 1; break }
            if c == "\n" { line += 1 }
            if c != "\\" {
                out.append(c)
                i += 1
                continue
            }
            guard let n = at(i + 1) else { throw fail("unterminated string literal") }
            i += 2
            switch n {
            case "n": out.append("\n")
            case "t": out.append("\t")
            case "r": out.append("\r")
            case "\\": out.append("\\")
            case "'": out.append("'")
            case "\"": out.append("\"")
            case "a": out.append("\u{07}")
            case "b": out.append("\u{08}")
            case "f": out.append("\u{0C}")
            case "v": out.append("\u{0B}")
            case "\n": line += 1  // line continuation
            case "x", "u", "U":
                let width = n == "x" ? 2 : n == "u" ? 4 : 8
                var v: UInt32 = 0
                for _ in 0..<width {
                    guard let h = at(i), let d = hexDigit(h) else { throw fail("truncated \\\(n) escape in string literal") }
                    v = v << 4 | d
                    i += 1
                }
                guard let u = Unicode.Scalar(v) else { throw fail("invalid \\\(n) escape in string literal") }
                out.append(u)
            case "0"..."7":
                var v: UInt32 = n.value - 0x30
                var count = 1
                while count < 3, let d = at(i), d.value >= 0x30, d.value <= 0x37 {
                    v = v * 8 + d.value - 0x30
                    i += 1
                    count += 1
                }
                guard let u = Unicode.Scalar(v) else { throw fail("invalid octal escape") }
                out.append(u)
            default:
                out.append("\\")
                out.append(n)
                if n == "\n" { line += 1 }
            }
        }
        return String(out)
    }

    private func hexDigit(_ u: Unicode.Scalar) -> UInt32? {
        switch u {
        case "0"..."9": return u.value - 0x30
        case "a"..."f": return u.value - 0x61 + 10
        case "A"..."F": return u.value - 0x41 + 10
        default: return nil
        }
    }

    private func isDigit(_ k: Int) -> Bool {
        guard let u = at(k) else { return false }
        return u.value >= 0x30 && u.value <= 0x39
    }

    private mutating func lexNumber() throws {
        var text = ""
        var isFloat = false
        func digits(_ lx: inout JinjaLexer) {
            while lx.i < lx.s.count {
                if lx.isDigit(lx.i) { text.unicodeScalars.append(lx.s[lx.i]); lx.i += 1 }
                else if lx.s[lx.i] == "_", lx.isDigit(lx.i + 1), lx.i > 0, lx.isDigit(lx.i - 1) { lx.i += 1 }
                else { break }
            }
        }
        digits(&self)
        if at(i) == ".", isDigit(i + 1) {
            isFloat = true
            text += "."
            i += 1
            digits(&self)
        }
        if at(i) == "e" || at(i) == "E" {
            var k = i + 1
            if at(k) == "+" || at(k) == "-" { k += 1 }
            if isDigit(k) {
                isFloat = true
                text += "e"
                if let sign = at(i + 1), sign == "+" || sign == "-" { text.unicodeScalars.append(sign) }
                i = k
                digits(&self)
            }
        }
        if isFloat {
            guard let d = Double(text) else { throw fail("bad number literal \(text)") }
            tokens.append(JinjaToken(kind: .float, float: d, line: line))
        } else {
            guard let v = Int(text) else { throw fail("integer literal \(text) is too large") }
            tokens.append(JinjaToken(kind: .int, int: v, line: line))
        }
    }
}
