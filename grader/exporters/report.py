"""``report.html``: the instructor's report, one static page that works offline from ``out/``.

Class numbers at the top (outcomes, a score histogram drawn as inline SVG, per-rubric-item and
per-check pass rates, the slowest submissions, integrity flags), then a class table whose rows
link to one section per student (feedback, every check with its message and time, timings,
warnings). No script, no external file: it opens from disk in any browser. Rendered from
``templates/report.html.j2`` with autoescaping, because names and messages come from students.
The page is for the instructor, so it shows hidden checks' messages too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.atomic import atomic_write_text
from grader.exporters.common import fmt_points, overall_text, safe_filename, status_word
from grader.exporters.jinja import html_env
from grader.exporters.stats import ClassStats, class_stats
from grader.results import CheckStatus, SubmissionResult

BAR_W, PLOT_H, PAD_L, PAD_B, PAD_T = 44, 180, 36, 34, 18  # histogram geometry (px)


@dataclass(frozen=True)
class ItemRate:
    """How the class did on one rubric item."""

    id: str
    title: str
    passed: int
    total: int
    mean: float
    max_points: float

    @property
    def rate(self) -> float:
        """Share of the submissions with this item that earned it."""
        return self.passed / self.total if self.total else 0.0


def item_rates(results: Sequence[SubmissionResult]) -> list[ItemRate]:
    """Per rubric item: how many passed it and the mean points, in rubric order."""
    acc: dict[str, list[Any]] = {}
    for r in results:
        for i in r.items:
            entry = acc.setdefault(i.id, [i.title, 0, 0, 0.0, i.max_points])
            entry[1] += int(i.passed)
            entry[2] += 1
            entry[3] += i.points
    return [
        ItemRate(iid, t, p, n, round(total / n, 2) if n else 0.0, mx)
        for iid, (t, p, n, total, mx) in acc.items()
    ]


def histogram_svg(stats: ClassStats) -> dict[str, Any]:
    """Bars, integer y ticks and labels of the score histogram, in SVG coordinates."""
    top = max((b[2] for b in stats.histogram), default=0)
    ymax = max(1, top)
    step = max(1, -(-ymax // 5))  # at most ~5 integer ticks
    ymax = -(-ymax // step) * step
    bars = []
    for n, (low, high, count) in enumerate(stats.histogram):
        h = PLOT_H * count / ymax
        bars.append(
            {
                "x": PAD_L + n * BAR_W + 2,
                "y": PAD_T + PLOT_H - h,
                "w": BAR_W - 4,
                "h": h,
                "count": count,
                "label": f"{low:g}–{high:g}",
            }
        )
    ticks = [{"y": PAD_T + PLOT_H - PLOT_H * v / ymax, "v": v} for v in range(0, ymax + 1, step)]
    return {
        "bars": bars,
        "ticks": ticks,
        "width": PAD_L + BAR_W * len(bars) + 10,
        "height": PAD_T + PLOT_H + PAD_B,
        "base": PAD_T + PLOT_H,
        "left": PAD_L,
    }


def student_anchor(student: str) -> str:
    """The id of a student's section (a safe file name is also a safe HTML id)."""
    return "s-" + safe_filename(student)


def report_context(results: Sequence[SubmissionResult]) -> dict[str, Any]:
    """Everything the report template shows."""
    ordered = sorted(results, key=lambda r: r.student)
    stats = class_stats(ordered)
    students = [
        {
            "r": r,
            "anchor": student_anchor(r.student),
            "feedback": f"results/{safe_filename(r.student)}/feedback.md",
            "overall": overall_text(r),
            "checks": [
                {
                    "c": c,
                    "words": status_word(c),
                    "ok": c.status == CheckStatus.PASSED,
                    "items": [i.title for i in r.items if c.id in i.checks],
                }
                for c in r.checks
            ],
        }
        for r in ordered
    ]
    return {
        "assignment": ordered[0].assignment if ordered else "assignment",
        "stats": stats,
        "items": item_rates(ordered),
        "hist": histogram_svg(stats),
        "students": students,
        "anchors": {r.student: student_anchor(r.student) for r in ordered},
        "points": fmt_points,
    }


def render_report(results: Sequence[SubmissionResult]) -> str:
    """The report page as HTML text."""
    return html_env().get_template("report.html.j2").render(report_context(results))


def write_report(results: Sequence[SubmissionResult], out_dir: Path) -> Path:
    """Write ``out_dir/report.html`` atomically and return its path."""
    path = Path(out_dir) / "report.html"
    atomic_write_text(path, render_report(results))
    return path
