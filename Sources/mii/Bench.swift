import MIICore
#if canImport(Glibc)
import Glibc
#endif

/// `mii bench`: prefill (pp) and decode (tg) speed measured on real text, medians over repeats.
enum Bench {
    struct Row {
        let name: String
        let threads: Int
        let tokPerSec: Double
        let runs: Int
        let samples: [Double]
    }

    static let text = """
    The history of natural language processing generally started in the 1950s, although work can be \
    found from earlier periods. In 1950, Alan Turing published an article titled "Computing Machinery \
    and Intelligence" which proposed what is now called the Turing test as a criterion of intelligence. \
    def fibonacci(n):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n\
    La langue française est une langue indo-européenne de la famille des langues romanes. \
    Numbers: 3.14159, 2.71828, 1,000,000 and 42.
    """

    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }

    static func median(_ v: [Double]) -> Double {
        let s = v.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    /// Tokens of real text, repeated to length n.
    nonisolated(unsafe) static var promptText = text

    static func promptTokens(_ model: Model, _ n: Int) throws -> [Int32] {
        let base = try model.requireTokenizer().encode(promptText, addSpecial: false, parseSpecial: false)
        if base.isEmpty { throw MIIError.format("the tokenizer produced no tokens for the benchmark text") }
        var out: [Int32] = []
        while out.count < n { out += base }
        return Array(out.prefix(n))
    }

    static func run(model: Model, session: Session, promptSizes: [Int], gen: Int, repeats: Int) throws -> [Row] {
        var rows: [Row] = []
        // Warm-up: touch all weights once.
        session.reset()
        _ = try session.evaluate(try promptTokens(model, 8))
        for n in promptSizes {
            let ids = try promptTokens(model, n)
            var samples: [Double] = []
            for _ in 0..<repeats {
                session.reset()
                let t = now()
                _ = try session.evaluate(ids)
                samples.append(Double(n) / (now() - t))
            }
            rows.append(Row(name: "pp\(n)", threads: session.threads, tokPerSec: median(samples),
                            runs: repeats, samples: samples))
        }
        let prompt = try promptTokens(model, promptSizes.first ?? 128)
        var samples: [Double] = []
        for _ in 0..<repeats {
            session.reset()
            var logits = try session.evaluate(prompt)
            let t = now()
            for _ in 0..<gen {
                let id = logits.withUnsafeBufferPointer { Sampler.argmax($0) }
                logits = try session.evaluate([id])
            }
            samples.append(Double(gen) / (now() - t))
        }
        rows.append(Row(name: "tg\(gen)@\(prompt.count)", threads: session.threads, tokPerSec: median(samples),
                        runs: repeats, samples: samples))
        return rows
    }

    /// Batched decoding: `n` sequences (each after its own `promptSize`-token prompt, evaluated
    /// untimed) decode `gen` greedy tokens together, one BatchDecoder step per token. tok/s counts the
    /// tokens of all sequences.
    static func runParallel(model: Model, n: Int, threads: Int, mode: PrecisionMode, kvCache: KVFormat?,
                            promptSize: Int, gen: Int, repeats: Int) throws -> Row {
        let decoder = try BatchDecoder(model: model, maxSequences: n, threads: threads, mode: mode)
        var so = SessionOptions()
        so.contextLength = promptSize + gen + 8
        so.mode = mode
        so.kvCache = kvCache
        let sessions = try (0..<n).map { _ in try decoder.makeSession(options: so) }
        // Different prompts per sequence: the benchmark text from different offsets.
        let long = try promptTokens(model, promptSize + 7 * n)
        var samples: [Double] = []
        for _ in 0..<repeats {
            var next: [Int32] = []
            for (i, s) in sessions.enumerated() {
                s.reset()
                let logits = try s.evaluate(Array(long[(7 * i)..<(7 * i + promptSize)]))
                next.append(logits.withUnsafeBufferPointer { Sampler.argmax($0) })
            }
            let v = model.vocabSize
            let t = now()
            for _ in 0..<gen {
                let logits = try decoder.step(sessions, tokens: next)
                next = logits.withUnsafeBufferPointer { p in
                    (0..<n).map { Sampler.argmax(UnsafeBufferPointer(rebasing: p[($0 * v)..<(($0 + 1) * v)])) }
                }
            }
            samples.append(Double(n * gen) / (now() - t))
        }
        return Row(name: "tg\(gen)x\(n)@\(promptSize)", threads: threads, tokPerSec: median(samples), runs: repeats,
                   samples: samples)
    }

    /// Peak resident set (VmHWM) in MiB.
    static func peakRSSMiB() -> Double {
        guard let f = fopen("/proc/self/status", "r") else { return 0 }
        defer { fclose(f) }
        var line = [CChar](repeating: 0, count: 512)
        while fgets(&line, 512, f) != nil {
            let s = String(cString: line)
            if s.hasPrefix("VmHWM:") {
                let digits = s.filter { $0.isNumber }
                return (Double(digits) ?? 0) / 1024
            }
        }
        return 0
    }

    static func json(model: Model, mode: PrecisionMode, loadMs: Double, rss: Double, rows: [Row]) -> String {
        func q(_ s: String) -> String { "\"" + s.replacingAll("\\", "\\\\").replacingAll("\"", "\\\"") + "\"" }
        let env = currentEnvironment()
        var s = "{\"model\": \(q(model.path)), \"mode\": \(q(mode.rawValue)), \"kernels\": \(q(Hardware.kernelSet)), "
        s += "\"openblas_coretype\": \(env["OPENBLAS_CORETYPE"].map(q) ?? "null"), "
        s += "\"load_ms\": \(loadMs), \"peak_rss_mib\": \(rss), \"results\": ["
        s += rows.map { r in
            "{\"test\": \(q(r.name)), \"threads\": \(r.threads), \"tok_per_s\": \(r.tokPerSec), \"ms_per_token\": \(1000 / r.tokPerSec), \"samples\": [\(r.samples.map { "\($0)" }.joined(separator: ", "))]}"
        }.joined(separator: ", ")
        return s + "]}"
    }
}

extension String {
    func replacingAll(_ a: Character, _ b: String) -> String {
        var out = ""
        for c in self { if c == a { out += b } else { out.append(c) } }
        return out
    }
}
