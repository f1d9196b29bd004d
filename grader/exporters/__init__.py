"""Exporters: every file ``grade`` writes, each from the one :class:`SubmissionResult` model.

Per student (written as each submission finishes, by :func:`write_one`):
``results/<student>.json`` (full model), ``results/<student>/results.json`` (Gradescope) and
``results/<student>/feedback.md``. For the class (:func:`export_all`): ``grades.csv``,
``grades_canvas.csv``, ``summary.md``, ``summary.png`` and ``report.html`` (the instructor's
report, one static page). Every file is written atomically.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from grader.atomic import atomic_write_text
from grader.exporters.canvas import write_canvas_csv
from grader.exporters.common import safe_filename
from grader.exporters.feedback import to_feedback_markdown
from grader.exporters.gradebook import write_gradebook_csv
from grader.exporters.gradescope import to_gradescope, validate_gradescope, write_gradescope_json
from grader.exporters.json_result import write_result_json
from grader.exporters.report import render_report, write_report
from grader.exporters.roster import RosterError, RosterStudent, load_roster, match_roster
from grader.exporters.summary import write_summary
from grader.exporters.terminal import print_class_table
from grader.results import SubmissionResult

__all__ = [
    "RosterError",
    "export_all",
    "load_roster",
    "match_roster",
    "print_class_table",
    "render_report",
    "to_feedback_markdown",
    "to_gradescope",
    "validate_gradescope",
    "write_canvas_csv",
    "write_gradebook_csv",
    "write_gradescope_json",
    "write_one",
    "write_report",
    "write_result_json",
    "write_summary",
]


def write_one(result: SubmissionResult, out_dir: Path) -> dict[str, Path]:
    """Write one student's files under ``out_dir/results/``; keys json, gradescope, feedback."""
    results_dir = Path(out_dir) / "results"
    name = safe_filename(result.student)
    paths = {
        "json": results_dir / f"{name}.json",
        "gradescope": results_dir / name / "results.json",
        "feedback": results_dir / name / "feedback.md",
    }
    write_result_json(result, paths["json"])
    write_gradescope_json(result, paths["gradescope"])
    atomic_write_text(paths["feedback"], to_feedback_markdown(result))
    return paths


def export_all(
    results: Sequence[SubmissionResult],
    out_dir: Path,
    console: Console | None = None,
    *,
    roster: Sequence[RosterStudent] | None = None,
) -> dict[str, Path]:
    """Write every per-student and class file into ``out_dir``; returns file name -> path.

    Keys: ``results`` (the per-student folder), ``grades.csv``, ``grades_canvas.csv``,
    ``summary.md``, ``summary.png``, ``report.html``. With a ``console``, ends by printing the
    class table. With a ``roster`` (a Canvas gradebook export, :func:`load_roster`), students are
    matched to it for ``grades_canvas.csv`` and every mismatch is printed as a warning.
    """
    out_dir = Path(out_dir)
    for result in results:
        write_one(result, out_dir)
    paths: dict[str, Path] = {"results": out_dir / "results"}
    paths["grades.csv"] = out_dir / "grades.csv"
    write_gradebook_csv(results, paths["grades.csv"])
    paths["grades_canvas.csv"] = out_dir / "grades_canvas.csv"
    identities: dict[str, dict[str, str]] = {}
    if roster is not None:
        matched = match_roster(results, roster)
        identities = matched.identities
        if console is not None:
            for line in matched.warnings():
                console.print(f"[yellow]warning:[/] {escape(line)}")
            console.print(
                f"roster: {len(matched.identities)} of {len(results)} submission(s) matched "
                f"to {len(roster)} roster student(s)"
            )
    write_canvas_csv(results, paths["grades_canvas.csv"], identities=identities)
    for path in write_summary(results, out_dir):
        paths[path.name] = path
    paths["report.html"] = write_report(results, out_dir)
    if console is not None:
        print_class_table(console, results, paths)
    return paths
