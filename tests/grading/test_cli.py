"""The command line as a user meets it: versions, help, exit codes, logging, ``python -m``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from grader import __version__, versions
from grader.cli import grade_main, grade_parser, precheck_parser
from grader.results import SubmissionResult, SubmissionStatus
from grader.run_summary import EXIT_USAGE, exit_code

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "COLUMNS": "200"})


def test_python_m_grader_and_versions_without_torch() -> None:
    code = ("import sys, runpy; sys.argv = ['grader', 'precheck', '--version']\n"
            "try: runpy.run_module('grader', run_name='__main__')\n"
            "except SystemExit: pass\n"
            "print('torch loaded' if 'torch' in sys.modules else 'torch not loaded')")
    proc = _run("-c", code)
    assert proc.returncode == 0, proc.stderr
    assert f"nlpgrade {__version__}" in proc.stdout
    assert "torch not loaded" in proc.stdout  # --version works where torch is absent
    for cmd in (["-m", "grader", "--version"], ["-m", "grader", "grade", "--version"]):
        proc = _run(*cmd)
        assert proc.returncode == 0 and f"nlpgrade {__version__}" in proc.stdout, proc.stderr


def test_help_shows_defaults_and_sandbox_meaning() -> None:
    grade_help = grade_parser().format_help()
    assert "default: grading-out" in grade_help
    assert "NO isolation" in grade_help and "bubblewrap" in grade_help
    assert "Exit codes: 0" in grade_help
    pre_help = precheck_parser().format_help()
    assert "NO isolation" in pre_help and "--verbose" in pre_help and "--version" in pre_help


def test_usage_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert grade_main([str(tmp_path / "missing")]) == EXIT_USAGE
    bad = tmp_path / "bad.toml"
    bad.write_text("[[items]]\nid = 'x'\npoints = 'many'\n")
    (tmp_path / "subs").mkdir()
    assert grade_main([str(tmp_path / "subs"), "--rubric", str(bad)]) == EXIT_USAGE
    assert "bad.toml" in capsys.readouterr().out
    assert grade_main([str(tmp_path / "subs"), "--assignment", "no_such_thing"]) == EXIT_USAGE
    with pytest.raises(SystemExit) as exc:
        grade_main(["--sandbox", "nonsense", str(tmp_path)])
    assert exc.value.code == EXIT_USAGE


def test_json_summary_of_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    assert grade_main([str(tmp_path / "missing"), "--json"]) == EXIT_USAGE
    doc = json.loads(capsys.readouterr().out)
    assert doc["exit_code"] == EXIT_USAGE and "not a folder" in doc["error"]


def _row(status: SubmissionStatus) -> SubmissionResult:
    return SubmissionResult(student="s", assignment="a", profile="small", status=status)


def test_exit_code_by_row_status() -> None:
    assert exit_code([_row(SubmissionStatus.GRADED)] * 2) == 0
    assert exit_code([]) == 0
    for status in (SubmissionStatus.INCOMPLETE, SubmissionStatus.INVALID,
                   SubmissionStatus.NO_SUBMISSION):
        assert exit_code([_row(SubmissionStatus.GRADED), _row(status)]) == 1
    assert exit_code([_row(SubmissionStatus.INCOMPLETE), _row(SubmissionStatus.GRADER_ERROR)]) == 3


def test_version_drift_notes() -> None:
    have = versions.installed("torch")
    assert have is not None
    assert versions.grading_pins()["torch"] == "2.13.0"  # read from constraints/grading.txt
    assert versions.verdict_drift({"torch": have}) == []
    assert versions.verdict_drift({"torch": have.split("+")[0].rsplit(".", 1)[0] + ".99"}) == []
    (note,) = versions.verdict_drift({"torch": "1.13.1"})
    assert "torch 1.13.1" in note and f"torch {have}" in note
    assert versions.pin_drift(("torch",), {"torch": "1.13.1"}) == [
        f"torch {have} (grading pin 1.13.1)"
    ]


@pytest.mark.slow
def test_precheck_explains_the_process_backend_once(tmp_path: Path) -> None:
    folder = tmp_path / "work"
    import shutil

    shutil.copytree(ROOT / "student_template" / "bert_pretrain", folder)
    proc = _run("-m", "grader", "precheck", str(folder), "--sandbox", "process", "--no-train")
    text = proc.stdout + proc.stderr
    assert proc.returncode == 1, text
    assert text.count("without a sandbox") == 1, text
    assert "no isolation" not in text  # the backend's own warnings are folded into that note


def test_profiles_and_tiers_come_from_the_plug_in(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "subs").mkdir()
    subs = str(tmp_path / "subs")
    assert grade_main([subs, "--assignment", "bert_pretrain", "--profile", "huge"]) == EXIT_USAGE
    out = capsys.readouterr().out
    assert "'huge'" in out and "official, small" in out
    assert grade_main([subs, "--assignment", "mlm_step", "--profile", "small"]) == EXIT_USAGE
    assert "mlm_step offers no profiles" in capsys.readouterr().out
    assert grade_main([subs, "--assignment", "mlm_step", "--tier", "quality"]) == EXIT_USAGE
    assert "no such opt-in tier" in capsys.readouterr().out
    monkeypatch.setenv("NLPGRADE_ASSIGNMENT", "mlm_step")  # the default comes from the plug-ins
    assert grade_main([subs, "--profile", "official"]) == EXIT_USAGE
    assert "mlm_step offers no profiles" in capsys.readouterr().out
    monkeypatch.delenv("NLPGRADE_ASSIGNMENT")
    from grader.assignments import all_assignments, default_assignment

    assert default_assignment() == next(a.name for a in all_assignments().values()
                                        if a.default_choice)
