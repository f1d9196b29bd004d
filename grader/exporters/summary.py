"""``summary.md`` (+ ``summary.png``): the class at a glance, for the instructor.

Class size, mean/median and a histogram of scores, status counts, per-check pass rates sorted
ascending (the concept the class missed comes first), mean points per rubric item, the slowest
submissions, and the integrity flags raised.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from grader.atomic import atomic_write_text
from grader.exporters.charts import write_charts
from grader.exporters.common import fmt_points
from grader.exporters.stats import ClassStats, class_stats
from grader.results import SubmissionResult

BAR = "█"


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def summary_markdown(stats: ClassStats, assignment: str, png_name: str | None = None) -> str:
    """The summary page as Markdown."""
    lines = [f"# {assignment}: class summary", ""]
    counts = ", ".join(f"{k} {v}" for k, v in stats.tally.items())
    lines += [
        f"- Class size: **{stats.n}** ({counts or 'none'})",
        f"- Score: mean **{stats.mean:g}**, median **{stats.median:g}** out of "
        f"{stats.max_score:g}"
        + (f" (min {min(stats.scores):g}, max {max(stats.scores):g})" if stats.scores else ""),
        "",
    ]
    if png_name:
        lines += [f"![Scores and pass rates]({png_name})", ""]
    top = max((b[2] for b in stats.histogram), default=0) or 1
    lines += ["## Scores", "", "| Range | Students | |", "|---|---:|---|"]
    for low, high, count in stats.histogram:
        lines.append(f"| {low:g}–{high:g} | {count} | {BAR * round(20 * count / top)} |")
    lines += [
        "",
        "## Checks, lowest pass rate first",
        "",
        "| Check | Pass rate | Passed | Wrong answer | Could not run |",
        "|---|---:|---:|---:|---:|",
    ]
    for c in stats.check_rates:
        lines.append(
            f"| {_cell(c.title)} (`{c.id}`) | {100 * c.rate:.0f}% | {c.passed}/{c.total} "
            f"| {c.failed} | {c.not_run} |"
        )
    if stats.item_means:
        lines += ["", "## Rubric items", "", "| Item | Mean points |", "|---|---:|"]
        lines += [
            f"| {_cell(title)} (`{iid}`) | {fmt_points(mean)} / {fmt_points(mx)} |"
            for iid, title, mean, mx in stats.item_means
        ]
    if stats.slowest:
        lines += [
            "",
            "## Slowest submissions",
            "",
            "| Student | Seconds | Outcome |",
            "|---|---:|---|",
        ]
        lines += [f"| {_cell(s)} | {sec:g} | {status} |" for s, sec, status in stats.slowest]
    if stats.flagged:
        lines += ["", "## Integrity flags (instructor only)", ""]
        lines += [f"- **{_cell(s)}**: {_cell('; '.join(flags))}" for s, flags in stats.flagged]
    return "\n".join(lines) + "\n"


def write_summary(results: Sequence[SubmissionResult], out_dir: Path) -> list[Path]:
    """Write ``summary.md`` and ``summary.png`` into ``out_dir``; returns the paths written."""
    out_dir = Path(out_dir)
    stats = class_stats(results)
    assignment = results[0].assignment if results else "assignment"
    png = write_charts(stats, out_dir / "summary.png", title=f"{assignment}: class summary")
    md = out_dir / "summary.md"
    atomic_write_text(md, summary_markdown(stats, assignment, png.name))
    return [md, png]
