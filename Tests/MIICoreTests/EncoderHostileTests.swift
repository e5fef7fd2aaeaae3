import Foundation
import MIICore
import XCTest

/// Invalid or unsupported encoder configs, inputs and sentence-transformers files give clear
/// `MIIError`s; the tiny fixtures' features matter (positions after padding_idx).
final class EncoderHostileTests: XCTestCase {
    var temps: [URL] = []
    override func tearDown() {
        for t in temps { try? FileManager.default.removeItem(at: t) }
        temps = []
    }

    /// A copy of fixture `name` with config.json edited as a dictionary.
    func copy(_ name: String, edit: (inout [String: Any]) -> Void = { _ in }) throws -> String {
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("mii-enc-\(name)-\(getpid())-\(temps.count)")
        try? FileManager.default.removeItem(at: tmp)
        try FileManager.default.copyItem(at: URL(fileURLWithPath: Fixtures.path(name)), to: tmp)
        temps.append(tmp)
        let cfgURL = tmp.appendingPathComponent("config.json")
        var cfg = try JSONSerialization.jsonObject(with: Data(contentsOf: cfgURL)) as! [String: Any]
        edit(&cfg)
        try JSONSerialization.data(withJSONObject: cfg, options: [.sortedKeys]).write(to: cfgURL)
        return tmp.path
    }

    func write(_ text: String, _ dir: String, _ rel: String) throws {
        let url = URL(fileURLWithPath: dir).appendingPathComponent(rel)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try text.write(to: url, atomically: true, encoding: .utf8)
    }

    func expectError(_ contains: String, code: MIIError.Code? = nil, line: UInt = #line, _ body: () throws -> Void) {
        do {
            try body()
            XCTFail("expected an error containing '\(contains)'", line: line)
        } catch let e as MIIError {
            XCTAssertTrue(e.message.contains(contains), "\(e.message)", line: line)
            if let code { XCTAssertEqual(e.code, code, e.message, line: line) }
        } catch { XCTFail("\(error)", line: line) }
    }

    func load(_ path: String) throws -> EncoderNetwork { try ArchitectureRegistry.loadHFEncoder(HFFolder(path: path)) }

    func testConfigs() throws {
        expectError("is an encoder", code: .unsupported) {
            _ = try ArchitectureRegistry.loadHF(HFFolder(path: Fixtures.path("hf_tiny_enc/bert-mlm")))
        }
        expectError("is a decoder", code: .unsupported) { _ = try self.load(Fixtures.path("hf_tiny/llama")) }
        let cases: [(String, String, (inout [String: Any]) -> Void)] = [
            ("bert-mlm", "position_embedding_type 'relative_key' is not supported", { $0["position_embedding_type"] = "relative_key" }),
            ("bert-mlm", "is_decoder = true", { $0["is_decoder"] = true }),
            ("bert-mlm", "activation 'mish' is not supported", { $0["hidden_act"] = "mish" }),
            ("distilbert-mlm", "activation 'swiglu' is not supported", { $0["activation"] = "swiglu" }),
            ("bert-mlm", "not a multiple of the 5 attention heads", { $0["num_attention_heads"] = 5 }),
            ("bert-mlm", "number of layers = 0 is out of range", { $0["num_hidden_layers"] = 0 }),
            ("bert-mlm", "'vocab_size' is \"96\", expected an integer", { $0["vocab_size"] = "96" }),
            ("bert-mlm", "'hidden_size' is missing", { $0.removeValue(forKey: "hidden_size") }),
            ("bert-mlm", "has shape", { $0["intermediate_size"] = 65 }),
            ("bert-mlm", "has shape", { $0["max_position_embeddings"] = 41 }),
            ("bert-mlm", "layer_norm_eps -1.0 is out of range", { $0["layer_norm_eps"] = -1.0 }),
            ("bert-mlm", "tie_word_embeddings = false but 'cls.predictions.decoder.weight' is missing", { $0["tie_word_embeddings"] = false }),
            ("bert-cls", "id2label names 2 labels but the classifier has 3 outputs", { $0["id2label"] = ["0": "a", "1": "b"] }),
            ("bert-cls", "id2label key 'x'", { $0["id2label"] = ["x": "a", "1": "b", "2": "c"] }),
            ("bert-cls", "'id2label' is array, expected an object", { $0["id2label"] = ["a", "b", "c"] }),
            ("roberta-mlm", "pad_token_id 41 leaves no positions", { $0["pad_token_id"] = 41 }),
            ("roberta-mlm", "pad_token_id -3 leaves no positions", { $0["pad_token_id"] = -3 }),
            ("xlm-roberta", "type_vocab_size = -1 is out of range", { $0["type_vocab_size"] = -1 }),
        ]
        for (name, message, edit) in cases {
            let p = try copy("hf_tiny_enc/\(name)", edit: edit)
            expectError(message) { _ = try self.load(p) }
        }
        // A checkpoint without encoder tensors (a decoder's weights under a BERT config).
        let p = try copy("hf_tiny_enc/bert-mlm")
        try FileManager.default.removeItem(atPath: p + "/model.safetensors")
        try FileManager.default.copyItem(atPath: Fixtures.path("hf_tiny/llama/model.safetensors"), toPath: p + "/model.safetensors")
        expectError("no encoder embeddings found (looked for 'bert.embeddings.word_embeddings.weight', 'embeddings.word_embeddings.weight')") {
            _ = try self.load(p)
        }
    }

    func testInputs() throws {
        let pool = try ThreadPool(threads: 2)
        let bert = try load(Fixtures.path("hf_tiny_enc/bert-mlm"))
        XCTAssertEqual(bert.maxPositions, 40)
        expectError("token id 96 at 1 is outside the vocabulary", code: .invalidToken) {
            _ = try bert.hiddenStates(tokens: [2, 96], pool: pool)
        }
        expectError("token id -1", code: .invalidToken) { _ = try bert.hiddenStates(tokens: [-1], pool: pool) }
        expectError("is empty", code: .invalidArgument) { _ = try bert.hiddenStates(tokens: [], pool: pool) }
        expectError("token type 2 at 1 is outside 0..<2", code: .invalidArgument) {
            _ = try bert.hiddenStates(tokens: [2, 3], typeIds: [0, 2], pool: pool)
        }
        expectError("1 token type ids for 2 tokens", code: .invalidArgument) {
            _ = try bert.hiddenStates(tokens: [2, 3], typeIds: [0], pool: pool)
        }
        expectError("41 tokens, more than the 40 positions", code: .contextFull) {
            _ = try bert.hiddenStates(tokens: [Int32](repeating: 5, count: 41), pool: pool)
        }
        XCTAssertEqual(try bert.hiddenStates(tokens: [Int32](repeating: 5, count: 40), pool: pool).count, 40 * 32)
        // The second sequence of a batch is named in the message.
        expectError("sequence 1: token id 500", code: .invalidToken) {
            _ = try bert.hiddenStates(batch: [EncoderInput(tokens: [2, 3]), EncoderInput(tokens: [500])], pool: pool,
                                      mode: .precise, shouldCancel: { false })
        }
        expectError("cancelled", code: .cancelled) {
            _ = try bert.hiddenStates(batch: [EncoderInput(tokens: [2, 3])], pool: pool, mode: .precise, shouldCancel: { true })
        }
        let h = try bert.hiddenStates(tokens: [2, 3], pool: pool)
        expectError("no text-classification head", code: .unsupported) { _ = try bert.sequenceClassificationLogits(hidden: h, pool: pool, mode: .precise) }
        expectError("no token-classification head", code: .unsupported) { _ = try bert.tokenClassificationLogits(hidden: h, pool: pool, mode: .precise) }
        expectError("no question-answering head", code: .unsupported) { _ = try bert.questionAnsweringLogits(hidden: h, pool: pool, mode: .precise) }
        expectError("not a positive multiple of the hidden size 32", code: .invalidArgument) {
            _ = try bert.maskedLMLogits(hidden: Array(h.dropLast()), pool: pool, mode: .precise)
        }
        // RoBERTa: 42 positions minus padding_idx + 1.
        let roberta = try load(Fixtures.path("hf_tiny_enc/roberta-mlm"))
        XCTAssertEqual(roberta.maxPositions, 40)
        expectError("41 tokens", code: .contextFull) { _ = try roberta.hiddenStates(tokens: [Int32](repeating: 5, count: 41), pool: pool) }
        // DistilBERT: no token types; all-zero type ids are accepted.
        let distil = try load(Fixtures.path("hf_tiny_enc/distilbert-mlm"))
        XCTAssertEqual(distil.typeVocabSize, 0)
        XCTAssertEqual(try distil.hiddenStates(tokens: [2, 3], typeIds: [0, 0], pool: pool),
                       try distil.hiddenStates(tokens: [2, 3], pool: pool))
        expectError("distilbert has no token types", code: .invalidArgument) {
            _ = try distil.hiddenStates(tokens: [2, 3], typeIds: [0, 1], pool: pool)
        }
    }

    /// RoBERTa's positions start after padding_idx: the same checkpoint with another pad id (so
    /// positions from 1 instead of 2) is far from transformers' output.
    func testRobertaPositionsAreExercised() throws {
        let p = try copy("hf_tiny_enc/roberta-mlm") { $0["pad_token_id"] = 0 }
        let net = try load(p)
        let seq = try EncoderParityTests.reference("roberta-mlm")[1]
        let h = try net.hiddenStates(tokens: seq.input.tokens, pool: ThreadPool(threads: 1))
        XCTAssertGreaterThan(EncoderParityTests.maxDiff(h, seq.hidden), 0.01)
    }

    func testSentenceTransformersFiles() throws {
        let p = try copy("hf_tiny_enc/bert-base")
        let folder = { try HFFolder(path: p) }
        // No modules.json: mean pooling, no normalisation.
        XCTAssertEqual(try SentenceEmbeddingConfig(folder: folder()), .plainDefault)
        let modules = { (extra: String) in
            #"[{"idx":0,"name":"0","path":"","type":"sentence_transformers.models.Transformer"},{"idx":1,"name":"1","path":"1_Pooling","type":"sentence_transformers.models.Pooling"}"# + extra + "]"
        }
        try write(modules(#",{"idx":2,"name":"2","path":"2_Normalize","type":"sentence_transformers.models.Normalize"}"#), p, "modules.json")
        try write(#"{"word_embedding_dimension":32,"pooling_mode_cls_token":true,"pooling_mode_mean_tokens":true,"pooling_mode_max_tokens":false}"#, p, "1_Pooling/config.json")
        try write(#"{"max_seq_length":128,"do_lower_case":false}"#, p, "sentence_bert_config.json")
        XCTAssertEqual(try SentenceEmbeddingConfig(folder: folder()),
                       SentenceEmbeddingConfig(pooling: [.cls, .mean], normalize: true, maxSequenceLength: 128))
        // sentence-transformers 6 format.
        try write(#"{"embedding_dimension":32,"pooling_mode":["lasttoken","weightedmean"],"include_prompt":false}"#, p, "1_Pooling/config.json")
        XCTAssertEqual(try SentenceEmbeddingConfig(folder: folder()),
                       SentenceEmbeddingConfig(pooling: [.lastToken, .weightedMean], includePrompt: false, normalize: true, maxSequenceLength: 128))
        try write(#"{"pooling_mode":"max"}"#, p, "1_Pooling/config.json")
        XCTAssertEqual(try SentenceEmbeddingConfig(folder: folder()).pooling, [.max])
        try write(#"{"pooling_mode":"median"}"#, p, "1_Pooling/config.json")
        expectError("pooling mode 'median' is not supported", code: .unsupported) { _ = try SentenceEmbeddingConfig(folder: folder()) }
        try write(#"{"pooling_mode":"mean"}"#, p, "1_Pooling/config.json")
        try write(modules(#",{"idx":2,"name":"2","path":"2_Dense","type":"sentence_transformers.models.Dense"}"#), p, "modules.json")
        expectError("module 'sentence_transformers.models.Dense' is not supported", code: .unsupported) { _ = try SentenceEmbeddingConfig(folder: folder()) }
        try write(#"[{"idx":0,"path":"../../etc","type":"sentence_transformers.models.Transformer"}]"#, p, "modules.json")
        expectError("outside the model folder") { _ = try SentenceEmbeddingConfig(folder: folder()) }
        try write(#"{"modules": []}"#, p, "modules.json")
        expectError("expected a list of modules") { _ = try SentenceEmbeddingConfig(folder: folder()) }
        try write(#"[{"idx":0,"path":"1_Pooling","type":"sentence_transformers.models.Pooling"}]"#, p, "modules.json")
        expectError("Pooling must follow the Transformer module") { _ = try SentenceEmbeddingConfig(folder: folder()) }
        try write(#"[{"idx":0,"path":"","type":"sentence_transformers.models.Transformer"},{"idx":1,"path":"3_Pool","type":"sentence_transformers.models.Pooling"}]"#, p, "modules.json")
        expectError("'3_Pool/config.json' is missing") { _ = try SentenceEmbeddingConfig(folder: folder()) }
        try write(#"{"max_seq_length":0}"#, p, "sentence_bert_config.json")
        try write(modules(""), p, "modules.json")
        expectError("max_seq_length 0 is out of range") { _ = try SentenceEmbeddingConfig(folder: folder()) }
    }

    /// Pooling arithmetic on a hand-made [3, 2] matrix, against sentence-transformers' definitions.
    func testPoolingModes() throws {
        let h: [Float] = [1, -2,   3, 4,   5, 0]   // tokens: (1,-2), (3,4), (5,0)
        func pool(_ modes: [PoolingMode], includePrompt: Bool = true, prompt: Int = 0, normalize: Bool = false) throws -> [Float] {
            try SentenceEmbeddingConfig(pooling: modes, includePrompt: includePrompt, normalize: normalize)
                .embed(hidden: h, hiddenSize: 2, promptLength: prompt)
        }
        XCTAssertEqual(try pool([.cls]), [1, -2])
        XCTAssertEqual(try pool([.lastToken]), [5, 0])
        XCTAssertEqual(try pool([.max]), [5, 4])
        XCTAssertEqual(try pool([.mean]), [3, 2 / 3])
        XCTAssertEqual(try pool([.meanSqrtLen]), [9 / Float(3).squareRoot(), 2 / Float(3).squareRoot()])
        XCTAssertEqual(try pool([.weightedMean]), [(1 + 6 + 15) / 6, (-2 + 8 + 0) / 6])
        XCTAssertEqual(try pool([.cls, .max]), [1, -2, 5, 4])
        // Prompt of one token excluded (weights keep their original positions).
        XCTAssertEqual(try pool([.cls, .mean, .weightedMean], includePrompt: false, prompt: 1),
                       [3, 4, 4, 2, (6 + 15) / 5, 8 / 5])
        XCTAssertEqual(try pool([.mean], includePrompt: true, prompt: 1), [3, 2 / 3])
        let n = try pool([.lastToken], normalize: true)
        XCTAssertEqual(n, [1, 0])
        XCTAssertEqual(try SentenceEmbeddingConfig(normalize: true).embed(hidden: [0, 0], hiddenSize: 2), [0, 0])
        expectError("prompt length 4 is outside 0...3") { _ = try pool([.mean], includePrompt: false, prompt: 4) }
        expectError("not a positive multiple of 2") {
            _ = try SentenceEmbeddingConfig().embed(hidden: [1, 2, 3], hiddenSize: 2)
        }
    }
}
