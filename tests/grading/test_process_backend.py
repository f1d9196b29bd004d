"""The `process` backend (students' laptops, no isolation) gives the same grades as bwrap: the
probes must not depend on the in-sandbox mount paths."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from grader.assignments import get_assignment
from grader.cli import grade_main
from grader.precheck import run_precheck
from grader.results import CheckStatus, SubmissionResult
from grader.sandbox import get_sandbox

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "bert_pretrain"
pytestmark = pytest.mark.slow


def test_grade_with_the_process_backend(tmp_path: Path) -> None:
    subs = tmp_path / "class"
    for name in ("alice_correct", "erin_causal_mask"):
        shutil.copytree(EXAMPLES / name, subs / name)
    out = tmp_path / "out"
    args = [str(subs), "--profile", "small", "--sandbox", "process", "--out", str(out)]
    assert grade_main(args) == 0
    scores = {p.stem: SubmissionResult.model_validate_json(p.read_text()).score
              for p in (out / "results").glob("*.json")}
    assert scores == {"alice_correct": 50, "erin_causal_mask": 41}


def test_precheck_with_the_process_backend(tmp_path: Path) -> None:
    folder = tmp_path / "alice"
    shutil.copytree(EXAMPLES / "alice_correct", folder)
    sandbox = get_sandbox("process")
    assert not sandbox.isolates
    result = run_precheck(get_assignment("bert_pretrain"), folder, tmp_path / "s", sandbox,
                          profile="small")  # alice trained in small
    ran = [c for c in result.checks if c.status != CheckStatus.SKIPPED]
    assert ran and all(c.status == CheckStatus.PASSED for c in ran), [
        (c.id, c.message) for c in ran if c.status != CheckStatus.PASSED]
    assert result.check("info.own_training").status == CheckStatus.PASSED
