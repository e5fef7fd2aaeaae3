#!/usr/bin/env bash
# Tests the Python bindings (bindings/python) against the real libmii.so: installs the package into
# the current Python (pip install ./bindings/python, which bundles .build/release/libmii.so, building
# it first if it is missing), installs numpy and pytest if missing, and runs pytest on
# bindings/python/tests. Prints pytest's summary; the last line is "ok - python: <summary>" on
# success. Exits non-zero on failure. Extra arguments go to pytest (e.g. -k stream).
# Environment: PYTHON (default python3).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
export PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1
mkdir -p .build
LOG=.build/python-tests.log

fail() { echo "not ok - python: $*"; exit 1; }

rm -rf bindings/python/build  # no stale files from an earlier build
$PY -m pip install -q ./bindings/python || fail "pip install ./bindings/python failed"
rm -rf bindings/python/build bindings/python/mii.egg-info
for mod in numpy pytest; do
  $PY -c "import $mod" 2>/dev/null || $PY -m pip install -q "$mod" || fail "cannot install $mod"
done

(cd / && $PY -c "import mii; print('mii', mii.__version__, 'from', mii.__file__, '- libmii', mii.library_version(), 'at', mii.library_path)") \
  || fail "import mii failed after installation"

# Run from the repository root so that `import mii` is the installed package (bindings/python is not
# on sys.path), as a user would get it.
set +e
$PY -m pytest bindings/python/tests -p no:cacheprovider -q -rfE "$@" 2>&1 | tee "$LOG"
rc=${PIPESTATUS[0]}
set -e
summary=$(grep -v '^[[:space:]]*$' "$LOG" | tail -1 | sed -E 's/^=+ *//; s/ *=+$//')
echo "$summary" | grep -Eq '(passed|failed|error|skipped|no tests ran)' || summary=""
[ -n "$summary" ] || summary="no pytest summary (exit status $rc)"
if [ "$rc" -ne 0 ]; then
  echo "not ok - python: $summary"
  exit "$rc"
fi
echo "ok - python: $summary"
