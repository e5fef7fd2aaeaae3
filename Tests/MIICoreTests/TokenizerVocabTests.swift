import Foundation
@testable import MIICore
import XCTest

/// llama.cpp's tokenizer test vectors (models/ggml-vocab-*.gguf with .gguf.inp/.gguf.out, produced with
/// Hugging Face tokenizers and checked by llama.cpp's tests/test-tokenizer-0.cpp with add_special =
/// false, parse_special = false). They are fetched into .cache/vocab by
/// scripts/fixtures/fetch_vocab_vectors.sh; without them these tests skip.
final class VocabTokenizerTests: XCTestCase {
    static let vocabDir: String = {
        var url = URL(fileURLWithPath: #filePath)
        url.deleteLastPathComponent()
        url.deleteLastPathComponent()
        url.deleteLastPathComponent()
        return url.appendingPathComponent(".cache/vocab").path
    }()

    /// Vocabularies of the two supported kinds that are known not to match, with the reason.
    static let knownFailures: [String: String] = [:]

    struct Case {
        let text: String
        let bytes: [UInt8]
        let ids: [Int32]
    }

    struct Vocab {
        let name: String
        let path: String
        let cases: [Case]?
    }

    static func vocabFiles() throws -> [Vocab] {
        let fm = FileManager.default
        guard let names = try? fm.contentsOfDirectory(atPath: vocabDir),
              names.contains(where: { $0.hasPrefix("ggml-vocab-") && $0.hasSuffix(".gguf") }) else {
            throw XCTSkip("no llama.cpp vocab vectors in \(vocabDir): run scripts/fixtures/fetch_vocab_vectors.sh")
        }
        var out: [Vocab] = []
        for n in names.sorted() where n.hasPrefix("ggml-vocab-") && n.hasSuffix(".gguf") {
            let p = vocabDir + "/" + n
            out.append(Vocab(name: n, path: p, cases: try readCases(p)))
        }
        return out
    }

    /// Parses .inp/.out exactly as test-tokenizer-0.cpp does: inputs separated by
    /// "\n__ggml_vocab_test__\n", one line of space-separated ids per input.
    static func readCases(_ path: String) throws -> [Case]? {
        guard let inp = FileManager.default.contents(atPath: path + ".inp"),
              let outData = FileManager.default.contents(atPath: path + ".out") else { return nil }
        let raw = [UInt8](inp)
        let sep = Array("\n__ggml_vocab_test__\n".utf8)
        var texts: [[UInt8]] = []
        var pos = 0
        while pos < raw.count {
            var next = -1
            var i = pos
            while i + sep.count <= raw.count {
                if raw[i] == sep[0] && Array(raw[i..<(i + sep.count)]) == sep { next = i; break }
                i += 1
            }
            if next < 0 { texts.append(Array(raw[pos...])); break }
            texts.append(Array(raw[pos..<next]))
            pos = next + sep.count
        }
        var lines = String(decoding: outData, as: UTF8.self).components(separatedBy: "\n")
        if lines.last == "" { lines.removeLast() }
        XCTAssertEqual(texts.count, lines.count, "\(path): input and output case counts differ")
        var cases: [Case] = []
        for (t, l) in zip(texts, lines) {
            let ids = l.split(separator: " ").compactMap { Int32($0.trimmingCharacters(in: .whitespaces)) }
            cases.append(Case(text: String(decoding: t, as: UTF8.self), bytes: t, ids: ids))
        }
        return cases
    }

    static let supportedModels = ["gpt2", "llama", "gemma4", "bert"]

    private static let lock = NSLock()
    private static var loaded: [String: (model: String, tokenizer: Tokenizer?)] = [:]

    /// `tokenizer.ggml.model` of a vocab file and, for supported kinds, its tokenizer; loaded once per
    /// test run (parsing the big vocabularies is slow in debug builds).
    static func load(path: String) throws -> (model: String, tokenizer: Tokenizer?) {
        lock.lock()
        defer { lock.unlock() }
        if let t = loaded[path] { return t }
        let g = try GGUFFile(path: path)
        let model = try g.string("tokenizer.ggml.model") ?? "?"
        let entry = (model, supportedModels.contains(model) ? try Tokenizer.fromGGUF(g) : nil)
        loaded[path] = entry
        return entry
    }

    /// The tokenizer of .cache/vocab/ggml-vocab-<name>.gguf; skips the calling test when the vectors
    /// have not been fetched.
    static func tokenizer(_ name: String) throws -> Tokenizer {
        let path = vocabDir + "/ggml-vocab-\(name).gguf"
        guard FileManager.default.fileExists(atPath: path) else {
            throw XCTSkip("\(path) is missing: run scripts/fixtures/fetch_vocab_vectors.sh")
        }
        guard let t = try load(path: path).tokenizer else { throw XCTSkip("\(path): unsupported tokenizer") }
        return t
    }

    func testLlamaCppVocabVectors() throws {
        var summary: [String] = []
        var checked = 0
        for v in try Self.vocabFiles() {
            let tok: Tokenizer
            do {
                let (model, t) = try Self.load(path: v.path)
                guard let t else {
                    summary.append("\(v.name): skipped (tokenizer model '\(model)' is not supported)")
                    continue
                }
                tok = t
            } catch {
                XCTFail("\(v.name): failed to load: \(error)")
                summary.append("\(v.name): LOAD FAILED \(error)")
                continue
            }
            guard let cases = v.cases else {
                summary.append("\(v.name): loads (\(tok.kindName), pre \(tok.preTokenizer)); no test vectors")
                continue
            }
            var failures: [String] = []
            for c in cases {
                let got = c.bytes.withUnsafeBufferPointer { tok.encode(bytes: $0, addSpecial: false, parseSpecial: false) }
                if got != c.ids {
                    failures.append("  \(c.text.debugDescription)\n    expected \(c.ids)\n    got      \(got)")
                }
            }
            checked += 1
            let known = Self.knownFailures[v.name]
            if failures.isEmpty {
                summary.append("\(v.name): \(cases.count)/\(cases.count) pass (\(tok.kindName), pre \(tok.preTokenizer))")
                if known != nil { XCTFail("\(v.name) is listed as a known failure but passes") }
            } else {
                summary.append("\(v.name): \(cases.count - failures.count)/\(cases.count) pass\(known.map { " (known failure: \($0))" } ?? "")")
                if known == nil {
                    XCTFail("\(v.name): \(failures.count) of \(cases.count) cases differ:\n" + failures.joined(separator: "\n"))
                }
            }
        }
        print("llama.cpp vocab vectors:\n" + summary.joined(separator: "\n"))
        XCTAssertGreaterThan(checked, 0)
    }

    /// decode(encode(x)) == x wherever llama.cpp's semantics guarantee it: every case of the vectors,
    /// except that byte-level BPE can only lose text it has no byte token for (none of these
    /// vocabularies lack one) and SentencePiece round-trips exactly thanks to the dummy-prefix removal.
    /// WordPiece (bert) lower-cases, strips accents and drops whitespace: it does not round-trip.
    func testRoundTrip() throws {
        for v in try Self.vocabFiles() {
            guard let cases = v.cases, let tok = try Self.load(path: v.path).tokenizer, tok.kind != .wordPiece else { continue }
            for c in cases {
                let ids = try tok.encode(c.text, addSpecial: false, parseSpecial: false)
                XCTAssertEqual(tok.decode(ids, skipSpecial: false), c.text, "\(v.name): \(c.text.debugDescription)")
            }
        }
    }
}
