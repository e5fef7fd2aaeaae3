import Foundation
import MIICore
import XCTest

/// Conformance of the strict JSON parser (Sources/MIICore/Formats/JSON.swift): a table of valid and
/// invalid documents, numbers compared bit-for-bit with Python's json module
/// (Tests/Fixtures/safetensors/json_numbers.json, from scripts/fixtures/make_safetensors_fixtures.py),
/// limits (depth, number length) and linear time on large inputs.
final class JSONTests: XCTestCase {
    func parse(_ s: String) throws -> JSONValue { try JSONValue.parse(s) }

    func parseBytes(_ b: [UInt8]) throws -> JSONValue { try JSONValue.parse(b) }

    /// Documents that must parse, with their expected value.
    let valid: [(String, JSONValue)] = [
        ("null", .null),
        ("true", .bool(true)),
        (" false ", .bool(false)),
        ("0", .int(0)),
        ("-0", .int(0)),
        ("42", .int(42)),
        ("-17", .int(-17)),
        ("9223372036854775807", .int(Int64.max)),
        ("-9223372036854775808", .int(Int64.min)),
        ("9223372036854775808", .number(9223372036854775808.0)),
        ("1.5", .number(1.5)),
        ("-0.25e2", .number(-25)),
        ("1E3", .number(1000)),
        ("1e+3", .number(1000)),
        ("2.0", .number(2)),
        ("\"\"", .string("")),
        ("\"abc\"", .string("abc")),
        ("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", .string("\"\\/\u{8}\u{c}\n\r\t")),
        ("\"\\u0041\\u00e9\\u4E16\"", .string("Aé世")),
        ("\"\\u0000\"", .string("\u{0}")),
        ("\"\\uD83D\\uDE00\"", .string("😀")),
        ("\"\\ud834\\udd1e\"", .string("𝄞")),
        ("\"héllo 世界 😀\"", .string("héllo 世界 😀")),
        ("[]", .array([])),
        ("{}", .object([])),
        (" [ 1 , \"a\" , null , [ ] , { } ] ", .array([.int(1), .string("a"), .null, .array([]), .object([])])),
        ("{\"a\":1,\"b\":[true,false]}", .object([("a", .int(1)), ("b", .array([.bool(true), .bool(false)]))])),
        ("\t\r\n{\n\"k\" : \"v\"\n}\n", .object([("k", .string("v"))])),
        // Duplicate keys: first position, last value (as Python's json).
        ("{\"a\":1,\"b\":2,\"a\":3}", .object([("a", .int(3)), ("b", .int(2))])),
        ("[[[[[]]]]]", .array([.array([.array([.array([.array([])])])])])),
    ]

    /// Documents that must be rejected, with a fragment of the expected message.
    let invalid: [(String, String)] = [
        ("", "empty document"),
        ("   ", "unexpected end"),
        ("[1,]", "unexpected ']'"),
        ("{\"a\":1,}", "expected an object key"),
        ("[1 2]", "expected ',' or ']'"),
        ("{\"a\" 1}", "expected ':'"),
        ("{a:1}", "expected an object key"),
        ("{\"a\":}", "unexpected '}'"),
        ("01", "leading zeros"),
        ("-01", "leading zeros"),
        ("1.", "after '.'"),
        (".5", "unexpected '.'"),
        ("1e", "exponent"),
        ("1e+", "exponent"),
        ("+1", "unexpected '+'"),
        ("-", "expected a digit"),
        ("NaN", "unexpected 'N'"),
        ("Infinity", "unexpected 'I'"),
        ("-Infinity", "expected a digit"),
        ("nul", "invalid literal"),
        ("truex", "after the document"),
        ("1 2", "after the document"),
        ("[1] x", "after the document"),
        ("\"abc", "unterminated string"),
        ("\"a\tb\"", "control character"),
        ("\"a\nb\"", "control character"),
        ("\"\\x\"", "invalid escape"),
        ("\"\\u12\"", "\\u escape"),
        ("\"\\u12G4\"", "invalid hex digit"),
        ("\"\\uD83D\"", "unpaired high surrogate"),
        ("\"\\uD83Dx\"", "unpaired high surrogate"),
        ("\"\\uD83D\\u0041\"", "not followed by a low surrogate"),
        ("\"\\uDE00\"", "unpaired low surrogate"),
        ("[", "unexpected end"),
        ("{\"a\":1", "expected ',' or '}'"),
        ("]", "unexpected ']'"),
        ("'a'", "unexpected '''"),
        ("1e400", "out of the range"),
        ("-1e400", "out of the range"),
        ("[1,,2]", "unexpected ','"),
    ]

    func testValidDocuments() throws {
        for (text, expected) in valid {
            do {
                let v = try parse(text)
                XCTAssertEqual(v, expected, "parsing \(text.debugDescription)")
            } catch {
                XCTFail("\(text.debugDescription) should parse, got \(error)")
            }
        }
    }

    func testInvalidDocuments() {
        for (text, fragment) in invalid {
            do {
                let v = try parse(text)
                XCTFail("\(text.debugDescription) should be rejected, parsed as \(v)")
            } catch let e as MIIError {
                XCTAssertEqual(e.code, .invalidFormat, text)
                XCTAssertTrue(e.message.contains(fragment), "\(text.debugDescription): message '\(e.message)' lacks '\(fragment)'")
                XCTAssertTrue(e.message.contains("byte offset"), e.message)
            } catch {
                XCTFail("\(text.debugDescription): unexpected error \(error)")
            }
        }
    }

    func testErrorOffsets() {
        func offset(_ s: String) -> String? {
            do { _ = try parse(s); return nil } catch { return "\(error)" }
        }
        XCTAssertTrue(offset("[1,]")?.hasSuffix("byte offset 3") ?? false, offset("[1,]") ?? "")
        XCTAssertTrue(offset("{\"a\": tru}")?.hasSuffix("byte offset 6") ?? false, offset("{\"a\": tru}") ?? "")
        XCTAssertTrue(offset("\"ab\\uDE00\"")?.hasSuffix("byte offset 3") ?? false, offset("\"ab\\uDE00\"") ?? "")
    }

    func testInvalidUTF8() {
        let bad: [[UInt8]] = [
            [0x22, 0xFF, 0x22],                    // invalid byte
            [0x22, 0xC0, 0xAF, 0x22],              // overlong '/'
            [0x22, 0xE0, 0x80, 0xAF, 0x22],        // overlong
            [0x22, 0xED, 0xA0, 0x80, 0x22],        // encoded surrogate U+D800
            [0x22, 0xF4, 0x90, 0x80, 0x80, 0x22],  // above U+10FFFF
            [0x22, 0xE4, 0xB8, 0x22],              // truncated sequence
            [0x22, 0x80, 0x22],                    // lone continuation byte
            [0x7B, 0x22, 0x61, 0xFE, 0x22, 0x3A, 0x31, 0x7D],  // in a key
            [0xEF, 0xBB, 0xBF, 0x31],              // byte order mark
            [0x5B, 0x31, 0x5D, 0x00],              // trailing NUL
        ]
        for b in bad {
            XCTAssertThrowsError(try parseBytes(b), "\(b)") { e in
                XCTAssertTrue(e is MIIError)
            }
        }
        XCTAssertEqual(try parseBytes([0x22, 0xF0, 0x9F, 0x98, 0x80, 0x22]), .string("😀"))
        XCTAssertEqual(try parseBytes([0x22, 0xEF, 0xBF, 0xBF, 0x22]), .string("\u{FFFF}"))
    }

    func testNestingLimit() throws {
        let d = Limits.maxJSONDepth
        let ok = String(repeating: "[", count: d) + String(repeating: "]", count: d)
        var v = try parse(ok)
        var depth = 0
        while case .array(let a) = v, let first = a.first { v = first; depth += 1 }
        XCTAssertEqual(depth, d - 1)
        let tooDeep = String(repeating: "[", count: d + 1) + String(repeating: "]", count: d + 1)
        XCTAssertThrowsError(try parse(tooDeep)) { e in
            XCTAssertTrue("\(e)".contains("nesting deeper"), "\(e)")
        }
        let objects = String(repeating: "{\"a\":", count: d + 1) + "1" + String(repeating: "}", count: d + 1)
        XCTAssertThrowsError(try parse(objects))
        // A million levels must be rejected quickly, without recursion.
        let clock = ContinuousClock()
        let t = try clock.measure {
            XCTAssertThrowsError(try parseBytes([UInt8](repeating: 0x5B, count: 1_000_000)))
        }
        XCTAssertLessThan(t, .seconds(1))
    }

    func testNumbersMatchPython() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("safetensors/json_numbers.json")))
        let entries = try JSONSerialization.jsonObject(with: data) as! [[String: Any]]
        XCTAssertGreaterThan(entries.count, 20)
        for e in entries {
            let text = e["text"] as! String
            if e["error"] != nil {
                XCTAssertThrowsError(try parse(text), text)
                continue
            }
            let v = try parse(text)
            if let i = e["int"] as? String {
                XCTAssertEqual(v, .int(Int64(i)!), text)
            } else {
                let bits = UInt64(e["bits"] as! String)!
                guard case .number(let d) = v else { XCTFail("\(text) parsed as \(v), expected a double"); continue }
                XCTAssertEqual(d.bitPattern, bits, "\(text): got \(d), Python \(Double(bitPattern: bits))")
            }
        }
    }

    func testNumberLengthLimit() throws {
        let long = "1." + String(repeating: "0", count: 100) + "1"
        XCTAssertEqual(try parse(long), .number(1.0))
        XCTAssertThrowsError(try parse("1" + String(repeating: "0", count: Limits.maxJSONNumberBytes + 10)))
    }

    /// The value limit bounds the parser's memory: a document of exactly `maxValues` values (object keys
    /// included) parses, one
    /// more is an error naming the limit, for every kind of value and at any point of the growth of the
    /// node buffer.
    func testValueLimit() throws {
        let docs: [(String, Int)] = [
            ("[0,1,2,3,4]", 6),
            (#"{"a":"x","b":[true,false,null]}"#, 8),  // object, 2 keys, "x", array, 3 literals
            (#"["s","t"]"#, 3),
            ("7", 1),
        ]
        for (text, values) in docs {
            let bytes = Array(text.utf8)
            let doc = try JSONDocument.parse(bytes, maxValues: values)
            XCTAssertEqual(try JSONValue.parse(bytes), doc.value(doc.root), text)
            XCTAssertThrowsError(try JSONDocument.parse(bytes, maxValues: values - 1), text) { e in
                XCTAssertTrue("\(e)".contains("more than \(values - 1) values"), "\(text): \(e)")
            }
        }
        // Past several doublings of the node buffer.
        let big = Array(("[" + (0..<5000).map(String.init).joined(separator: ",") + "]").utf8)
        XCTAssertEqual(try JSONDocument.parse(big, maxValues: 5001).count(0), 5000)
        XCTAssertThrowsError(try JSONDocument.parse(big, maxValues: 5000))
        XCTAssertGreaterThanOrEqual(Limits.maxJSONValues, 1 << 24)
    }

    func testLookupHelpers() throws {
        let v = try parse(#"{"n": 3, "x": 2.5, "s": "t", "a": [1, {"b": null}], "f": true, "big": 4e3}"#)
        XCTAssertEqual(v["n"]?.int, 3)
        XCTAssertEqual(v["x"]?.double, 2.5)
        XCTAssertNil(v["x"]?.int)
        XCTAssertEqual(v["big"]?.int, 4000)
        XCTAssertEqual(v["s"]?.string, "t")
        XCTAssertEqual(v["f"]?.bool, true)
        XCTAssertEqual(v["a"]?[0]?.int, 1)
        XCTAssertEqual(v["a"]?[1]?["b"]?.isNull, true)
        XCTAssertNil(v["a"]?[2])
        XCTAssertNil(v["missing"])
        XCTAssertEqual(v.object?.map { $0.0 }, ["n", "x", "s", "a", "f", "big"])
        XCTAssertEqual(v.dictionary?.count, 6)
    }

    func testManyDuplicateKeysLinear() throws {
        // 200k members, many duplicates: order of first appearance, last value.
        var s = "{"
        for i in 0..<200_000 { s += "\"k\(i % 1000)\":\(i)," }
        s += "\"end\":0}"
        let clock = ContinuousClock()
        var v: JSONValue = .null
        let t = try clock.measure { v = try parse(s) }
        XCTAssertLessThan(t, .seconds(5))
        let o = try XCTUnwrap(v.object)
        XCTAssertEqual(o.count, 1001)
        XCTAssertEqual(o[0].0, "k0")
        XCTAssertEqual(o[0].1, .int(199_000))
        XCTAssertEqual(o[999].1, .int(199_999))
    }

    func testLargeDocumentLinearTime() throws {
        // ~10 MB of strings and numbers.
        var s = "["
        for i in 0..<400_000 { s += "\"tok\\u00e9n\(i)\",\(i).5," }
        s += "0]"
        let clock = ContinuousClock()
        var v: JSONValue = .null
        let t = try clock.measure { v = try parse(s) }
        XCTAssertLessThan(t, .seconds(10))
        XCTAssertEqual(v.array?.count, 800_001)
        XCTAssertEqual(v[2], .string("tok\u{e9}n1"))
        XCTAssertEqual(v[3], .number(1.5))
    }

    /// The node accessors of `JSONDocument` (what tokenizer.json's vocabulary and merges are read
    /// through) give the same values as `JSONValue` (checked against Foundation below), for the table of
    /// valid documents and every committed JSON fixture, and repeated keys behave as documented.
    func testDocumentAccessorsAgreeWithValues() throws {
        // A value rebuilt from the accessors alone; objects as `JSONValue` builds them (a repeated key
        // keeps its first position and its last value).
        func rebuild(_ d: JSONDocument, _ i: Int) -> JSONValue {
            switch d.kind(i) {
            case .null: return .null
            case .bool: return d.value(i)
            case .int, .number:
                if let v = d.int(i), case .int = d.value(i) { return .int(v) }
                return d.value(i)
            case .string:
                let s = d.string(i)!
                XCTAssertEqual(d.bytes(i)!, Array(s.utf8))
                d.withStringBytes(i) { XCTAssertEqual(Array($0), Array(s.utf8)) }
                return .string(s)
            case .array:
                var items: [JSONValue] = []
                d.forEachElement(i) { items.append(rebuild(d, $0)) }
                XCTAssertEqual(items.count, d.count(i))
                return .array(items)
            case .object:
                var members: [(String, JSONValue)] = []
                var seen = 0
                d.forEachMember(i) { k, v in
                    seen += 1
                    let key = d.string(k)!
                    if let at = members.firstIndex(where: { $0.0 == key }) { members[at].1 = rebuild(d, v) }
                    else { members.append((key, rebuild(d, v))) }
                }
                XCTAssertEqual(seen, d.count(i))
                for (key, value) in members { XCTAssertEqual(d.value(d.member(i, key)!), value) }
                return .object(members)
            }
        }
        var docs: [[UInt8]] = valid.map { Array($0.0.utf8) }
        let root = Fixtures.root.path
        for case let rel as String in FileManager.default.enumerator(atPath: root)!
        where rel.hasSuffix(".json") && !(rel as NSString).lastPathComponent.hasPrefix("bad_") {
            docs.append([UInt8](try Data(contentsOf: URL(fileURLWithPath: root + "/" + rel))))
        }
        XCTAssertGreaterThan(docs.count, valid.count + 5)
        for bytes in docs {
            let d = try JSONDocument.parse(bytes)
            let v = try JSONValue.parse(bytes)
            XCTAssertEqual(rebuild(d, d.root), v)
            XCTAssertEqual(d.value(d.root), v)
        }

        // Repeated keys: every occurrence is visited, `member` and `value` take the last value.
        let d = try JSONDocument.parse(Array(#"{"a": 1, "b": {"x": [1, 2.5, "é"]}, "a": "last", "c": null}"#.utf8))
        var keys: [String] = []
        d.forEachMember(d.root) { k, _ in keys.append(d.string(k)!) }
        XCTAssertEqual(keys, ["a", "b", "a", "c"])
        XCTAssertEqual(d.count(d.root), 4)
        XCTAssertEqual(d.value(d.member(d.root, "a")!), .string("last"))
        XCTAssertNil(d.member(d.root, "z"))
        XCTAssertNil(d.member(d.member(d.root, "c")!, "a"), "members of a non-object")
        XCTAssertEqual(d.value(d.root, omitting: ["b"]), .object([("a", .string("last")), ("c", .null)]))
        let x = d.member(d.member(d.root, "b")!, "x")!
        var elements: [JSONValue] = []
        d.forEachElement(x) { elements.append(d.value($0)) }
        XCTAssertEqual(elements, [.int(1), .number(2.5), .string("é")])
        XCTAssertEqual(d.int(x + 1), 1)
        XCTAssertNil(d.int(x + 2), "2.5 is not an integer")
        XCTAssertNil(d.int(x + 3), "a string is not a number")
        XCTAssertEqual(d.typeName(x), "array")
        XCTAssertEqual(d.count(x + 1), 0, "a number has no elements")
    }

    /// Every committed JSON fixture parses, and agrees with Foundation's JSONSerialization (numbers
    /// within 1e-12 relative, since Foundation's double parsing is not correctly rounded on Linux).
    func testFixtureDocumentsAgreeWithFoundation() throws {
        let fm = FileManager.default
        let root = Fixtures.root.path
        var files: [String] = []
        // bad_*.json are deliberately invalid (Foundation even accepts some of them, e.g. trailing commas).
        for case let rel as String in fm.enumerator(atPath: root)!
        where rel.hasSuffix(".json") && !(rel as NSString).lastPathComponent.hasPrefix("bad_") {
            files.append(root + "/" + rel)
        }
        XCTAssertGreaterThan(files.count, 5)
        for path in files {
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            let reference = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
            let v = try JSONValue.parse([UInt8](data), context: path)
            var mismatch: String? = nil
            XCTAssertTrue(agrees(v, reference, path: "$", mismatch: &mismatch), "\(path): \(mismatch ?? "")")
        }
    }

    func agrees(_ v: JSONValue, _ r: Any, path: String, mismatch: inout String?) -> Bool {
        func no(_ m: String) -> Bool { mismatch = "\(path): \(m)"; return false }
        switch v {
        case .null: return r is NSNull ? true : no("null vs \(r)")
        case .bool(let b):
            if let b2 = r as? Bool { return b == b2 ? true : no("bool") }
            return (r as? NSNumber)?.boolValue == b ? true : no("bool vs \(r)")
        case .int(let i):
            guard let n = r as? NSNumber else { return no("int vs \(r)") }
            return n.int64Value == i || abs(n.doubleValue - Double(i)) <= 1e-12 * abs(Double(i)) ? true : no("int \(i) vs \(n)")
        case .number(let d):
            guard let n = r as? NSNumber else { return no("number vs \(r)") }
            return abs(n.doubleValue - d) <= 1e-12 * max(1e-300, abs(d)) ? true : no("number \(d) vs \(n)")
        case .string(let s):
            guard let rs = r as? String else { return no("string vs \(r)") }
            if rs == s { return true }
            // Foundation drops U+FEFF inside strings; Python's json (and this parser) keep it.
            let strip = { (x: String) in String(String.UnicodeScalarView(x.unicodeScalars.filter { $0 != "\u{FEFF}" })) }
            return s.unicodeScalars.contains("\u{FEFF}") && strip(s) == strip(rs) ? true : no("string \(s.debugDescription)")
        case .array(let a):
            guard let ra = r as? [Any], ra.count == a.count else { return no("array of \(a.count)") }
            for (i, (x, y)) in zip(a, ra).enumerated() where !agrees(x, y, path: "\(path)[\(i)]", mismatch: &mismatch) {
                return false
            }
            return true
        case .object(let o):
            guard let ro = r as? [String: Any], ro.count == o.count else { return no("object of \(o.count)") }
            for (k, x) in o {
                guard let y = ro[k] else { return no("missing key \(k)") }
                if !agrees(x, y, path: path + "." + k, mismatch: &mismatch) { return false }
            }
            return true
        }
    }
}
