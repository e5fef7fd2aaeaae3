import Foundation
import MIICore
import XCTest

/// The Jinja interpreter's language features (snippets rendered by jinja2 in transformers'
/// environment: Tests/Fixtures/chat_templates/features.json) and its behaviour on hostile templates.
final class JinjaTests: XCTestCase {
    private func render(_ source: String, _ context: [String: JSONValue] = [:]) throws -> String {
        try JinjaTemplate(source).render(context)
    }

    private func assertError(_ source: String, _ context: [String: JSONValue] = [:], code: MIIError.Code? = nil,
                             contains text: String? = nil, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try render(source, context), file: file, line: line) { e in
            guard let m = e as? MIIError else { return XCTFail("not an MIIError: \(e)", file: file, line: line) }
            if let code { XCTAssertEqual(m.code, code, "\(m)", file: file, line: line) }
            if let text { XCTAssertTrue(m.message.contains(text), "\(m.message)", file: file, line: line) }
        }
    }

    func testFeatureSnippetsMatchJinja2() throws {
        let url = Fixtures.root.appendingPathComponent("chat_templates/features.json")
        let doc = try JSONValue.parse(String(contentsOf: url, encoding: .utf8))
        let cases = try XCTUnwrap(doc["cases"]?.array)
        XCTAssertGreaterThan(cases.count, 60)
        for c in cases {
            let source = try XCTUnwrap(c["template"]?.string)
            var ctx: [String: JSONValue] = [:]
            for (k, v) in c["context"]?.object ?? [] { ctx[k] = v }
            if let want = c["text"]?.string {
                do {
                    XCTAssertEqual(try render(source, ctx), want, source)
                } catch {
                    XCTFail("\(source): \(error)")
                }
            } else {
                XCTAssertThrowsError(try render(source, ctx), "jinja2: \(c["error"]?.string ?? "")") { e in
                    XCTAssertTrue(e is MIIError, "\(source): \(e)")
                }
            }
        }
    }

    func testRaiseExceptionCarriesTheMessage() {
        assertError("{{ raise_exception('Conversation roles must alternate') }}", code: .invalidArgument,
                    contains: "Conversation roles must alternate")
    }

    func testErrorsNameTheLine() {
        assertError("a\nb\n{{ 1 + }}", code: .invalidFormat, contains: "line 3")
        assertError("x\n{% if a %}\n{{ 'a' + 1 }}{% endif %}", ["a": .bool(true)], code: .invalidFormat, contains: "line 3")
    }

    func testUnterminatedConstructs() {
        assertError("{{ x", code: .invalidFormat, contains: "unterminated")
        assertError("{% if x %}", code: .invalidFormat, contains: "endif")
        assertError("{% for x in y %}{% if x %}{% endfor %}", code: .invalidFormat)
        assertError("{# comment", code: .invalidFormat, contains: "unterminated comment")
        assertError("{{ 'abc }}", code: .invalidFormat, contains: "unterminated string")
        assertError("{% raw %}abc", code: .invalidFormat, contains: "raw")
        assertError("{{ (1 + 2 }}", code: .invalidFormat)
        assertError("{{ a ] }}", code: .invalidFormat)
        assertError("{% macro m( %}{% endmacro %}", code: .invalidFormat)
        assertError("{% include 'x' %}", code: .unsupported, contains: "include")
        assertError("{% for x in y recursive %}{% endfor %}", code: .unsupported)
        assertError("{{ 99999999999999999999999 }}", code: .invalidFormat)
    }

    func testDeepNestingIsRejectedNotOverflowed() {
        let n = 5000
        assertError("{{ " + String(repeating: "(", count: n) + "1" + String(repeating: ")", count: n) + " }}",
                    code: .invalidFormat, contains: "nested")
        assertError("{{ " + String(repeating: "[", count: n) + String(repeating: "]", count: n) + " }}", code: .invalidFormat)
        assertError("{{ " + String(repeating: "not ", count: n) + "1 }}", code: .invalidFormat, contains: "nested")
        assertError("{{ " + String(repeating: "-", count: n) + "1 }}", code: .invalidFormat, contains: "nested")
        assertError(String(repeating: "{% if true %}", count: n) + String(repeating: "{% endif %}", count: n),
                    code: .invalidFormat, contains: "nested")
        // A long flat chain parses (iteratively) but its evaluation depth is bounded.
        assertError("{{ 1" + String(repeating: " + 1", count: n) + " }}", code: .invalidFormat, contains: "nested")
        XCTAssertEqual(try render("{{ 1" + String(repeating: " + 1", count: 99) + " }}"), "100")
    }

    func testRunawayRecursionIsBounded() {
        assertError("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", code: .invalidFormat, contains: "nested")
        assertError("{% macro f() %}{% call f() %}{% endcall %}{% endmacro %}{{ f() }}", code: .invalidFormat)
    }

    func testHugeLoopsAreBounded() {
        assertError("{% for i in range(100000000) %}x{% endfor %}", code: .invalidFormat, contains: "range")
        let nested = "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}"
        assertError(nested, code: .invalidFormat, contains: "steps")
        assertError("{% set ns = namespace(l=[1]) %}{% for i in range(40) %}{% set ns.l = ns.l + ns.l %}{% endfor %}",
                    code: .invalidFormat)
    }

    func testGiantOutputIsBounded() {
        assertError("{{ 'x' * 100000000000 }}", code: .invalidFormat, contains: "bytes")
        assertError("{% set ns = namespace(s='xxxxxxxxxxxxxxxx') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
                    code: .invalidFormat, contains: "bytes")
        let s = String(repeating: "y", count: 1 << 20)
        assertError("{% for i in range(100000) %}{{ s }}{% endfor %}", ["s": .string(s)], code: .invalidFormat, contains: "bytes")
        assertError("{{ [0] * 100000000000 }}", code: .invalidFormat)
    }

    func testArithmeticOverflowIsAnError() {
        assertError("{{ 9223372036854775807 + 1 }}", code: .invalidFormat, contains: "overflow")
        assertError("{{ 2 ** 64 }}", code: .invalidFormat, contains: "overflow")
        assertError("{{ -(-9223372036854775807 - 1) }}", code: .invalidFormat, contains: "overflow")
        assertError("{{ (-9223372036854775807 - 1) // -1 }}", code: .invalidFormat, contains: "overflow")
        XCTAssertEqual(try render("{{ (-9223372036854775807 - 1) % -1 }}"), "0")
    }

    func testHostileValuesDoNotTrap() throws {
        // Self-referencing namespaces print without unbounded recursion.
        assertError("{% set ns = namespace() %}{% set ns.me = ns %}{{ ns }}", code: .invalidFormat, contains: "nest")
        // Deeply nested data from the caller.
        var v = JSONValue.string("x")
        for _ in 0..<300 { v = .array([v]) }
        assertError("{{ v }}", ["v": v], code: .invalidFormat)
        assertError("{{ v|tojson }}", ["v": v], code: .invalidFormat)
        // Pathological substring searches stay linear.
        let hay = String(repeating: "a", count: 200_000)
        let needle = String(repeating: "a", count: 100_000) + "b"
        XCTAssertEqual(try render("{{ n in h }}", ["h": .string(hay), "n": .string(needle)]), "False")
        XCTAssertEqual(try render("{{ h.replace(n, '') | length }}", ["h": .string(hay), "n": .string(needle)]), "200000")
        // Odd bytes and lone surrogate-free unicode pass through.
        XCTAssertEqual(try render("{{ '\\x00\\u2028' | tojson }}"), "\"\\u0000\u{2028}\"")
        assertError("{{ '\\ud800' }}", code: .invalidFormat)
        assertError("{{ 'a'[1:2:0] }}", code: .invalidFormat, contains: "zero")
        assertError("{{ {[1]: 2} }}", code: .invalidFormat, contains: "unhashable")
    }

    func testFuzzedTemplatesNeverTrap() {
        // Every prefix and a sample of mutations of a real template either renders or throws MIIError.
        let source = """
        {%- set ns = namespace(sys='') -%}{%- for m in messages -%}{%- if m['role'] == 'system' -%}\
        {%- set ns.sys = m['content'] | trim -%}{%- else -%}{{ '<|' + m.role + '|>\\n' ~ m.content ~ eos_token }}\
        {%- endif -%}{%- endfor -%}{% if add_generation_prompt %}{{ '<|assistant|>' }}{% endif %}{# end #}
        """
        let ctx: [String: JSONValue] = [
            "messages": .array([.object([("role", .string("system")), ("content", .string(" s "))]),
                                .object([("role", .string("user")), ("content", .string("hi"))])]),
            "eos_token": .string("</s>"), "add_generation_prompt": .bool(true),
        ]
        let scalars = Array(source.unicodeScalars)
        var inputs: [String] = []
        for i in 0...scalars.count { inputs.append(ScalarString(scalars[0..<i])) }
        var rng = SplitMix64(seed: 0x5eed)
        let alphabet = Array("{}%#-+()[]'\"|.,=~ \nabc01".unicodeScalars)
        for _ in 0..<500 {
            var s = scalars
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                let i = Int.random(in: 0..<s.count, using: &rng)
                switch Int.random(in: 0..<3, using: &rng) {
                case 0: s.remove(at: i)
                case 1: s.insert(alphabet.randomElement(using: &rng) ?? "x", at: i)
                default: s[i] = alphabet.randomElement(using: &rng) ?? "x"
                }
            }
            inputs.append(ScalarString(s[...]))
        }
        for input in inputs {
            do {
                _ = try JinjaTemplate(input).render(ctx)
            } catch is MIIError {
            } catch {
                XCTFail("non-MIIError for \(input.debugDescription): \(error)")
            }
        }
    }

    func testChatTemplateContext() throws {
        let t = ChatTemplate(source: "{{ bos_token }}|{{ tools is none }}|{{ documents is none }}|{{ x }}|"
                             + "{% for m in messages %}{{ m.content[0].text if m.content is not string else m.content }}{% endfor %}",
                             tokenizer: nil)
        let parts = JSONValue.array([.object([("type", .string("text")), ("text", .string("part"))])])
        let msgs: [JSONValue] = [.object([("role", .string("user")), ("content", parts)]),
                                 .object([("role", .string("user")), ("content", .string("plain"))])]
        XCTAssertEqual(try t.render(messages: msgs, addGenerationPrompt: true, variables: ["x": .string("X")]),
                       "|True|True|X|partplain")
    }

    func testStrftimeNow() throws {
        let year = try render("{{ strftime_now('%Y') }}")
        XCTAssertEqual(year.count, 4)
        XCTAssertNotNil(Int(year))
        XCTAssertEqual(try render("{{ strftime_now('%%') }}"), "%")
    }
}

/// A deterministic generator, so the fuzz inputs are the same on every run.
private struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

private func ScalarString(_ s: ArraySlice<Unicode.Scalar>) -> String {
    var r = ""
    r.unicodeScalars.append(contentsOf: s)
    return r
}

extension JinjaTests {
    func testValueNestingAndAmplificationAreBounded() {
        // Nesting built up one statement at a time (would overflow the stack when freed or printed).
        assertError("{% set ns = namespace(l=[]) %}{% for i in range(100000) %}{% set ns.l = [ns.l] %}{% endfor %}",
                    code: .invalidFormat, contains: "nests")
        assertError(String(repeating: "{% set x = [x] %}", count: 2000), code: .invalidFormat, contains: "nests")
        assertError("{% set ns = namespace() %}{% set ns.me = ns %}", code: .invalidFormat, contains: "nests")
        // One operation that would produce a huge string.
        let big = "{% set s = 'a' * 1000000 %}"
        assertError(big + "{{ s.replace('a', s) }}", code: .invalidFormat, contains: "bytes")
        assertError(big + "{{ s|replace('a', s) }}", code: .invalidFormat, contains: "bytes")
        assertError(big + "{{ [s] * 100 }}", code: .invalidFormat, contains: "bytes")
        assertError("{{ 'x'.center(99999999999999, 'ab') }}", code: .invalidFormat)
        assertError("{{ '{:>99999999999999}'.format(1) }}", code: .invalidFormat, contains: "bytes")
        XCTAssertEqual(try? render("{{ '%d'|format(1e300) }}"), nil)  // Python prints the 301-digit integer
        XCTAssertEqual(try render("{{ [1, 2, 3][::9223372036854775807] }}"), "[1]")
    }
}
