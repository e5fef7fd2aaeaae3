#!/usr/bin/env bash
# Builds the libFuzzer targets: MIIKernels + MIICore with -sanitize=fuzzer,address (SwiftPM, in its
# own scratch folder .build-fuzz), then one executable per fuzz/targets/<name>.swift (with
# Common.swift) into .build-fuzz/fuzzers/<name>.
# Usage: fuzz/build.sh [target ...]   (default: every target)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SCRATCH=${MII_FUZZ_SCRATCH:-$ROOT/.build-fuzz}
OUT=$SCRATCH/fuzzers
NICE="nice -n ${MII_FUZZ_NICE:-10}"
mkdir -p "$OUT"

# The library, instrumented for coverage (fuzzer-no-link) and AddressSanitizer. -enable-testing lets
# targets reach internal API with @testable import.
export MII_SANITIZER_BUILD=1
$NICE swift build -c release --scratch-path "$SCRATCH" --target MIICore \
  -Xswiftc -sanitize=fuzzer,address -Xswiftc -enable-testing \
  -Xcc -fsanitize=fuzzer-no-link,address >"$SCRATCH/build-lib.log" 2>&1 \
  || { tail -40 "$SCRATCH/build-lib.log"; echo "fuzz/build.sh: library build failed" >&2; exit 1; }

BIN=$SCRATCH/release
TRIPLE_BIN=$(cd "$BIN" && pwd -P)
objs=("$TRIPLE_BIN"/MIICore.build/*.o "$TRIPLE_BIN"/MIIKernels.build/*.o)

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in fuzz/targets/*.swift; do
    n=$(basename "$f" .swift)
    [ "$n" = Common ] || targets+=("$n")
  done
fi

for t in "${targets[@]}"; do
  src=fuzz/targets/$t.swift
  [ -f "$src" ] || { echo "fuzz/build.sh: no target $src" >&2; exit 2; }
  # Skip targets whose library API is not in this tree yet (a '// requires: <symbol> in <file>' line).
  req_sym=$(sed -n 's|^// requires: \(.*\) in \(.*\)$|\1|p' "$src" | head -1)
  req_dir=$(sed -n 's|^// requires: \(.*\) in \(.*\)$|\2|p' "$src" | head -1)
  if [ -n "$req_sym" ] && ! grep -rqsF -- "$req_sym" "$req_dir"; then
    echo "fuzz/build.sh: skipping $t ('$req_sym' not in $req_dir: its library API is not merged yet)" >&2
    continue
  fi
  if [ "$OUT/$t" -nt "$src" ] && [ "$OUT/$t" -nt fuzz/targets/Common.swift ] \
     && [ "$OUT/$t" -nt "$TRIPLE_BIN/Modules/MIICore.swiftmodule" ]; then
    continue
  fi
  echo "fuzz/build.sh: building $t" >&2
  $NICE swiftc -O -parse-as-library -sanitize=fuzzer,address -module-name "fuzz_$t" \
    -I "$TRIPLE_BIN/Modules" \
    -Xcc -fmodule-map-file="$TRIPLE_BIN/MIIKernels.build/module.modulemap" \
    -Xcc -fmodule-map-file="$ROOT/Sources/CNuma/module.modulemap" \
    -Xcc -fmodule-map-file="$ROOT/Sources/COpenBLAS/module.modulemap" \
    -Xcc -I"$ROOT/Sources/MIIKernels/include" \
    -Xcc -I/usr/include/x86_64-linux-gnu/openblas-pthread \
    fuzz/targets/Common.swift "$src" "${objs[@]}" \
    -lopenblas -lnuma -lpthread -lm -o "$OUT/$t" 2>"$OUT/$t.build.log" \
    || { cat "$OUT/$t.build.log"; echo "fuzz/build.sh: $t failed to build" >&2; exit 1; }
done
