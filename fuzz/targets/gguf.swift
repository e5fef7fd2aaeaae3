// GGUF reader: header, metadata, tensor table. Every accessor is called on every key, and every
// tensor's data range is touched (it must lie inside the file).
// libfuzzer: -max_len=65536 -malloc_limit_mb=64
@testable import MIICore

func fuzzOne(_ bytes: UnsafeRawBufferPointer) {
    guard let file = try? MappedFile(copying: bytes, name: "fuzz.gguf"),
          let g = try? GGUFFile(file: file) else { return }
    var sink = 0
    for key in g.metadataKeys {
        _ = try? g.int(key)
        _ = try? g.float(key)
        _ = try? g.string(key)
        _ = try? g.bool(key)
        sink &+= (try? g.stringArray(key))?.count ?? 0
        sink &+= (try? g.floatArray(key))?.count ?? 0
        sink &+= (try? g.intArray(key))?.count ?? 0
        sink &+= g.metadata[key]!.description.utf8.count
    }
    _ = g.architecture
    for t in g.tensors {
        sink &+= Int(touch(file, offset: t.fileOffset, count: t.byteCount))
        if g.tensor(t.name)?.fileOffset != t.fileOffset { fuzzFail("tensor index of '\(t.name)'") }
        if t.fileOffset < g.dataOffset { fuzzFail("tensor '\(t.name)' starts before the data section") }
    }
    if sink == 42 { print("", terminator: "") }
}
