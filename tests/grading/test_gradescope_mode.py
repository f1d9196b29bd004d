"""Gradescope mode: `nlpgrade-gradescope` grades /autograder/submission and writes a valid
results.json; the autograder zip carries setup.sh, run_autograder and the grader's source."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from grader.exporters import validate_gradescope
from grader.gradescope_autograder import build_autograder_zip

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_run_autograder_writes_results_json(tmp_path: Path) -> None:
    root = tmp_path / "autograder"
    shutil.copytree(ROOT / "examples" / "bert_pretrain" / "dave_no_tying", root / "submission")
    env = {**os.environ, "NLPGRADE_GRADESCOPE_ROOT": str(root)}
    proc = subprocess.run([sys.executable, "-c", "from grader.gradescope_autograder import "
                           "run_autograder; raise SystemExit(run_autograder())",
                           "--profile", "small"], env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads((root / "results" / "results.json").read_text())
    assert validate_gradescope(doc) == []
    assert doc["score"] == 46
    tying = [t for t in doc["tests"] if "tied" in t["name"]]
    assert tying and tying[0]["score"] == 0 and "same tensor" in tying[0]["output"]


def test_autograder_zip_layout(tmp_path: Path) -> None:
    dest = build_autograder_zip(tmp_path / "autograder.zip", profile="official")
    with zipfile.ZipFile(dest) as zf:
        names = set(zf.namelist())
        run = zf.read("run_autograder").decode()
    assert {"setup.sh", "run_autograder", "source/pyproject.toml",
            "source/rubrics/bert_pretrain.toml", "source/reference/bert_pretrain/model.py",
            "source/grader/cli.py"} <= names
    assert "--profile official" in run and "nlpgrade-gradescope" in run
    assert not any("__pycache__" in n for n in names)


@pytest.mark.slow
def test_self_test_cli_passes_and_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from grader import selftest
    from grader.cli import grade_main

    args = ["--self-test", "--assignment", "bert_pretrain", "--out", str(tmp_path), "--only",
            "reference", "no_tying", "template"]
    assert grade_main(args) == 0
    real = selftest.load_zoo

    def wrong(name: str, root: Path = ROOT) -> selftest.Zoo:
        zoo = real(name, root)
        zoo.cases["no_tying"].score = 50.0  # a wrong expectation must fail the self-test
        return zoo

    monkeypatch.setattr(selftest, "load_zoo", wrong)
    assert grade_main(args) == 1
