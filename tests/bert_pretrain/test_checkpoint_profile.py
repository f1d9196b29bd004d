"""A checkpoint trained in another profile gets a clear message, not a crash or a wrong loss."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from grader.cli import grade_main
from grader.results import SubmissionResult

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def test_small_checkpoint_graded_in_the_official_profile(tmp_path: Path) -> None:
    subs = tmp_path / "class"
    shutil.copytree(ROOT / "examples" / "bert_pretrain" / "alice_correct", subs / "alice")
    out = tmp_path / "out"
    assert grade_main([str(subs), "--profile", "official", "--jobs", "1", "--out", str(out)]) == 0
    result = SubmissionResult.model_validate_json((out / "results" / "alice.json").read_text())
    check = result.check("checkpoint.loss")
    assert check is not None and check.status == "failed"
    assert "'official' profile needs [3, 768]" in check.message or "official" in check.message
    assert "other sizes" in check.message
    assert result.score == 35  # everything but the training item
