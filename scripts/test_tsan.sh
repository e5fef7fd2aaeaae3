#!/usr/bin/env bash
# Concurrency under ThreadSanitizer: the thread pool, BPE merges looked up on two threads at load,
# several sessions on one model from several threads (bit-identical to serial), and cancellation from
# another thread, in a debug build with -sanitize=thread (its own build folder). Any ThreadSanitizer
# report fails the stage.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .build
LOG=.build/tsan.log
export MII_SANITIZER_BUILD=1 TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1"
if ! swift test --sanitize=thread --scratch-path .build-tsan \
     --filter "ConcurrencyTests|ThreadPoolTests|GenerationTests|MergeParsingTests" >"$LOG" 2>&1; then
  tail -60 "$LOG"
  echo "not ok - tests under ThreadSanitizer failed"
  exit 1
fi
if grep -q "WARNING: ThreadSanitizer" "$LOG"; then
  grep -A30 "WARNING: ThreadSanitizer" "$LOG" | head -80
  echo "not ok - ThreadSanitizer reported a data race"
  exit 1
fi
n=$(grep -E "Executed [0-9]+ tests" "$LOG" | tail -1 | sed -E 's/.*Executed ([0-9]+) tests.*/\1/')
echo "ok - $n concurrency tests clean under ThreadSanitizer (thread pool, merges at load, shared model, cancellation)"
