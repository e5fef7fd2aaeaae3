// safetensors header reader: length prefix, JSON header, dtypes, shapes, offsets, overlaps. Every
// tensor's data range is touched (it must lie inside the file).
// libfuzzer: -max_len=65536 -malloc_limit_mb=64
@testable import MIICore

func fuzzOne(_ bytes: UnsafeRawBufferPointer) {
    guard let file = try? MappedFile(copying: bytes, name: "fuzz.safetensors"),
          let st = try? SafetensorsFile(file: file) else { return }
    var sink = 0
    for t in st.tensors {
        sink &+= Int(touch(file, offset: t.fileOffset, count: t.byteCount))
        if t.fileOffset < st.dataOffset { fuzzFail("tensor '\(t.name)' starts before the data section") }
        if Int64(t.byteCount) != t.elementCount * t.elementBytes { fuzzFail("byte count of '\(t.name)'") }
        if let l = st.lookup(t.name) { sink &+= l.dims.count }
    }
    for (k, _) in st.metadata { sink &+= st.metadataValue(k)?.utf8.count ?? 0 }
    if sink == 42 { print("", terminator: "") }
}
