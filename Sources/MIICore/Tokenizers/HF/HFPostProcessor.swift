// The post-processors of Hugging Face tokenizer.json files ("post_processor" key): they add the
// special tokens around one sequence or a pair and set the token type ids (processors/*.rs).

/// Token ids with their type ids.
struct HFEncoding {
    var ids: [Int32]
    var types: [Int32]

    init(ids: [Int32], type: Int32) {
        self.ids = ids
        self.types = [Int32](repeating: type, count: ids.count)
    }

    init(ids: [Int32], types: [Int32]) {
        self.ids = ids
        self.types = types
    }

    mutating func setType(_ t: Int32) { types = [Int32](repeating: t, count: ids.count) }
}

enum HFTemplatePiece {
    case special(String, type: Int32)
    /// Sequence A (0) or B (1).
    case sequence(Int, type: Int32)
}

indirect enum HFPostProcessor {
    case template(single: [HFTemplatePiece], pair: [HFTemplatePiece], special: [String: [Int32]])
    case bert(cls: Int32, sep: Int32)
    case roberta(cls: Int32, sep: Int32)
    case byteLevel
    case sequence([HFPostProcessor])

    /// Processes one or two encodings (type ids 0 and 1 on input). May return one merged encoding.
    func process(_ encs: [HFEncoding], addSpecial: Bool) -> [HFEncoding] {
        switch self {
        case .byteLevel:
            return encs
        case .sequence(let list):
            var x = encs
            for p in list { x = p.process(x, addSpecial: addSpecial) }
            return x
        case .template(let single, let pair, let special):
            if encs.count > 2 || encs.isEmpty { return encs }
            var out = HFEncoding(ids: [], types: [])
            for piece in encs.count == 2 ? pair : single {
                switch piece {
                case .sequence(let which, let t):
                    guard which < encs.count else { continue }
                    var e = encs[which]
                    e.setType(t)
                    out.ids += e.ids
                    out.types += e.types
                case .special(let key, let t):
                    if addSpecial, let ids = special[key] {
                        out.ids += ids
                        out.types += [Int32](repeating: t, count: ids.count)
                    }
                }
            }
            return [out]
        case .bert(let cls, let sep):
            if !addSpecial || encs.isEmpty || encs.count > 2 { return encs }
            var out = HFEncoding(ids: [cls] + encs[0].ids + [sep], type: 0)
            if encs.count == 2 {
                let b = HFEncoding(ids: encs[1].ids + [sep], type: 1)
                out.ids += b.ids
                out.types += b.types
            }
            return [out]
        case .roberta(let cls, let sep):
            if encs.isEmpty || encs.count > 2 { return encs }
            if !addSpecial {
                return encs.map { var e = $0; e.setType(0); return e }
            }
            var out = HFEncoding(ids: [cls] + encs[0].ids + [sep], type: 0)
            if encs.count == 2 {
                out.ids += [sep] + encs[1].ids + [sep]
                out.types += [Int32](repeating: 0, count: encs[1].ids.count + 2)
            }
            return [out]
        }
    }

    /// The final encoding: processed, then concatenated if still separate.
    static func run(_ p: HFPostProcessor?, a: [Int32], b: [Int32]?, addSpecial: Bool) -> HFEncoding {
        var encs = [HFEncoding(ids: a, type: 0)]
        if let b { encs.append(HFEncoding(ids: b, type: 1)) }
        if let p { encs = p.process(encs, addSpecial: addSpecial) }
        var out = HFEncoding(ids: [], types: [])
        for e in encs {
            out.ids += e.ids
            out.types += e.types
        }
        return out
    }
}
