"""``grades.csv``: one row per student: score, status, message and points per rubric item."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

from grader.atomic import atomic_write_text
from grader.exporters.common import num, spreadsheet_text
from grader.results import SubmissionResult

# status: graded | incomplete | no_submission | invalid | grader_error (whether every check ran);
# outcome: the same in words with the score's band ("zero; could not finish (2 crashed)").
FIXED = ["student", "score", "max_score", "status", "outcome", "message"]
TRAILING = ["warnings", "integrity_flags", "source", "submission_hash"]


def item_columns(results: Sequence[SubmissionResult]) -> list[str]:
    """Rubric item ids in first-seen order across the class (the per-item columns)."""
    seen: dict[str, None] = {}
    for result in results:
        for item in result.items:
            seen.setdefault(item.id, None)
    return list(seen)


def gradebook_rows(results: Sequence[SubmissionResult]) -> tuple[list[str], list[list[object]]]:
    """The header and rows of the gradebook, students sorted by id."""
    items = item_columns(results)
    header = FIXED + [i if i not in FIXED + TRAILING else f"item:{i}" for i in items] + TRAILING
    rows: list[list[object]] = []
    for r in sorted(results, key=lambda r: r.student):
        points = {i.id: num(i.points) for i in r.items}
        rows.append(
            [
                spreadsheet_text(r.student),
                num(r.score),
                num(r.max_score),
                r.status.value,
                r.outcome,
                spreadsheet_text(r.message),
                *[points.get(i, "") for i in items],
                spreadsheet_text("; ".join(r.warnings)),
                spreadsheet_text("; ".join(r.integrity_flags)),
                spreadsheet_text(r.source),
                r.submission_hash,
            ]
        )
    return header, rows


def csv_text(header: list[str], rows: list[list[object]]) -> str:
    """Rows as CSV text (RFC 4180 quoting, ``\\n`` line ends)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def write_gradebook_csv(results: Sequence[SubmissionResult], path: Path) -> None:
    """Write ``grades.csv`` atomically: id, score, status, outcome, message, per-item points."""
    header, rows = gradebook_rows(results)
    atomic_write_text(path, csv_text(header, rows))
