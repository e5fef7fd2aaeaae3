// Placeholder until the tokenizer.json loader (branch h-tok) is merged; removed by that merge.
extension Tokenizer {
    public static func fromHuggingFace(tokenizerJSON: [UInt8], tokenizerConfigJSON: [UInt8]?) throws -> Tokenizer {
        throw MIIError.unsupported("tokenizer.json is not supported yet")
    }
}
