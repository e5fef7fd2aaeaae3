import Foundation
@testable import MIICore
import XCTest

/// Small GGUF files with only tokenizer metadata, written by the tests (no fixtures needed).
enum TokenizerGGUF {
    enum Value {
        case u32(UInt32), i32(Int32), f32(Float), bool(Bool), str(String)
        case strs([String]), i32s([Int32]), f32s([Float])
    }

    /// Serialises GGUF v3 with the given metadata and no tensors.
    static func bytes(_ kv: [(String, Value)]) -> [UInt8] {
        var out: [UInt8] = []
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func str(_ s: String) { u64(UInt64(s.utf8.count)); out.append(contentsOf: s.utf8) }
        u32(0x4655_4747)
        u32(3)
        u64(0)
        u64(UInt64(kv.count))
        for (k, v) in kv {
            str(k)
            switch v {
            case .u32(let x): u32(4); u32(x)
            case .i32(let x): u32(5); u32(UInt32(bitPattern: x))
            case .f32(let x): u32(6); u32(x.bitPattern)
            case .bool(let x): u32(7); out.append(x ? 1 : 0)
            case .str(let s): u32(8); str(s)
            case .strs(let a): u32(9); u32(8); u64(UInt64(a.count)); a.forEach(str)
            case .i32s(let a): u32(9); u32(5); u64(UInt64(a.count)); a.forEach { u32(UInt32(bitPattern: $0)) }
            case .f32s(let a): u32(9); u32(6); u64(UInt64(a.count)); a.forEach { u32($0.bitPattern) }
            }
        }
        return out
    }

    static func write(_ kv: [(String, Value)]) throws -> String {
        let path = NSTemporaryDirectory() + "/mii-tok-\(UUID().uuidString).gguf"
        guard FileManager.default.createFile(atPath: path, contents: Data(bytes(kv))) else {
            throw XCTSkip("cannot write \(path)")
        }
        return path
    }

    static func load(_ kv: [(String, Value)]) throws -> Tokenizer {
        let path = try write(kv)
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try Tokenizer.fromGGUF(GGUFFile(path: path))
    }

    /// The GPT-2 character of each byte.
    static func byteChar(_ b: UInt8) -> String { String(Unicode.Scalar(ByteLevel.byteToScalar[Int(b)])!) }

    /// A byte-level BPE vocabulary: the 256 byte characters, a few merges for "Hello world",
    /// control tokens <|endoftext|> (eos), <|im_start|>, <|im_end|> and a user-defined <tool>.
    static func bpe() -> [(String, Value)] {
        var tokens = (0..<256).map { byteChar(UInt8($0)) }
        let merges = ["H e", "l l", "ll o", "He llo", "Ġ w", "o r", "Ġw or", "l d", "Ġwor ld"]
        for m in merges { tokens.append(m.replacingOccurrences(of: " ", with: "")) }
        var types = [Int32](repeating: 1, count: tokens.count)
        for (t, ty) in [("<|endoftext|>", Int32(3)), ("<|im_start|>", 3), ("<|im_end|>", 3), ("<tool>", 4)] {
            tokens.append(t)
            types.append(ty)
        }
        return [
            ("general.architecture", .str("llama")),
            ("tokenizer.ggml.model", .str("gpt2")),
            ("tokenizer.ggml.pre", .str("gpt-2")),
            ("tokenizer.ggml.tokens", .strs(tokens)),
            ("tokenizer.ggml.token_type", .i32s(types)),
            ("tokenizer.ggml.merges", .strs(merges)),
            ("tokenizer.ggml.bos_token_id", .u32(UInt32(tokens.count - 4))),
            ("tokenizer.ggml.eos_token_id", .u32(UInt32(tokens.count - 4))),
        ]
    }

    /// A SentencePiece vocabulary: <unk>, <s>, </s>, the 256 byte tokens, and pieces for "Hello".
    static func spm() -> [(String, Value)] {
        var tokens = ["<unk>", "<s>", "</s>"]
        var types: [Int32] = [2, 3, 3]
        var scores: [Float] = [0, 0, 0]
        let hex = Array("0123456789ABCDEF")
        for b in 0..<256 {
            tokens.append("<0x\(hex[b >> 4])\(hex[b & 15])>")
            types.append(6)
            scores.append(0)
        }
        for (i, t) in ["▁", "H", "e", "l", "o", "▁H", "el", "ll", "lo", "llo", "ello", "▁Hello", "▁▁", "w", "▁w"].enumerated() {
            tokens.append(t)
            types.append(1)
            scores.append(-Float(i))
        }
        return [
            ("general.architecture", .str("llama")),
            ("tokenizer.ggml.model", .str("llama")),
            ("tokenizer.ggml.tokens", .strs(tokens)),
            ("tokenizer.ggml.scores", .f32s(scores)),
            ("tokenizer.ggml.token_type", .i32s(types)),
        ]
    }

    static func replacing(_ kv: [(String, Value)], _ key: String, with v: Value?) -> [(String, Value)] {
        var out = kv.filter { $0.0 != key }
        if let v { out.append((key, v)) }
        return out
    }
}
