import Foundation
import MIICore
import XCTest

/// Real chat templates (Tests/Fixtures/chat_templates) rendered by libmii's Jinja interpreter against
/// transformers' renderer (scripts/fixtures/make_jinja_reference.py): every case must give the same
/// text, or fail where jinja2 fails.
final class JinjaReferenceTests: XCTestCase {
    /// Cases known to differ, as "template#conversation#add_generation_prompt". Keep empty when possible.
    static let knownDifferences: Set<String> = []

    func testRealTemplatesMatchTransformers() throws {
        let dir = Fixtures.root.appendingPathComponent("chat_templates")
        let doc = try JSONValue.parse(String(contentsOf: dir.appendingPathComponent("expected.json"), encoding: .utf8))
        let index = try JSONValue.parse(String(contentsOf: dir.appendingPathComponent("templates.json"), encoding: .utf8))
        let context = try XCTUnwrap(doc["context"]?.object)
        let conversations = try XCTUnwrap(doc["conversations"]?.array)
        let cases = try XCTUnwrap(doc["cases"]?.array)
        // strftime_now renders the time the reference was made at (templates print "today").
        let now = try XCTUnwrap(doc["now"]?.int, "expected.json records the render time")
        var templates: [String: JinjaTemplate] = [:]
        var parseErrors: [String: MIIError] = [:]
        for entry in try XCTUnwrap(index.array) {
            let name = try XCTUnwrap(entry["name"]?.string)
            let file = try XCTUnwrap(entry["file"]?.string)
            let source = try String(contentsOf: dir.appendingPathComponent("templates").appendingPathComponent(file), encoding: .utf8)
            do { templates[name] = try JinjaTemplate(source) } catch let e as MIIError { parseErrors[name] = e }
        }
        var matched = 0, failedTemplates: [String: String] = [:], passing = Set<String>()
        var allTemplates = Set<String>()
        for c in cases {
            let name = try XCTUnwrap(c["template"]?.string)
            allTemplates.insert(name)
            let ci = Int(try XCTUnwrap(c["conversation"]?.int))
            let gen = try XCTUnwrap(c["add_generation_prompt"]?.bool)
            let key = "\(name)#\(ci)#\(gen)"
            var vars: [String: JSONValue] = [:]
            for (k, v) in context { vars[k] = v }
            vars["messages"] = conversations[ci]["messages"] ?? .null
            vars["add_generation_prompt"] = .bool(gen)
            vars["tools"] = conversations[ci]["tools"] ?? .null
            vars["documents"] = JSONValue.null
            var result: Result<String, Error>
            if let t = templates[name] {
                result = Result { try t.render(vars, now: Int(now)) }
            } else {
                result = .failure(parseErrors[name] ?? MIIError.format("missing"))
            }
            var ok = false
            var why = ""
            switch (result, c["text"]?.string) {
            case (.success(let got), .some(let want)):
                ok = got == want
                if !ok { why = "differs: " + firstDifference(got, want) }
            case (.failure, .none):
                ok = true  // jinja2 fails too
            case (.failure(let e), .some):
                why = "error: \(e)"
            case (.success, .none):
                why = "rendered, jinja2 raised \(c["error"]?.string ?? "")"
            }
            if ok {
                matched += 1
            } else {
                if failedTemplates[name] == nil { failedTemplates[name] = "\(key): \(why)" }
                if !Self.knownDifferences.contains(key) { XCTFail("\(key): \(why)") }
            }
        }
        for n in allTemplates where failedTemplates[n] == nil { passing.insert(n) }
        print("jinja reference: \(matched)/\(cases.count) cases match; \(passing.count)/\(allTemplates.count) templates match in every case")
        for (n, why) in failedTemplates.sorted(by: { $0.key < $1.key }) { print("  FAIL \(n): \(why.prefix(300))") }
    }

    private func firstDifference(_ a: String, _ b: String) -> String {
        let x = Array(a.unicodeScalars), y = Array(b.unicodeScalars)
        var i = 0
        while i < x.count, i < y.count, x[i] == y[i] { i += 1 }
        func around(_ s: [Unicode.Scalar]) -> String {
            let lo = max(0, i - 40), hi = min(s.count, i + 40)
            var r = ""
            r.unicodeScalars.append(contentsOf: s[lo..<hi])
            return r.debugDescription
        }
        return "at \(i): got \(around(x)) want \(around(y))"
    }
}
