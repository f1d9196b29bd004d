"""Class statistics shared by the summary page, the charts and the terminal table."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from grader.exporters.common import num
from grader.results import (
    NOT_GRADED_WORDS,
    Band,
    CheckStatus,
    SubmissionResult,
    SubmissionStatus,
)

BINS = 10
TALLY_ORDER = (
    "full marks",
    "partial credit",
    "zero",
    "no submission",
    "invalid upload",
    "grader error",
)


def tally_key(result: SubmissionResult) -> str:
    """The one counter a row adds to: its band when it has a score, else why it has none."""
    if result.band == Band.NOT_GRADED:
        return NOT_GRADED_WORDS.get(result.status.value, result.status.value)
    return result.band.value.replace("_", " ")


def tally(results: Sequence[SubmissionResult]) -> dict[str, int]:
    """Rows per :func:`tally_key` (each row counted once, so the counts sum to the class size),
    then ``could not finish``: how many of the scored rows had checks that crashed or timed out.
    """
    counts = Counter(tally_key(r) for r in results)
    out = {k: counts[k] for k in TALLY_ORDER if counts[k]}
    incomplete = sum(r.status == SubmissionStatus.INCOMPLETE for r in results)
    if incomplete:
        out["could not finish"] = incomplete
    return out


@dataclass(frozen=True)
class CheckRate:
    """How the class did on one check."""

    id: str
    title: str
    passed: int
    failed: int  # ran and gave a wrong answer
    not_run: int  # todo, error, timeout, oom or skipped
    total: int

    @property
    def rate(self) -> float:
        """Share of the submissions that have this check and passed it."""
        return self.passed / self.total if self.total else 0.0


@dataclass
class ClassStats:
    """Everything the summary reports about one class."""

    n: int
    max_score: float
    scores: list[float]
    mean: float
    median: float
    status_counts: dict[str, int]
    tally: dict[str, int]  # see :func:`tally`
    histogram: list[tuple[float, float, int]]  # (low, high, count)
    check_rates: list[CheckRate]  # lowest pass rate first
    item_means: list[tuple[str, str, float, float]]  # id, title, mean points, max points
    slowest: list[tuple[str, float, str]]  # student, seconds, outcome
    flagged: list[tuple[str, list[str]]] = field(default_factory=list)


def _histogram(scores: list[float], top: float) -> list[tuple[float, float, int]]:
    """Counts of scores in BINS equal bins over [0, top] (the last bin includes ``top``)."""
    top = top if top > 0 else max(scores, default=1.0) or 1.0
    width = top / BINS
    counts = [0] * BINS
    for s in scores:
        counts[min(BINS - 1, max(0, int(s / width)))] += 1
    return [(num(i * width, 2), num((i + 1) * width, 2), c) for i, c in enumerate(counts)]


def _check_rates(results: Sequence[SubmissionResult]) -> list[CheckRate]:
    """Per-check pass rates over the submissions that have the check, lowest first."""
    titles: dict[str, str] = {}
    tally: dict[str, Counter[str]] = {}
    for r in results:
        for c in r.checks:
            titles.setdefault(c.id, c.title)
            kind = {CheckStatus.PASSED: "passed", CheckStatus.FAILED: "failed"}.get(
                c.status, "not_run"
            )
            tally.setdefault(c.id, Counter())[kind] += 1
    rates = [
        CheckRate(cid, titles[cid], t["passed"], t["failed"], t["not_run"], sum(t.values()))
        for cid, t in tally.items()
    ]
    return sorted(rates, key=lambda c: (c.rate, c.id))


def _item_means(results: Sequence[SubmissionResult]) -> list[tuple[str, str, float, float]]:
    """Mean points per rubric item, in first-seen order."""
    acc: dict[str, list] = {}
    for r in results:
        for i in r.items:
            entry = acc.setdefault(i.id, [i.title, 0.0, 0, i.max_points])
            entry[1] += i.points
            entry[2] += 1
    return [(iid, t, num(total / n, 2), mx) for iid, (t, total, n, mx) in acc.items()]


def class_stats(results: Sequence[SubmissionResult], slowest: int = 5) -> ClassStats:
    """Compute the class statistics (deterministic: ties broken by student id)."""
    ordered = sorted(results, key=lambda r: r.student)
    scores = [num(r.score) for r in ordered]
    top = max((r.max_score for r in ordered), default=0.0)
    counts = Counter(r.status.value for r in ordered)
    status_counts = {s.value: counts[s.value] for s in SubmissionStatus if counts[s.value]}
    slow = sorted(ordered, key=lambda r: (-r.timings.total_s, r.student))[:slowest]
    return ClassStats(
        n=len(ordered),
        max_score=num(top),
        scores=scores,
        mean=num(statistics.fmean(scores), 2) if scores else 0.0,
        median=num(statistics.median(scores), 2) if scores else 0.0,
        status_counts=status_counts,
        tally=tally(ordered),
        histogram=_histogram(scores, top),
        check_rates=_check_rates(ordered),
        item_means=_item_means(ordered),
        slowest=[(r.student, num(r.timings.total_s, 1), r.outcome) for r in slow],
        flagged=[(r.student, list(r.integrity_flags)) for r in ordered if r.integrity_flags],
    )
