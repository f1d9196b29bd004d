"""The rich table that ends ``grade``: one row per student, then where each output file is."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from grader.exporters.common import fmt_points
from grader.exporters.stats import class_stats
from grader.results import Band, SubmissionResult, SubmissionStatus

STYLES = {
    Band.FULL_MARKS: "green",
    Band.PARTIAL_CREDIT: "yellow",
    Band.ZERO: "red",
}
NOT_GRADED_STYLES = {SubmissionStatus.GRADER_ERROR: "bold red", SubmissionStatus.INVALID: "red"}


def print_class_table(
    console: Console, results: Sequence[SubmissionResult], paths: Mapping[str, Path]
) -> None:
    """Print the class table (student, outcome, score, message) and the path of each file."""
    stats = class_stats(results)
    table = Table(
        title=f"{results[0].assignment if results else 'assignment'}: {stats.n} "
        f"submissions, mean {stats.mean:g} / {stats.max_score:g}",
        caption=", ".join(f"{k} {v}" for k, v in stats.tally.items()),
    )
    table.add_column("Student", no_wrap=True)
    table.add_column("Outcome")
    table.add_column("Score", justify="right")
    table.add_column("Flags", justify="right")
    table.add_column("Message", overflow="fold")
    for r in sorted(results, key=lambda r: r.student):
        style = STYLES.get(r.band) or NOT_GRADED_STYLES.get(r.status, "dim")
        table.add_row(
            escape(r.student),
            f"[{style}]{escape(r.outcome)}[/]",
            f"{fmt_points(r.score)} / {fmt_points(r.max_score)}",
            str(len(r.integrity_flags)) if r.integrity_flags else "",
            escape(r.message[:160]),
        )
    console.print(table)
    for name, path in paths.items():
        console.print(f"  {escape(name)}: [cyan]{escape(str(path))}[/]")
