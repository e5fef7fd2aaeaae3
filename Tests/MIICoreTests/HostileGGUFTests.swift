import Foundation
import MIICore
import XCTest

/// Robustness of the loaders against hostile files: every entry of
/// Tests/Fixtures/hostile_gguf/manifest.json (written by scripts/fixtures/make_hostile_gguf.py) with
/// `"expect": "error"` must make the loader throw an `MIIError` with a message, quickly, and never
/// crash, hang or allocate without bound. Entries with `"expect": "ok"` are the valid files the
/// hostile ones were derived from; they must load, so that a rejection is due to the mutation.
///
/// `"level": "gguf"` entries break the container format, so `GGUFFile(path:)` itself must reject
/// them; `"level": "model"` entries are well-formed GGUF files whose hyper-parameters, tokenizer or
/// tensors contradict each other, which only `Model(path:)` can see.
///
/// With MII_TEST_VERBOSE=1 every file and the error it produced are printed (to find the file if one
/// crashes the test process).
final class HostileGGUFTests: XCTestCase {
    struct Entry: Decodable {
        let file: String
        let what: String
        let expect: String
        let level: String
    }

    /// Tests/Fixtures (this file is Tests/MIICoreTests/HostileGGUFTests.swift).
    static let fixtures: String = {
        var url = URL(fileURLWithPath: #filePath)
        url.deleteLastPathComponent()
        url.deleteLastPathComponent()
        return url.appendingPathComponent("Fixtures").path
    }()

    static let hostileDir = fixtures + "/hostile_gguf"
    static let timeLimit: Duration = .seconds(1)
    static let verbose = ProcessInfo.processInfo.environment["MII_TEST_VERBOSE"] == "1"

    func manifest() throws -> [Entry] {
        let url = URL(fileURLWithPath: Self.hostileDir + "/manifest.json")
        return try JSONDecoder().decode([Entry].self, from: Data(contentsOf: url))
    }

    /// `load` must throw an MIIError with a non-empty message within the time limit.
    private func assertRejected(_ e: Entry, by loader: String, _ load: (String) throws -> Void) {
        let path = Self.hostileDir + "/" + e.file
        if Self.verbose { print("[hostile] \(loader) \(e.file)") }
        var outcome: String? = nil
        let elapsed = ContinuousClock().measure {
            do {
                try load(path)
                outcome = "was accepted"
            } catch let err as MIIError {
                if Self.verbose { print("[hostile]   -> \(err.code): \(err.message)") }
                if err.message.isEmpty { outcome = "threw an MIIError (\(err.code)) with an empty message" }
            } catch {
                outcome = "threw a non-MIIError: \(error)"
            }
        }
        if let outcome {
            XCTFail("\(e.file) (\(e.what)): \(loader) \(outcome)")
        }
        XCTAssertLessThan(elapsed, Self.timeLimit, "\(e.file) (\(e.what)): \(loader) took \(elapsed)")
    }

    func testManifestIsComplete() throws {
        let entries = try manifest()
        let hostile = entries.filter { $0.expect == "error" }
        XCTAssertGreaterThanOrEqual(hostile.count, 30)
        XCTAssertEqual(Set(entries.map(\.file)).count, entries.count, "duplicate file in the manifest")
        for e in entries {
            XCTAssertTrue(["error", "ok"].contains(e.expect), "\(e.file): expect '\(e.expect)'")
            XCTAssertTrue(["gguf", "model"].contains(e.level), "\(e.file): level '\(e.level)'")
            XCTAssertTrue(FileManager.default.fileExists(atPath: Self.hostileDir + "/" + e.file),
                          "\(e.file) is listed in the manifest but missing")
        }
    }

    func testTinyModelsLoad() throws {
        for name in ["tiny-llama.gguf", "tiny-llama-f32.gguf"] {
            let model = try Model(path: Self.fixtures + "/tiny/" + name)
            XCTAssertEqual(model.architecture, "llama", name)
            XCTAssertEqual(model.vocabSize, 359, name)
            XCTAssertEqual(model.contextLength, 256, name)
            XCTAssertEqual(model.layerCount, 2, name)
            XCTAssertEqual(model.embeddingLength, 64, name)
        }
    }

    func testControlFilesLoad() throws {
        let controls = try manifest().filter { $0.expect == "ok" }
        XCTAssertFalse(controls.isEmpty)
        for e in controls {
            let path = Self.hostileDir + "/" + e.file
            do {
                _ = try GGUFFile(path: path)
                if e.level == "model" { _ = try Model(path: path) }
            } catch {
                XCTFail("control \(e.file) (\(e.what)) did not load: \(error)")
            }
        }
    }

    /// Format-level cases: the GGUF reader alone must reject them.
    func testGGUFReaderRejectsFormatLevelFiles() throws {
        for e in try manifest() where e.expect == "error" && e.level == "gguf" {
            assertRejected(e, by: "GGUFFile(path:)") { _ = try GGUFFile(path: $0) }
        }
    }

    /// Every case, format- or model-level, through the public model loader.
    func testModelLoaderRejectsAllHostileFiles() throws {
        for e in try manifest() where e.expect == "error" {
            assertRejected(e, by: "Model(path:)") { _ = try Model(path: $0) }
        }
    }
}
