#!/usr/bin/env bash
# Runs every test of libmii. This is the README's test command and what CI runs (.ci/run).
#  1. dependencies and the release build (scripts/setup.sh), llama.cpp's tokenizer test vectors,
#     the reference packages and the large fixtures they write (SmolLM2 as a Hugging Face folder)
#  2. swift test (kernels vs reference twins and the gguf package, GGUF reader, hostile files,
#     tokenizers vs llama.cpp / Hugging Face, forward pass vs transformers, generation)
#  3. the real libmii.so: exported symbols vs mii.h, C examples built with -Werror and run
#  4. the CLI: usage errors (exit 2), hostile model files (exit 1), generation
#  5. the Python package (bindings/python) with pytest against the real libmii.so
#  6. concurrency tests under ThreadSanitizer
#  7. the C API under AddressSanitizer + LeakSanitizer (misuse, 1,000 model / 10,000 session cycles)
#  8. fuzzing: committed corpora and past crashers replayed, then a short run of every fuzz target
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

bash scripts/setup.sh
bash scripts/fixtures/fetch_vocab_vectors.sh "$ROOT/.cache/vocab" >&2
# The reference packages (torch, transformers, tokenizers, ...) write the fixtures that are too large
# to commit: SmolLM2 as a Hugging Face folder saved by transformers.
bash scripts/setup_reference_env.sh >&2
${PYTHON:-python3} scripts/fixtures/make_smollm2_hf_folder.py >&2
${PYTHON:-python3} scripts/fixtures/make_hf_tokenizer_cache.py >&2
# all-MiniLM-L6-v2 converted to GGUF by llama.cpp's converter (~90 MB, written into .cache/gguf).
${PYTHON:-python3} scripts/fixtures/make_minilm_gguf.py >&2

echo "== swift test" >&2
mkdir -p .build
swift test -c release 2>&1 | tee .build/swift-test.log
swift_passed=$(grep -E "^[[:space:]]*Executed [0-9]+ tests?, with 0 failures" .build/swift-test.log | tail -1 | sed -E 's/.*Executed ([0-9]+) test.*/\1/')
[ -n "$swift_passed" ] || { echo "swift test failed" >&2; exit 1; }

# Each further stage prints "ok - ..." per check and exits non-zero on the first failure.
run_stage() {
  local log=".build/$(basename "$2").log"
  echo "== $1" >&2
  if ! bash "$2" >"$log" 2>&1; then
    cat "$log"
    echo "stage '$1' failed" >&2
    exit 1
  fi
  cat "$log"
}
run_stage "libmii.so and C examples" scripts/test_c_api.sh
run_stage "CLI" scripts/test_cli.sh
run_stage "Python package (pytest against the real libmii.so)" scripts/test_python.sh
run_stage "ThreadSanitizer" scripts/test_tsan.sh
run_stage "AddressSanitizer + LeakSanitizer" scripts/test_asan.sh
run_stage "fuzzing (replay + short runs)" scripts/test_fuzz_short.sh
c_passed=$(grep -c '^ok ' .build/test_c_api.sh.log || true)
cli_passed=$(grep -c '^ok ' .build/test_cli.sh.log || true)
tsan_passed=$(grep -c '^ok ' .build/test_tsan.sh.log || true)
asan_passed=$(grep -c '^ok ' .build/test_asan.sh.log || true)
fuzz_passed=$(grep -c '^ok ' .build/test_fuzz_short.sh.log || true)
py_passed=$(grep -oE '[0-9]+ passed' .build/test_python.sh.log | tail -1 | grep -oE '[0-9]+' || echo 0)

echo "tests: $((swift_passed + c_passed + cli_passed + py_passed + tsan_passed + asan_passed + fuzz_passed)) passed, 0 failed"
