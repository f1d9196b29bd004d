"""What ``grade`` exits with, and the ``--json`` summary it prints on stdout (for CI and scripts).

Exit codes (documented in the README):

* 0: every submission was graded completely (low scores included);
* 1: some rows are not fully graded: invalid upload, nothing submitted, or ``incomplete`` (a
  check crashed, timed out or ran out of memory); their rows and reports are still written;
* 2: usage or configuration error (bad arguments, missing folder, invalid rubric, the sandbox
  asked for is not available); nothing was graded;
* 3: the grader itself failed (a ``grader_error`` row, or an unexpected exception).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel

import grader
from grader.results import SubmissionResult, SubmissionStatus

EXIT_OK = 0
EXIT_NOT_FULLY_GRADED = 1
EXIT_USAGE = 2
EXIT_GRADER_FAILURE = 3
MEANING = {
    EXIT_OK: "every submission graded",
    EXIT_NOT_FULLY_GRADED: "some submissions not fully graded",
    EXIT_USAGE: "usage or configuration error",
    EXIT_GRADER_FAILURE: "grader failure",
}


def exit_code(results: Sequence[SubmissionResult]) -> int:
    """3 if the grader failed on any row, else 1 if any row is not fully graded, else 0."""
    statuses = {r.status for r in results}
    if SubmissionStatus.GRADER_ERROR in statuses:
        return EXIT_GRADER_FAILURE
    if statuses - {SubmissionStatus.GRADED}:
        return EXIT_NOT_FULLY_GRADED
    return EXIT_OK


class RowSummary(BaseModel):
    """One submission in the summary."""

    student: str
    status: str
    score: float
    max_score: float
    message: str = ""


class GradeSummary(BaseModel):
    """The ``grade --json`` document: counts, one row per submission, the exit code."""

    grader_version: str = grader.__version__
    exit_code: int
    exit_meaning: str
    assignment: str = ""
    out_dir: str = ""
    submissions: int = 0
    counts: dict[str, int] = {}
    mean_score: float | None = None
    max_score: float | None = None
    duration_s: float = 0.0
    rows: list[RowSummary] = []
    error: str = ""


def summarize(
    results: Sequence[SubmissionResult], assignment: str, out_dir: Path, duration_s: float
) -> GradeSummary:
    """The summary of a finished run."""
    code = exit_code(results)
    scores = [r.score for r in results]
    return GradeSummary(
        exit_code=code,
        exit_meaning=MEANING[code],
        assignment=assignment,
        out_dir=str(out_dir),
        submissions=len(results),
        counts=dict(Counter(r.status.value for r in results)),
        mean_score=round(sum(scores) / len(scores), 4) if scores else None,
        max_score=max((r.max_score for r in results), default=None),
        duration_s=round(duration_s, 3),
        rows=[
            RowSummary(
                student=r.student,
                status=r.status.value,
                score=r.score,
                max_score=r.max_score,
                message=r.message,
            )
            for r in results
        ],
    )


def failure(code: int, error: str, assignment: str = "") -> GradeSummary:
    """The summary of a run that stopped before grading (exit code 2 or 3)."""
    return GradeSummary(
        exit_code=code, exit_meaning=MEANING[code], assignment=assignment, error=error
    )
