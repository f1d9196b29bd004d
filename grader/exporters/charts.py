"""``summary.png``: two panels, the score histogram and the per-check pass rates (lowest first).

Drawn with matplotlib's Agg backend (no display needed); ``summary.md`` carries the same numbers.
"""

from __future__ import annotations

import io
from pathlib import Path

from grader.atomic import atomic_write_bytes
from grader.exporters.stats import ClassStats

MAX_CHECKS = 25  # bars in the pass-rate panel


def _matplotlib_png(stats: ClassStats, title: str) -> bytes:
    """The two-panel figure rendered by matplotlib (Agg backend, no display needed)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure

    rates = stats.check_rates[:MAX_CHECKS]
    fig = Figure(figsize=(12, max(4.0, 0.3 * len(rates) + 1.5)), dpi=100)
    left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.4]})
    lows = [b[0] for b in stats.histogram]
    widths = [b[1] - b[0] for b in stats.histogram]
    left.bar(
        lows,
        [b[2] for b in stats.histogram],
        width=widths,
        align="edge",
        color="#4878cf",
        edgecolor="white",
    )
    left.set_title(f"Scores (n={stats.n}, mean {stats.mean:g}, median {stats.median:g})")
    left.set_xlabel(f"score out of {stats.max_score:g}")
    left.set_ylabel("students")
    labels = [c.title[:40] for c in rates]
    values = [100 * c.rate for c in rates]
    colors = ["#d65f5f" if v < 50 else "#ee854a" if v < 80 else "#6acc65" for v in values]
    right.barh(range(len(rates)), values, color=colors)
    right.set_yticks(range(len(rates)), labels, fontsize=8)
    right.invert_yaxis()
    right.set_xlim(0, 100)
    right.set_xlabel("% of submissions passing")
    right.set_title("Checks, lowest pass rate first")
    fig.suptitle(title)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def write_charts(stats: ClassStats, path: Path, title: str = "") -> Path:
    """Write the two-panel PNG to ``path`` atomically and return the path."""
    atomic_write_bytes(path, _matplotlib_png(stats, title))
    return path
