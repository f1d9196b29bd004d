#!/usr/bin/env bash
# Docker, tested for real: build both images (scripts/docker_image.sh), install the Docker SDK
# into .venv, run the sandbox contract tests with the docker backend, and FAIL unless they ran
# (a run where every docker test was skipped is a failure, not a pass). Then grade a small class
# with the full grading image: `docker run ... nlpgrade grade /subs`, with the flags it needs.
#   scripts/docker_sandbox_test.sh                 # everything
#   SKIP_TESTS=1 scripts/docker_sandbox_test.sh    # engine + images + the grading image only
#   SKIP_GRADE_IMAGE=1 scripts/docker_sandbox_test.sh  # contract tests only
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
PY=${PY:-$REPO/.venv/bin/python}
export NLPGRADE_DOCKER_IMAGE=${NLPGRADE_DOCKER_IMAGE:-nlpgrade-worker:latest}
GRADE_IMAGE=${NLPGRADE_GRADE_IMAGE:-nlpgrade:latest}
log() { printf '\n== %s\n' "$*"; }
fail() { printf '\nFAILED: %s\n' "$*" >&2; exit 1; }

bash scripts/docker_image.sh

if ! "$PY" -c "import docker" 2>/dev/null; then
  log "installing the Docker SDK (nlpgrade[docker]) into .venv"
  "$PY" -m pip install --quiet --disable-pip-version-check -c constraints/grading.txt \
    'docker>=7' 2>&1 | grep -v "^WARNING: Location" || true
  "$PY" -c "import docker" || fail "the Docker SDK did not install"
fi
"$PY" -c "from grader.sandbox import backend_available as b; ok, why = b('docker'); \
print('docker backend:', why); raise SystemExit(0 if ok else 1)" \
  || fail "the docker backend is not usable"

if [ "${SKIP_TESTS:-0}" != 1 ]; then
  log "sandbox contract tests with the docker backend"
  report=$(mktemp --suffix=.xml)
  set +e
  NLPGRADE_TEST_DOCKER=1 NLPGRADE_TEST_BACKENDS=docker \
    "$PY" -m pytest -q -rs tests/sandbox -p no:cacheprovider --junitxml="$report" "$@"
  rc=$?
  set -e
  # count the docker-parametrised tests that really ran, and those skipped
  read -r ran skipped < <("$PY" - "$report" <<'PYEOF'
import sys
import xml.etree.ElementTree as ET
cases = [c for c in ET.parse(sys.argv[1]).iter("testcase") if "docker" in c.get("name", "")]
skipped = sum(1 for c in cases if c.find("skipped") is not None)
print(len(cases) - skipped, skipped)
PYEOF
)
  echo "docker tests: $ran ran, $skipped skipped (pytest exit code $rc)"
  [ "$rc" = 0 ] || fail "pytest failed (exit code $rc)"
  [ "$ran" -gt 0 ] || fail "no docker test ran"
  [ "$skipped" = 0 ] || fail "$skipped docker tests were skipped"
fi

if [ "${SKIP_GRADE_IMAGE:-0}" != 1 ]; then
  log "the full grading image: docker run ... $GRADE_IMAGE grade /subs"
  work=$(mktemp -d)
  mkdir -p "$work/subs" "$work/out"
  cp -r examples/bert_pretrain/alice_correct "$work/subs/alice"
  cp -r examples/bert_pretrain/dave_no_tying "$work/subs/dave"
  chmod -R a+rX "$work"
  chown 10001:10001 "$work/out"  # the image's user; an instructor passes --user "$(id -u):$(id -g)"
  # bwrap inside a container: a non-root user, Docker's seccomp profile off (it refuses the
  # user namespace) and /proc unmasked (bwrap mounts its own); AppArmor hosts also need
  # apparmor=unconfined
  flags=(--user 10001:10001 --security-opt seccomp=unconfined
         --security-opt systempaths=unconfined --security-opt apparmor=unconfined)
  log "without the flags, bwrap is refused (exit code 2 expected)"
  set +e
  docker run --rm -v "$work/subs:/subs:ro" "$GRADE_IMAGE" grade /subs --sandbox bwrap -q
  rc=$?
  [ "$rc" = 2 ] || fail "without the flags, grade --sandbox bwrap should exit 2, got $rc"
  log "docker run --rm ${flags[*]} -v subs:/subs:ro -v out:/out $GRADE_IMAGE grade /subs"
  start=$(date +%s)
  docker run --rm "${flags[@]}" -v "$work/subs:/subs:ro" -v "$work/out:/out" \
    "$GRADE_IMAGE" grade /subs --profile small --sandbox bwrap --json -q > "$work/summary.json"
  rc=$?
  echo "docker run ... grade: exit code $rc in $(( $(date +%s) - start )) s"
  set -e
  cat "$work/summary.json"
  [ "$rc" = 0 ] || fail "docker run ... grade exited $rc"
  "$PY" - "$work" <<'PYEOF' || fail "the grading image's results are wrong"
import json, sys
from pathlib import Path
work = Path(sys.argv[1])
doc = json.loads((work / "summary.json").read_text())
scores = {r["student"]: r["score"] for r in doc["rows"]}
assert scores == {"alice": 50, "dave": 46}, scores
for student in scores:
    env = json.loads((work / "out" / "grading-out" / "results" / f"{student}.json").read_text())
    assert env["environment"]["sandbox"] == "bwrap", env["environment"]
print("grading image: alice 50, dave 46, sandbox bwrap, results in", work / "out")
PYEOF
fi
log "docker: all checks passed"
