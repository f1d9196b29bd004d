"""``grades_canvas.csv``: the gradebook in the shape Canvas's "Import" accepts.

Canvas matches rows by ``ID`` (its user id) or ``SIS User ID``/``SIS Login ID`` and the grade
column by ``<assignment name> (<assignment id>)``; without an assignment id Canvas offers to create
a new assignment column. The second row, ``Points Possible``, mirrors Canvas's own export.
Identities come from ``identities`` (student -> fields) or, for Canvas bulk downloads, from the
intake's ``source`` line (``canvas user <id>``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from grader.atomic import atomic_write_text
from grader.exporters.common import num, spreadsheet_text
from grader.exporters.gradebook import csv_text
from grader.results import SubmissionResult

HEADER = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
CANVAS_SOURCE = re.compile(r"canvas user (\d+)")


def _identity(
    result: SubmissionResult, identities: Mapping[str, Mapping[str, str]]
) -> dict[str, str]:
    """Name, Canvas id, SIS ids and section: the result's LMS identity, then ``identities``."""
    given = {**result.identity, **identities.get(result.student, {})}
    match = CANVAS_SOURCE.search(result.source)
    if match and "canvas_id" not in given:
        given["canvas_id"] = match.group(1)
    return given


def write_canvas_csv(
    results: Sequence[SubmissionResult],
    path: Path,
    *,
    assignment_name: str | None = None,
    assignment_id: str | int | None = None,
    identities: Mapping[str, Mapping[str, str]] | None = None,
) -> None:
    """Write a Canvas-importable grades CSV atomically.

    Columns: Student, ID, SIS User ID, SIS Login ID, Section, ``"<assignment> (<id>)"``. Identity
    keys read from ``identities[student]``: ``name``, ``canvas_id``, ``sid``, ``login``,
    ``section``. Scores are numbers; students without a Canvas id keep an empty ID cell.
    """
    identities = identities or {}
    name = assignment_name or (results[0].assignment if results else "assignment")
    column = f"{name} ({assignment_id})" if assignment_id is not None else name
    max_score = max((num(r.max_score) for r in results), default=0.0)
    rows: list[list[object]] = [["    Points Possible", "", "", "", "", max_score]]
    for result in sorted(results, key=lambda r: r.student):
        who = _identity(result, identities)
        rows.append(
            [
                spreadsheet_text(who.get("name") or who.get("canvas_name") or result.student),
                who.get("canvas_id", ""),
                spreadsheet_text(who.get("sid", "")),
                spreadsheet_text(who.get("login") or who.get("email", "")),
                spreadsheet_text(who.get("section", "")),
                num(result.score),
            ]
        )
    atomic_write_text(path, csv_text([*HEADER, column], rows))
