"""Atomic writes, the per-student bundle, the summary and the terminal table."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from rich.console import Console

from grader import atomic
from grader.atomic import atomic_write_bytes, atomic_write_text
from grader.exporters import export_all, print_class_table, write_one, write_summary
from grader.exporters.common import safe_filename
from grader.exporters.stats import class_stats
from grader.results import SubmissionResult

from .conftest import SECRET


def test_atomic_write_replaces_whole_file(tmp_path):
    path = tmp_path / "deep" / "f.txt"
    atomic_write_text(path, "old")
    atomic_write_text(path, "new ✓")
    assert path.read_text("utf-8") == "new ✓"
    assert os.listdir(path.parent) == ["f.txt"]


def test_failed_write_leaves_old_file_and_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "f.bin"
    atomic_write_bytes(path, b"complete")

    def boom(fd: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(atomic.os, "fsync", boom)
    with pytest.raises(OSError):
        atomic_write_bytes(path, b"partial data")
    assert path.read_bytes() == b"complete"
    assert os.listdir(tmp_path) == ["f.bin"]


def test_interrupted_write_leaves_no_partial_file(tmp_path, monkeypatch):
    path = tmp_path / "new.json"

    def interrupted(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(atomic.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_text(path, "{}")
    assert os.listdir(tmp_path) == []


def test_write_one(result, tmp_path):
    paths = write_one(result, tmp_path)
    assert paths["json"] == tmp_path / "results" / "alice.json"
    again = SubmissionResult.model_validate_json(paths["json"].read_text())
    assert again == result
    gs = json.loads(paths["gradescope"].read_text())
    assert gs["score"] == result.score
    assert SECRET not in paths["feedback"].read_text()


def test_unsafe_student_ids_stay_inside_results(tmp_path):
    for sid in ("../../etc/passwd", "..", "a/b", "", ".hidden"):
        name = safe_filename(sid)
        assert "/" not in name and name not in ("", ".", "..") and not name.startswith(".")
    r = SubmissionResult(student="../evil", assignment="a", profile="p", status="graded")
    paths = write_one(r, tmp_path / "out")
    for p in paths.values():
        assert (tmp_path / "out" / "results") in p.parents


def test_summary_sorts_checks_ascending(klass, tmp_path):
    written = write_summary(klass, tmp_path)
    assert [p.name for p in written] == ["summary.md", "summary.png"]
    md = (tmp_path / "summary.md").read_text()
    assert "Class size: **5**" in md and "partial credit 3" in md and "could not finish 1" in md
    table = md.split("## Checks, lowest pass rate first")[1].split("##")[0]
    order = [line.split("(`")[1].split("`")[0] for line in table.splitlines() if "(`" in line]
    assert order == ["ref_loss", "ref_mlm", "shapes", "tied"]
    stats = class_stats(klass)
    assert [round(c.rate, 2) for c in stats.check_rates] == [0.33, 0.33, 0.67, 0.67]
    assert stats.slowest[0] == ("bob", 12.5, "partial credit")
    assert "## Slowest submissions" in md and "| bob | 12.5 | partial credit |" in md
    assert "Integrity flags (instructor only)" in md
    assert (tmp_path / "summary.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_empty_class(tmp_path):
    paths = export_all([], tmp_path)
    assert paths["grades.csv"].read_text().startswith("student,score")
    assert "Class size: **0**" in paths["summary.md"].read_text()


def test_export_all_and_table(klass, tmp_path):
    console = Console(record=True, width=160)
    paths = export_all(klass, tmp_path / "out", console=console)
    assert set(paths) == {
        "results",
        "grades.csv",
        "grades_canvas.csv",
        "summary.md",
        "summary.png",
        "report.html",
    }
    for r in klass:
        assert (tmp_path / "out" / "results" / f"{r.student}.json").is_file()
        assert (tmp_path / "out" / "results" / r.student / "feedback.md").is_file()
    text = console.export_text()
    assert "alice" in text and "no submission" in text and "grades.csv" in text
    leftovers = [p for p in Path(tmp_path / "out").rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []


def test_print_class_table_escapes_markup(tmp_path):
    r = SubmissionResult(
        student="[bold]x", assignment="a", profile="p", status="invalid", message="[red]boom[/red]"
    )
    console = Console(record=True, width=120)
    print_class_table(console, [r], {"grades.csv": tmp_path / "g.csv"})
    assert "[red]boom[/red]" in console.export_text()
