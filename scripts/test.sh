#!/usr/bin/env bash
# The test command: builds and runs the C unit tests (plain and under ASan/UBSan) with ctest,
# then the Python suite with pytest against the installed extension.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
JOBS=$(nproc)
for preset in release asan; do
  dir=build-$preset
  if [ "$preset" = asan ]; then opt=-DRMQ_SANITIZE=ON; else opt=-DRMQ_SANITIZE=OFF; fi
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo $opt >/dev/null
  cmake --build "$dir" -j "$JOBS" >/dev/null
  (cd "$dir" && ctest --output-on-failure -j "$JOBS")
done
.venv/bin/python -m ruff check pyrmq tests bench
# The pytest script (not `python -m pytest`) keeps the source tree off sys.path, so the installed
# package with its compiled extension is what the tests import.
.venv/bin/pytest -q -p no:cacheprovider "$@"
