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
from grader.exporters.jinja import markdown_env
from grader.exporters.stats import ClassStats, class_stats
from grader.results import SubmissionResult

BAR = "█"


def summary_markdown(stats: ClassStats, assignment: str, png_name: str | None = None) -> str:
    """The summary page as Markdown (``templates/summary.md.j2``)."""
    page = markdown_env().get_template("summary.md.j2").render(
        stats=stats,
        assignment=assignment,
        png_name=png_name,
        counts=", ".join(f"{k} {v}" for k, v in stats.tally.items()),
        top=max((b[2] for b in stats.histogram), default=0) or 1,
        bar=BAR,
    )
    return page.rstrip("\n") + "\n"


def write_summary(results: Sequence[SubmissionResult], out_dir: Path) -> list[Path]:
    """Write ``summary.md`` and ``summary.png`` into ``out_dir``; returns the paths written."""
    out_dir = Path(out_dir)
    stats = class_stats(results)
    assignment = results[0].assignment if results else "assignment"
    png = write_charts(stats, out_dir / "summary.png", title=f"{assignment}: class summary")
    md = out_dir / "summary.md"
    atomic_write_text(md, summary_markdown(stats, assignment, png.name))
    return [md, png]
