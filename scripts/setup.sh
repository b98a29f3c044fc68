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
# Editable install: the extension is compiled into the source tree, so tests that start
# `python -m pyrmq ...` subprocesses from the repo root import the same build. Re-run this
# script after changing csrc/ or _ext/.
.venv/bin/python -m pip install -q -e ".[test,bench]"
.venv/bin/python -c "import pyrmq._store as s; print('pyrmq: record CRC32 by', s.CRC32_PROVIDER)"
# CI also proves the plain `pip install .` path (a wheel built from source in isolation).
if [ "${CI:-}" = "true" ]; then
  rm -rf build-wheel
  .venv/bin/python -m pip wheel -q --no-deps -w build-wheel .
fi
