#!/bin/sh
# Builds kbench with gcc -O2 straight from the MIIKernels C sources and runs it single-threaded.
# Usage: bench/kernels/run.sh [reps-scale] [filter]
# env: KERNELS_AVX2=<alternative kernels_avx2.c>  CC=clang OPT=-O3 (what SwiftPM uses)  KBENCH_OUT=<binary>
set -e
here=$(cd "$(dirname "$0")" && pwd)
src="$here/../../Sources/MIIKernels"
out=${KBENCH_OUT:-/tmp/kbench}
avx2=${KERNELS_AVX2:-$src/kernels_avx2.c}
${CC:-gcc} ${OPT:--O2} -fno-math-errno -I"$src" -I"$src/include" -o "$out" "$here/kbench.c" \
    "$avx2" $(ls "$src"/*.c | grep -v kernels_avx2.c) -lpthread -lm
exec "$out" "$@"
