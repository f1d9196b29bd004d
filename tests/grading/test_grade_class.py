"""`grade` over a whole class: every layout and bad input gets a row, reports are written, a rerun
is served from the cache, a killed run resumes, and grades are identical at --jobs 1 and 2."""

from __future__ import annotations

import csv
import json
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from grader.cli import grade_main
from grader.exporters import validate_gradescope
from grader.results import SubmissionResult

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "bert_pretrain"
ZOO = ROOT / "tests" / "zoo" / "bert_pretrain"
NOT_FULLY_GRADED = 1  # grade's exit code: carol (syntax error), ghost (empty), mallory (unsafe zip)


def _copy(src: Path, dest: Path) -> None:
    shutil.copytree(src, dest)


def build_class(root: Path) -> Path:
    """A small class in mixed layouts with broken uploads among them."""
    subs = root / "class"
    subs.mkdir()
    _copy(EXAMPLES / "alice_correct", subs / "alice")  # folder per student
    _copy(EXAMPLES / "carol_syntax_error", subs / "carol")
    with zipfile.ZipFile(subs / "dave.zip", "w") as zf:  # zip per student
        for f in (EXAMPLES / "dave_no_tying").iterdir():
            zf.write(f, f"dave_no_tying/{f.name}")
    for f in (EXAMPLES / "erin_causal_mask").iterdir():  # Canvas bulk download
        shutil.copy2(f, subs / f"erinsmith_4711_99001_{f.name}")
    (subs / "ghost").mkdir()  # an empty folder
    with zipfile.ZipFile(subs / "mallory.zip", "w") as zf:  # a zip that escapes
        zf.writestr("../../evil.py", "print('escaped')\n")
        zf.writestr("model.py", "x = 1\n")
    return subs


def _grades(out: Path) -> dict[str, SubmissionResult]:
    return {p.stem: SubmissionResult.model_validate_json(p.read_text())
            for p in sorted((out / "results").glob("*.json"))}


def _verdicts(results: dict[str, SubmissionResult]) -> dict[str, object]:
    """What must be identical between runs: scores, statuses and every message."""
    return {name: (r.score, r.status, r.submission_hash,
                   [(c.id, c.status, c.score, c.message, c.details) for c in r.checks],
                   [(i.id, i.points) for i in r.items])
            for name, r in results.items()}


@pytest.fixture(scope="module")
def klass(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("grade")
    subs = build_class(root)
    out = root / "out-j2"
    rc = grade_main([str(subs), "--profile", "small", "--jobs", "2", "--out", str(out)])
    assert rc == NOT_FULLY_GRADED
    return subs, out


def test_every_submission_gets_a_row(klass: tuple[Path, Path]) -> None:
    _, out = klass
    results = _grades(out)
    assert set(results) == {"alice", "carol", "dave", "erinsmith", "ghost", "mallory"}
    assert results["alice"].score == 50
    assert results["dave"].score == 46
    assert results["erinsmith"].score == 41
    assert results["carol"].score == 0
    assert "does not parse" in results["carol"].check("model.imports").message
    assert results["ghost"].status == "no_submission"
    assert results["mallory"].status == "invalid" and ".." in results["mallory"].message
    assert not (out.parent / "evil.py").exists() and not (out / "evil.py").exists()


def test_one_sandboxed_worker_per_submission(klass: tuple[Path, Path]) -> None:
    """Model probes, the loop (through its view) and training share one torch import."""
    _, out = klass
    results = _grades(out)
    starts = {name: r.timings.worker_starts for name, r in results.items()}
    assert {starts[n] for n in ("alice", "dave", "erinsmith")} == {1}, starts
    assert starts["ghost"] == starts["mallory"] == 0, starts


def test_reports_are_written(klass: tuple[Path, Path]) -> None:
    _, out = klass
    for name in ("grades.csv", "grades_canvas.csv", "summary.md", "summary.png"):
        assert (out / name).is_file(), name
    rows = list(csv.DictReader((out / "grades.csv").open()))
    assert {r["student"] for r in rows} == set(_grades(out))
    for student in _grades(out):
        doc = json.loads((out / "results" / student / "results.json").read_text())
        assert validate_gradescope(doc) == [], student
        assert "Score" in (out / "results" / student / "feedback.md").read_text()
    canvas = (out / "grades_canvas.csv").read_text()
    assert "4711" in canvas  # the Canvas user id of erinsmith


def test_json_summary_on_stdout(klass: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
                                ) -> None:
    subs, out = klass
    capsys.readouterr()
    rc = grade_main([str(subs), "--profile", "small", "--out", str(out), "--json", "-q"])
    doc = json.loads(capsys.readouterr().out)  # stdout holds the JSON document and nothing else
    assert rc == doc["exit_code"] == NOT_FULLY_GRADED
    rows = {r["student"]: r for r in doc["rows"]}
    assert set(rows) == {"alice", "carol", "dave", "erinsmith", "ghost", "mallory"}
    assert rows["alice"]["status"] == "graded" and rows["alice"]["score"] == 50
    assert rows["ghost"]["status"] == "no_submission" and rows["mallory"]["status"] == "invalid"
    assert sum(doc["counts"].values()) == doc["submissions"] == 6


def test_rerun_is_served_from_the_cache(klass: tuple[Path, Path]) -> None:
    subs, out = klass
    before = {n: r.graded_at for n, r in _grades(out).items()}
    rc = grade_main([str(subs), "--profile", "small", "--jobs", "2", "--out", str(out)])
    assert rc == NOT_FULLY_GRADED
    after = {n: r.graded_at for n, r in _grades(out).items()}
    graded = [n for n in before if before[n] is not None and n not in ("ghost", "mallory")]
    assert all(after[n] == before[n] for n in graded)


def test_a_changed_submission_is_regraded(klass: tuple[Path, Path], tmp_path: Path) -> None:
    subs, out = klass
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    before = _grades(copy)
    model = subs / "alice" / "model.py"
    original = model.read_text()
    try:
        model.write_text(original + "\n# a comment changes the hash\n")
        assert grade_main([str(subs), "--profile", "small", "--jobs", "2", "--out",
                           str(copy), "--only", "alice", "dave"]) == 0
    finally:
        model.write_text(original)
    after = _grades(copy)
    assert after["alice"].graded_at != before["alice"].graded_at
    assert after["alice"].score == 50
    assert after["dave"].graded_at == before["dave"].graded_at


def test_same_grades_at_one_and_two_jobs(klass: tuple[Path, Path], tmp_path: Path) -> None:
    subs, out = klass
    one = tmp_path / "out-j1"
    rc = grade_main([str(subs), "--profile", "small", "--jobs", "1", "--out", str(one)])
    assert rc == NOT_FULLY_GRADED
    assert _verdicts(_grades(one)) == _verdicts(_grades(out))


def test_kill_9_then_rerun_finishes_the_class(klass: tuple[Path, Path], tmp_path: Path) -> None:
    subs, _ = klass
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "grader.cli", str(subs), "--profile", "small", "--jobs", "1",
           "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            done = [p for p in (out / "results").glob("*.json")] if out.exists() else []
            if len(done) >= 2:
                break
            time.sleep(0.2)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    first = _grades(out)
    assert 2 <= len(first) < 6, "the run must be killed half-way"
    rc = grade_main([str(subs), "--profile", "small", "--jobs", "2", "--out", str(out)])
    assert rc == NOT_FULLY_GRADED
    second = _grades(out)
    assert set(second) == {"alice", "carol", "dave", "erinsmith", "ghost", "mallory"}
    for name, result in first.items():
        if result.graded_at is not None and result.status not in ("no_submission", "invalid"):
            assert second[name].graded_at == result.graded_at, f"{name} was regraded"
