#!/usr/bin/env python3
"""Writes Sources/MIICore/Tokenizers/HF/UnicodeNormTables.swift: the data the Unicode normalization
forms (NFC, NFD, NFKC, NFKD) need, taken from Python's unicodedata, as compact string literals that
MIICore parses once on first use (large array literals are slow to compile in Swift).

  ccc     canonical combining classes: "start-end:class" ranges, hex, ';'-separated
  decomp  one-level decomposition mappings of every code point that has one (Hangul syllables are
          algorithmic and left out): "<delta>,<c|k>,<hex> <hex> ..." where delta is the code point
          minus the previous entry's, c = canonical, k = compatibility
  marks        characters StripAccents removes (General_Category M*), "start-end" ranges
  bertMarks    characters BertNormalizer's strip_accents removes (Mn in the reference's tables)
  bertControl  characters BertNormalizer's clean_text removes (Cc, Cf other than \t \n \r)
  punctuation  characters BertPreTokenizer / Punctuation split off (ASCII punctuation and P*)
  word         non-ASCII characters of regex \w (the Whitespace pre-tokenizer's word characters)
  noComp  canonical pairs that do not recompose (composition exclusions, singletons, non-starter
          decompositions), as hex code points
The engine must match the Hugging Face `tokenizers` library, whose Rust normalization crate is on an
older Unicode version than Python: when `tokenizers` is installed, decompositions and combining
classes it does not know (characters added to Unicode later) are left out, so that both agree.
Usage: python3 scripts/gen/make_unicode_norm_tables.py
"""
import os
import sys
import unicodedata

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
OUT = os.path.join(ROOT, "Sources", "MIICore", "Tokenizers", "HF", "UnicodeNormTables.swift")


def reference():
    try:
        from tokenizers import normalizers
        return normalizers.NFD(), normalizers.NFKD()
    except ImportError:
        return None


def char_ranges(pred):
    out = []
    for c in range(0x110000):
        if 0xD800 <= c <= 0xDFFF or not pred(c):
            continue
        if out and out[-1][1] == c - 1:
            out[-1][1] = c
        else:
            out.append([c, c])
    return ["%x-%x" % (a, b) for a, b in out]


def category_tables():
    """(marks, bertMarks, bertControl, punctuation, word), from the reference library when it is installed (its
    Unicode tables are older than Python's), else from unicodedata."""
    try:
        from tokenizers import normalizers, pre_tokenizers
        strip = normalizers.StripAccents()
        bert = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=False, strip_accents=False, lowercase=False)
        punct = pre_tokenizers.Punctuation()
        ws = pre_tokenizers.Whitespace()
        bert_sa = normalizers.BertNormalizer(clean_text=False, handle_chinese_chars=False, strip_accents=True, lowercase=False)
        return (char_ranges(lambda c: strip.normalize_str(chr(c)) == ""),
                char_ranges(lambda c: bert_sa.normalize_str(chr(c)) == ""),
                char_ranges(lambda c: c != 0 and c != 0xFFFD and bert.normalize_str(chr(c)) == ""),
                char_ranges(lambda c: len(punct.pre_tokenize_str("a%sa" % chr(c))) == 3),
                char_ranges(lambda c: c >= 0x80 and len(ws.pre_tokenize_str("a%sa" % chr(c))) == 1))
    except ImportError:
        cat = lambda c: unicodedata.category(chr(c))
        return (char_ranges(lambda c: cat(c).startswith("M")),
                char_ranges(lambda c: cat(c) == "Mn"),
                char_ranges(lambda c: c not in (9, 10, 13) and cat(c) in ("Cc", "Cf")),
                char_ranges(lambda c: (0x21 <= c <= 0x2F or 0x3A <= c <= 0x40 or 0x5B <= c <= 0x60 or 0x7B <= c <= 0x7E)
                            or cat(c).startswith("P")),
                char_ranges(lambda c: c >= 0x80 and (chr(c).isalpha() or cat(c) in ("Mn", "Mc", "Me", "Nd", "Pc"))))


def main():
    ref = reference()
    marks, bert_marks, bert_control, punctuation, word = category_tables()
    ccc = []
    for c in range(0x110000):
        if 0xD800 <= c <= 0xDFFF:
            continue
        k = unicodedata.combining(chr(c))
        if k and ref:
            # Known to the reference? Then it reorders below a mark of a higher class.
            probe = "a" + chr(0x345) + chr(c)  # U+0345 has class 240, above every other class but 0
            if ref[0].normalize_str(probe) != unicodedata.normalize("NFD", probe):
                k = 0
        if k:
            if ccc and ccc[-1][1] == c - 1 and ccc[-1][2] == k:
                ccc[-1][1] = c
            else:
                ccc.append([c, c, k])
    decomp = []
    no_comp = []
    prev = 0
    for c in range(0x110000):
        if 0xAC00 <= c <= 0xD7A3:
            continue
        d = unicodedata.decomposition(chr(c))
        if not d:
            continue
        parts = d.split()
        kind = "c"
        if parts[0].startswith("<"):
            kind = "k"
            parts = parts[1:]
        vals = [int(p, 16) for p in parts]
        if ref:
            form = ref[1] if kind == "k" else ref[0]
            if form.normalize_str(chr(c)) == chr(c):
                continue  # the reference library does not decompose it
        decomp.append("%x,%s,%s" % (c - prev, kind, " ".join("%x" % v for v in vals)))
        prev = c
        if kind == "c" and len(vals) == 2:
            if unicodedata.normalize("NFC", chr(vals[0]) + chr(vals[1])) != chr(c):
                no_comp.append(c)
    with open(OUT, "w") as f:
        f.write("// Generated by scripts/gen/make_unicode_norm_tables.py from Python %s's unicodedata (Unicode %s).\n"
                % (sys.version.split()[0], unicodedata.unidata_version))
        f.write("// Do not edit. The formats are described in the script.\n\n")
        f.write("enum UnicodeNormTables {\n")
        f.write('    static let version = "%s"\n' % unicodedata.unidata_version)

        def lit(name, items, per_line):
            f.write("    static let %s = \"\"\"\n" % name)
            lines = [";".join(items[i:i + per_line]) for i in range(0, len(items), per_line)]
            f.write(";\\\n".join(lines) + "\n")
            f.write("\"\"\"\n")
        lit("ccc", ["%x-%x:%x" % (a, b, k) for a, b, k in ccc], 16)
        lit("decomp", decomp, 12)
        lit("marks", marks, 16)
        lit("bertMarks", bert_marks, 16)
        lit("bertControl", bert_control, 16)
        lit("punctuation", punctuation, 16)
        lit("word", word, 16)
        lit("noComp", ["%x" % c for c in no_comp], 24)
        f.write("}\n")
    print("wrote %s (%d ccc ranges, %d decompositions, %d non-composing pairs)"
          % (OUT, len(ccc), len(decomp), len(no_comp)))


if __name__ == "__main__":
    main()
