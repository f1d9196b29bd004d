#!/usr/bin/env bash
# Quick start: set everything up, then grade the bundled example class (small profile).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/grade examples/bert_pretrain --profile small --out out/examples "$@"
