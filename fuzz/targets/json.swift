// The JSON parser under tokenizer.json, config.json and safetensors headers. A parsed document is
// walked completely (every accessor on every node).
// libfuzzer: -max_len=65536 -malloc_limit_mb=64
@testable import MIICore

func fuzzOne(_ bytes: UnsafeRawBufferPointer) {
    guard let v = try? JSONValue.parse(bytes, context: "fuzz") else { return }
    var stack: [JSONValue] = [v]
    var sink = 0
    while let x = stack.popLast() {
        sink &+= x.description.utf8.count &+ x.typeName.utf8.count
        _ = x.int; _ = x.double; _ = x.bool; _ = x.isNull
        if let a = x.array {
            stack.append(contentsOf: a)
            _ = x[0]; _ = x[-1]; _ = x[a.count]
        }
        if let o = x.object {
            for (n, (k, c)) in o.enumerated() {
                stack.append(c)
                // Lookup by key is linear: check the first members only (the harness stays linear).
                if n < 16 && x[k] == nil { fuzzFail("object member '\(k)' not found by key") }
            }
            _ = x.dictionary
        }
    }
    if v != v { fuzzFail("a JSON value is not equal to itself") }
    if sink == 42 { print("", terminator: "") }
}
