"""The result cache is keyed on everything a verdict depends on, the grader's own code included:
after an edit of a check's source (in an installed copy of the package, not this repo), a rerun
regrades instead of serving the old verdict as "cached"."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from grader.results import SubmissionResult

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
GRADE = "import sys; from grader.cli import grade_main; sys.exit(grade_main())"


def _grade(site: Path, subs: Path, out: Path, home: Path) -> tuple[str, SubmissionResult]:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "PYTHONPATH": str(site),
           "NLPGRADE_REFERENCE_ROOT": str(ROOT / "reference"),
           "NLPGRADE_RUBRIC_ROOT": str(ROOT / "rubrics"), "COLUMNS": "160"}
    proc = subprocess.run([sys.executable, "-c", GRADE, str(subs), "--assignment", "mlm_step",
                           "--jobs", "1", "--out", str(out)],
                          capture_output=True, text=True, env=env, timeout=900,
                          cwd=site)  # not the repo: `python -c` imports from its cwd first
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    row = SubmissionResult.model_validate_json((out / "results" / "ref.json").read_text())
    return proc.stdout, row


def test_editing_a_check_regrades(tmp_path: Path) -> None:
    site = tmp_path / "site"
    shutil.copytree(ROOT / "grader", site / "grader",
                    ignore=shutil.ignore_patterns("__pycache__", "rubrics"))
    which = subprocess.run([sys.executable, "-c", "import grader; print(grader.__file__)"],
                           capture_output=True, text=True, env={"PYTHONPATH": str(site)},
                           cwd=site)
    assert which.stdout.strip() == str(site / "grader" / "__init__.py")  # the copy is graded with
    subs = tmp_path / "class"
    (subs / "ref").mkdir(parents=True)
    shutil.copy2(ROOT / "reference" / "mlm_step" / "mlm_step.py", subs / "ref" / "mlm_step.py")
    home, out = tmp_path / "home", tmp_path / "out"
    home.mkdir()

    _, first = _grade(site, subs, out, home)
    _, again = _grade(site, subs, out, home)
    assert again.graded_at == first.graded_at  # nothing changed: served from the cache

    checks = site / "grader" / "assignments" / "mlm_step" / "checks.py"
    checks.write_text(checks.read_text() + "\n# a fix of a check\n")
    _, fixed = _grade(site, subs, out, home)
    assert fixed.cache_key != first.cache_key
    assert fixed.graded_at != first.graded_at  # graded again, not served from the cache
    assert fixed.score == first.score == first.max_score
