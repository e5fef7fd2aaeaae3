#!/usr/bin/env bash
# Tests the `mii` command-line tool as a user runs it: exit codes (0 ok, 1 runtime error, 2 usage),
# stdout/stderr separation, the hostile GGUF catalogue, and generation on the default model.
# Prints "ok - <check>" per passed check; exits 1 on the first failure.
set -uo pipefail
cd "$(dirname "$0")/.."
MII=bin/mii
fail() { echo "not ok - $*"; exit 1; }
[ -x "$MII" ] || fail "bin/mii missing (run scripts/setup.sh)"

expect_code() {  # expected-code description command...
  local want=$1 what=$2; shift 2
  local err
  err=$("$@" 2>&1 >/dev/null)
  local got=$?
  [ "$got" = "$want" ] || fail "$what: exit $got, expected $want ($err)"
  [ "$want" = 0 ] || [ -n "$err" ] || fail "$what: no message on stderr"
}

expect_code 2 "no command" $MII
expect_code 2 "unknown command" $MII frobnicate
expect_code 2 "unknown flag" $MII generate --frobnicate 1 hi
expect_code 2 "bad --max-new-tokens" $MII generate --max-new-tokens abc hi
expect_code 2 "negative --max-new-tokens" $MII generate --max-new-tokens -3 hi
expect_code 2 "bad --temperature" $MII generate --temperature -1 hi
expect_code 2 "bad --top-p" $MII generate --top-p 1.5 hi
expect_code 2 "bad --threads" $MII generate --threads 0 hi
expect_code 2 "bad --mode" $MII generate --mode turbo hi
expect_code 2 "missing prompt" $MII generate
expect_code 2 "missing flag value" $MII generate hi --seed
echo "ok - usage errors exit 2 with a message"

expect_code 1 "missing model file" $MII generate --model /nonexistent.gguf hi
expect_code 1 "directory as model" $MII info /tmp
echo "ok - missing or unreadable model files exit 1 with a message"

n=0
for f in Tests/Fixtures/hostile_gguf/*.gguf; do
  case "$(basename "$f")" in control_*) continue ;; esac
  start=$(date +%s%N)
  # 512 MiB of address space: a parser that trusted a size in the file would fail to allocate here.
  err=$(ulimit -v 524288; timeout 10 $MII info "$f" 2>&1 >/dev/null)
  code=$?
  ms=$(( ($(date +%s%N) - start) / 1000000 ))
  [ "$code" = 1 ] || fail "hostile $(basename "$f"): exit $code, expected 1 ($err)"
  case "$err" in "mii: error: "?*) ;; *) fail "hostile $(basename "$f"): unclear message '$err'" ;; esac
  [ "$ms" -lt 2000 ] || fail "hostile $(basename "$f"): took $ms ms"
  n=$((n + 1))
done
[ "$n" -ge 20 ] || fail "only $n hostile files found"
echo "ok - $n hostile GGUF files: exit 1, 'mii: error: ...' on stderr, each under 2 s within 512 MiB of address space"

for f in Tests/Fixtures/hostile_gguf/control_model_*.gguf Tests/Fixtures/tiny/*.gguf; do
  $MII info "$f" >/dev/null 2>&1 || fail "valid model $(basename "$f") should load"
done
echo "ok - the valid models the hostile files were derived from load"

out=$($MII generate --max-new-tokens 6 "The capital of France is" 2>/dev/null) || fail "generate on the default model failed"
case "$out" in " Paris"*) ;; *) fail "greedy continuation '$out' does not start with ' Paris'" ;; esac
echo "ok - mii generate (default model): greedy continuation starts with ' Paris'"

a=$($MII generate --max-new-tokens 12 --temperature 0.9 --top-k 40 --top-p 0.95 --seed 7 "Once upon a time" 2>/dev/null)
b=$($MII generate --max-new-tokens 12 --temperature 0.9 --top-k 40 --top-p 0.95 --seed 7 "Once upon a time" 2>/dev/null)
[ "$a" = "$b" ] || fail "same seed gave different text: '$a' vs '$b'"
echo "ok - sampling with the same seed repeats the same text"

info=$($MII info 2>/dev/null) || fail "mii info on the default model failed"
for word in "architecture: llama" "kernels:" "threads:" "tokenizer:" "Q4_1"; do
  grep -qF "$word" <<<"$info" || fail "mii info lacks '$word'"
done
echo "ok - mii info reports architecture, tensor types, tokenizer, kernels and threads"

# The automatic configuration: every choice with a reason and an override; --ctx and --threads change it.
info=$($MII info --ctx 1000 --threads 1 2>/dev/null) || fail "mii info --ctx --threads failed"
for word in "configuration (automatic" "  threads: 1" "  kernels:" "  precision: precise" "  context: 1000 tokens" \
            "  memory:" "46080 bytes per token" "why:" "override:"; do
  grep -qF -- "$word" <<<"$info" || fail "mii info configuration lacks '$word'"
done
[ "$(grep -c '      why: ' <<<"$info")" = "$(grep -c '      override: ' <<<"$info")" ] || fail "a choice without its override"
echo "ok - mii info explains the automatic configuration (threads, kernels, precision, context, memory)"
expect_code 2 "info with a bad --ctx" $MII info --ctx 0

# A float GGUF quantized at load reports the types llama.cpp's converter gives with --outtype q8_0.
F32=Tests/Fixtures/hf_tiny_gguf/phi3.f32.gguf Q8=Tests/Fixtures/hf_tiny_gguf/phi3.q8_0.gguf
qinfo=$($MII info --quantize q8_0 "$F32" 2>/dev/null) || fail "mii info --quantize q8_0 on $F32 failed"
grep -qF "quantized to Q8_0 at load" <<<"$qinfo" || fail "mii info --quantize q8_0 does not say the weights were quantized: $qinfo"
want=$($MII info "$Q8" 2>/dev/null | grep '^tensor types:') || fail "mii info $Q8 failed"
got=$(grep '^tensor types:' <<<"$qinfo")
[ "$got" = "$want" ] || fail "mii info --quantize q8_0: '$got', the converter's q8_0 file has '$want'"
grep -qF "F32 x" <<<"$($MII info --quantize none "$F32" 2>/dev/null)" || fail "mii info --quantize none changed the types"
echo "ok - mii info --quantize q8_0 on a float GGUF reports the quantized tensor types ($got)"

json=$($MII bench --prompt-tokens 16 --gen-tokens 4 --repeat 1 --json 2>/dev/null) || fail "mii bench failed"
echo "$json" | python3 -c "import json,sys; d=json.load(sys.stdin); assert d['results'] and all(r['tok_per_s']>0 for r in d['results'])" \
  || fail "mii bench --json output is not valid: $json"
echo "ok - mii bench --json prints valid results"
