#!/usr/bin/env bash
# Tests the real libmii.so (not the statically linked test binary): its exports against mii.h, its
# dependencies, and the C examples built with -std=c11 -Wall -Wextra -Werror.
# Prints "ok - <check>" per passed check; exits 1 on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
SO=.build/release/libmii.so
OUT=.build/c-tests
mkdir -p "$OUT"
fail() { echo "not ok - $*"; exit 1; }

[ -f "$SO" ] || fail "libmii.so was not built (run scripts/setup.sh)"

soname=$(readelf -d "$SO" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ "$soname" = "libmii.so.1" ] || fail "SONAME is '$soname', expected libmii.so.1"
echo "ok - SONAME libmii.so.1"

needed=$(readelf -d "$SO" | grep NEEDED || true)
if grep -qi swift <<<"$needed"; then
  fail "libmii.so needs Swift runtime libraries: $(grep -i swift <<<"$needed")"
fi
echo "ok - no Swift runtime libraries needed at run time"

exported=$(nm -D --defined-only "$SO" | awk '$2 ~ /^[TDBRVW]$/ {print $3}' | sort)
stray=$(echo "$exported" | grep -v '^mii_' || true)
[ -z "$stray" ] || fail "symbols other than mii_* are exported: $(echo $stray | head -c 400)"
echo "ok - only mii_* symbols exported ($(echo "$exported" | wc -l))"

# Every function declared in mii.h must be exported, and nothing undeclared.
declared=$(gcc -E -P -I include -x c include/mii.h | tr '\n' ' ' | grep -oE '\bmii_[a-z0-9_]+[[:space:]]*\(' | sed -E 's/[[:space:]]*\($//' | sort -u)
missing=$(comm -23 <(echo "$declared") <(echo "$exported"))
extra=$(comm -13 <(echo "$declared") <(echo "$exported"))
[ -z "$missing" ] || fail "declared in mii.h but not exported: $missing"
[ -z "$extra" ] || fail "exported but not declared in mii.h: $extra"
echo "ok - exports match mii.h ($(echo "$declared" | wc -l) functions)"

# Signatures: the Swift exports are compiled against mii.h itself (module CMIIHeader), and this
# checks the Swift compiler's view of each export matches the header's prototype.
bash scripts/check_signatures.sh >"$OUT/signatures.log" 2>&1 || { cat "$OUT/signatures.log"; fail "export signatures differ from mii.h"; }
echo "ok - export signatures match mii.h"

export PKG_CONFIG_PATH="$PWD/.build/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
CFLAGS="-std=c11 -Wall -Wextra -Werror -O2"
for ex in stream threads; do
  cc $CFLAGS "examples/c/$ex.c" -pthread $(pkg-config --cflags --libs mii) -o "$OUT/$ex" \
    || fail "examples/c/$ex.c does not build with $CFLAGS"
done
echo "ok - C examples build with $CFLAGS via pkg-config mii"

text=$("$OUT/stream" --max-new-tokens 8 "The capital of France is" 2>"$OUT/stream.err") || { cat "$OUT/stream.err"; fail "stream example failed"; }
case "$text" in
  " Paris"*) echo "ok - stream example: greedy continuation starts with ' Paris'" ;;
  *) fail "stream example printed '$text', expected it to start with ' Paris'" ;;
esac

"$OUT/threads" 3 >"$OUT/threads.out" 2>&1 || { cat "$OUT/threads.out"; fail "threads example: outputs differ from the serial run"; }
echo "ok - threads example: 3 threads with their own sessions match the serial run"

"$OUT/threads" --threads-per-session 2 2 >"$OUT/threads2.out" 2>&1 || { cat "$OUT/threads2.out"; fail "threads example with 2 threads per session"; }
echo "ok - threads example: 2 sessions x 2 threads match the serial run"

cc $CFLAGS Tests/c/api_misuse.c $(pkg-config --cflags --libs mii) -o "$OUT/api_misuse" \
  || fail "Tests/c/api_misuse.c does not build with $CFLAGS"
"$OUT/api_misuse" Tests/Fixtures/tiny/tiny-llama.gguf || fail "API misuse / churn checks"
