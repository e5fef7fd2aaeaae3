// The WordPiece tokenizer of GGUF `bert` vocabularies (llama.cpp's WPM, src/llama-vocab.cpp).
//
// llama.cpp's converter stores BERT's vocabulary in "phantom space" form: a word-start piece "play"
// becomes "▁play" (U+2581) and a continuation piece "##ing" becomes "ing"; special tokens keep their
// text. Each word of the normalized, pre-tokenized text is matched greedily, longest piece first: the
// first piece must be a "▁" piece, later ones plain pieces; a word with a part that matches nothing
// becomes [UNK]. This is Hugging Face's WordPiece on the original vocabulary.
//
// Unlike llama.cpp, whose WPM preprocessing approximates BertNormalizer and BertPreTokenizer
// (simplified NFD, its own control-character set), the text is normalized and split by the same code
// as a tokenizer.json BertNormalizer (clean_text, handle_chinese_chars, strip_accents, lowercase) and
// BertPreTokenizer: the test vectors of both projects are made with Hugging Face tokenizers. Like
// llama.cpp, and unlike Hugging Face, words are not limited to 100 characters.

struct GGUFWordPiece: @unchecked Sendable {
    let model: WordPieceModel
    let normalizer: HFNormalizer
    let preTokenizer: HFPreTokenizer

    /// `lowercase` / `stripAccents`: `tokenizer.ggml.normalizer.lowercase` / `.strip_accents`.
    init(vocab: TokenTextTable, unkId: Int32, lowercase: Bool, stripAccents: Bool) {
        model = WordPieceModel(unkId: unkId, prefix: [], maxInputChars: Int.max,
                               tokens: (0..<vocab.count).map { Array(vocab.text($0)) },
                               wordPrefix: [0xE2, 0x96, 0x81])
        normalizer = .bert(cleanText: true, chineseChars: true, stripAccents: stripAccents, lowercase: lowercase)
        preTokenizer = .bert
    }

    /// Appends the tokens of a text fragment (no special tokens inside). Invalid UTF-8 decodes to
    /// U+FFFD, which the normalizer removes (llama.cpp skips it too).
    func encode(_ bytes: UnsafeBufferPointer<UInt8>, into out: inout [Int32]) {
        var scalars: [UInt32] = [], offsets: [Int] = []
        UTF8Util.decode(bytes, scalars: &scalars, offsets: &offsets)
        let text = normalizer.apply(scalars)
        if text.isEmpty { return }
        for p in preTokenizer.run([HFPiece(s: text, first: true)]) where !p.s.isEmpty {
            model.tokenize(HFChar.utf8(p.s), into: &out)
        }
    }
}
