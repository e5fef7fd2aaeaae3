// Shared by every fuzz target (compiled into each one). A target is one file in this folder that
// defines `fuzzOne(_:)`; this file turns it into libFuzzer's entry point.
//
// The contract under test: for any input bytes, the code either succeeds or throws an MIIError.
// A thrown error is the expected outcome for bad input and ends the run normally; a trap, an
// AddressSanitizer report, a leak, a timeout or memory beyond the limit is a finding.
#if canImport(Glibc)
import Glibc
#endif
@testable import MIICore

@_cdecl("LLVMFuzzerTestOneInput")
public func LLVMFuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : size)
    fuzzOne(bytes)
    return 0
}

/// Loads the vocabularies before the first input (when run.sh listed any for this target), so their
/// loading time is not charged to an input.
@_cdecl("LLVMFuzzerInitialize")
public func LLVMFuzzerInitialize(_ argc: UnsafeMutablePointer<CInt>?,
                                 _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>?) -> CInt {
    if fuzzEnv("MII_FUZZ_VOCABS") != nil { _ = fuzzTokenizers.count }
    return 0
}

/// An environment variable (run.sh sets MII_FUZZ_ROOT and the vocabulary list).
func fuzzEnv(_ name: String) -> String? {
    guard let p = getenv(name) else { return nil }
    return String(cString: p)
}

/// Stops with a message: an invariant of the library was broken (counts as a crash).
func fuzzFail(_ message: String) -> Never {
    fputs("fuzz invariant broken: \(message)\n", stderr)
    abort()
}

/// The repository root (run.sh exports it).
let fuzzRoot: String = fuzzEnv("MII_FUZZ_ROOT") ?? "."

/// Touches the first and last byte of a range the library says lies inside `file`: under
/// AddressSanitizer an out-of-bounds range is reported here (the in-memory file has redzones).
@inline(never)
func touch(_ file: MappedFile, offset: Int, count: Int) -> UInt8 {
    if count <= 0 { return 0 }
    if offset < 0 || offset > file.count || count > file.count - offset {
        fuzzFail("range [\(offset), +\(count)) outside a file of \(file.count) bytes")
    }
    let p = file.base.assumingMemoryBound(to: UInt8.self)
    return p[offset] &+ p[offset + count - 1]
}

/// Splits `bytes` at every 0x00 byte (for targets taking several strings).
func splitAtZero(_ bytes: UnsafeRawBufferPointer) -> [String] {
    var parts: [String] = []
    var start = 0
    for i in 0...bytes.count {
        if i == bytes.count || bytes[i] == 0 {
            parts.append(String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self))
            start = i + 1
        }
    }
    return parts
}

/// Loads the tokenizers of the GGUF files listed (colon-separated) in MII_FUZZ_VOCABS, skipping
/// vocabularies the library does not support. Done once per process.
let fuzzTokenizers: [(name: String, tokenizer: Tokenizer)] = {
    var out: [(String, Tokenizer)] = []
    let list = fuzzEnv("MII_FUZZ_VOCABS") ?? "\(fuzzRoot)/Tests/Fixtures/tiny/tiny-llama.gguf"
    for path in list.split(separator: ":").map(String.init) where !path.isEmpty {
        do {
            let tok = try Tokenizer.fromGGUF(GGUFFile(path: path))
            out.append((path, tok))
        } catch {
            fputs("fuzz: skipping vocabulary \(path): \(error)\n", stderr)
        }
    }
    if out.isEmpty { fuzzFail("no usable vocabulary in MII_FUZZ_VOCABS") }
    fputs("fuzz: \(out.count) vocabularies loaded\n", stderr)
    return out
}()
