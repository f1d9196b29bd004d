"""``summary.png``: two panels, the score histogram and the per-check pass rates (lowest first).

Drawn with matplotlib's Agg backend (no display needed); ``summary.md`` carries the same numbers.
Counts are integers on the axis and printed on each bar; check titles are wrapped at word
boundaries (never cut mid-word); the colours of the pass-rate bars have a legend.
"""

from __future__ import annotations

import io
import textwrap
from pathlib import Path

from grader.atomic import atomic_write_bytes
from grader.exporters.stats import ClassStats

MAX_CHECKS = 25  # bars in the pass-rate panel
LABEL_WIDTH = 34  # characters per line of a check title
RATE_COLOURS = (  # (lowest rate in %, colour, legend text), checked from the top
    (80.0, "#6acc65", "≥ 80 % pass"),
    (50.0, "#ee854a", "50–79 % pass"),
    (0.0, "#d65f5f", "< 50 % pass"),
)


def wrap_label(text: str, width: int = LABEL_WIDTH, lines: int = 2) -> str:
    """``text`` on at most ``lines`` lines of ``width``, broken between words (an ellipsis ends
    a title that still does not fit, after a whole word)."""
    return "\n".join(textwrap.wrap(text, width, max_lines=lines, placeholder=" …")) or text


def rate_colour(percent: float) -> str:
    """The bar colour of a pass rate (see :data:`RATE_COLOURS`)."""
    return next(c for low, c, _ in RATE_COLOURS if percent >= low)


def _matplotlib_png(stats: ClassStats, title: str) -> bytes:
    """The two-panel figure rendered by matplotlib (Agg backend, no display needed)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch
    from matplotlib.ticker import MaxNLocator

    rates = stats.check_rates[:MAX_CHECKS]
    fig = Figure(figsize=(13, max(4.5, 0.5 * len(rates) + 2.0)), dpi=100)
    left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.5]})
    counts = [b[2] for b in stats.histogram]
    bars = left.bar(
        [b[0] for b in stats.histogram],
        counts,
        width=[b[1] - b[0] for b in stats.histogram],
        align="edge",
        color="#4878cf",
        edgecolor="white",
    )
    left.bar_label(bars, labels=[str(c) if c else "" for c in counts], padding=2)
    left.yaxis.set_major_locator(MaxNLocator(integer=True))
    left.set_ylim(0, max(counts, default=0) + 1)
    left.set_title(f"Scores (n={stats.n}, mean {stats.mean:g}, median {stats.median:g})")
    left.set_xlabel(f"score out of {stats.max_score:g}")
    left.set_ylabel("students")
    values = [100 * c.rate for c in rates]
    hbars = right.barh(range(len(rates)), values, color=[rate_colour(v) for v in values])
    right.bar_label(
        hbars,
        labels=[f"{v:.0f}% ({c.passed}/{c.total})" for v, c in zip(values, rates)],
        padding=3,
        fontsize=8,
    )
    right.set_yticks(range(len(rates)), [wrap_label(c.title) for c in rates], fontsize=8)
    right.invert_yaxis()
    right.set_xlim(0, 118)  # room for the value labels right of a 100 % bar
    right.set_xticks(range(0, 101, 20))
    right.set_xlabel("% of submissions passing")
    right.set_title("Checks, lowest pass rate first")
    right.legend(
        handles=[Patch(color=c, label=text) for _, c, text in RATE_COLOURS],
        loc="upper center",
        bbox_to_anchor=(0.5, -0.08 - 1.2 / fig.get_figheight() / 2),
        ncol=len(RATE_COLOURS),
        fontsize=8,
        frameon=False,
    )
    fig.suptitle(title)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def write_charts(stats: ClassStats, path: Path, title: str = "") -> Path:
    """Write the two-panel PNG to ``path`` atomically and return the path."""
    atomic_write_bytes(path, _matplotlib_png(stats, title))
    return path
