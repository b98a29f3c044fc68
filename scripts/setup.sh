#!/usr/bin/env bash
# Creates .venv and installs pyrmq (compiling csrc/ + _ext/) with its test and bench extras.
# Idempotent: re-running rebuilds the extension from the current sources.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip setuptools wheel "cython>=3.0"
# CI proves the plain `pip install .` path; developers get an editable install so edits to
# pyrmq/ take effect at once (re-run this script after changing csrc/ or _ext/).
if [ "${CI:-}" = "true" ]; then
  .venv/bin/python -m pip install -q ".[test,bench]"
else
  .venv/bin/python -m pip install -q -e ".[test,bench]"
fi
