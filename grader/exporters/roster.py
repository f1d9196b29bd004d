"""A Canvas roster (the gradebook CSV Canvas exports) matched to the graded submissions.

``grade --roster roster.csv`` fills ``ID``, ``SIS User ID``, ``SIS Login ID`` and ``Section`` of
``grades_canvas.csv`` for folder and zip layouts, whose submissions carry no Canvas identity.

Matching, case-insensitively, first rule that gives exactly one roster row wins:

1. the Canvas user id of a Canvas bulk download (``name_<userid>_...``) against ``ID``;
2. the SIS login against ``SIS Login ID``: the submission's id (folder or zip name), its e-mail
   and the e-mail's local part, each compared with the login and with the login's local part;
3. the submission's id or SIS id (Gradescope ``sid``) against ``SIS User ID``;
4. the name: the submission's name (Canvas or Gradescope) or its id with ``-``/``_``/``.`` read
   as spaces, against ``Student`` read as "Last, First" and as "First Last" (accents dropped).

A key that fits two roster rows matches neither (reported as ambiguous). Submissions that match
nobody and roster students without a submission are reported, never guessed.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from grader.results import SubmissionResult

MAX_ROSTER_BYTES = 20 * 1024 * 1024
ID_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID")


class RosterError(ValueError):
    """The roster file cannot be used (missing, too large, not a Canvas gradebook export)."""


@dataclass(frozen=True)
class RosterStudent:
    """One student row of the Canvas export."""

    name: str  # as Canvas writes it: "Last, First"
    canvas_id: str
    sid: str
    login: str
    section: str

    def identity(self) -> dict[str, str]:
        """The identity fields the Canvas exporter reads."""
        fields = {
            "name": self.name,
            "canvas_id": self.canvas_id,
            "sid": self.sid,
            "login": self.login,
            "section": self.section,
        }
        return {k: v for k, v in fields.items() if v}


@dataclass
class RosterMatch:
    """The outcome of matching a class to a roster."""

    identities: dict[str, dict[str, str]] = field(default_factory=dict)  # student -> identity
    how: dict[str, str] = field(default_factory=dict)  # student -> which rule matched
    unmatched: list[str] = field(default_factory=list)  # students with no roster row
    ambiguous: dict[str, list[str]] = field(default_factory=dict)  # student -> candidate names
    without_submission: list[RosterStudent] = field(default_factory=list)

    def warnings(self) -> list[str]:
        """One line per problem, for the instructor."""
        lines = [
            f"roster: no roster student matches submission '{s}' (its Canvas ID stays empty)"
            for s in self.unmatched
        ]
        lines += [
            f"roster: submission '{s}' fits several roster students ({'; '.join(names)}); "
            "none was chosen"
            for s, names in self.ambiguous.items()
        ]
        lines += [
            f"roster: {r.name} (ID {r.canvas_id or '?'}, login {r.login or '?'}) has no submission"
            for r in self.without_submission
        ]
        return lines


def load_roster(path: Path) -> list[RosterStudent]:
    """The student rows of a Canvas gradebook export (``Points Possible`` and other rows without
    an ``ID`` are skipped). Raises :class:`RosterError` with what is wrong."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_ROSTER_BYTES:
            raise RosterError(f"{path} is {size} bytes; a roster larger than 20 MB is refused")
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise RosterError(f"cannot read the roster {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise RosterError(f"{path} is not UTF-8 text (export it from Canvas as CSV)") from exc
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in reader.fieldnames or []]
    missing = [c for c in ("Student", "ID") if c not in header]
    if missing:
        raise RosterError(
            f"{path} has no {' or '.join(missing)} column: use the CSV of Canvas' Grades > "
            f"Export (its header starts {', '.join(ID_COLUMNS)}, ...); found {header[:6]}"
        )
    rows = []
    for raw in reader:
        row = {(k or "").strip(): (v or "").strip() for k, v in raw.items() if k}
        if not row.get("ID") or not row["ID"].isdigit():
            continue  # "Points Possible", "Manual Posting" and other non-student rows
        rows.append(
            RosterStudent(
                name=row.get("Student", ""),
                canvas_id=row["ID"],
                sid=row.get("SIS User ID", ""),
                login=row.get("SIS Login ID", ""),
                section=row.get("Section", ""),
            )
        )
    if not rows:
        raise RosterError(f"{path} has no student rows (every row lacks a numeric ID)")
    return rows


def fold(text: str) -> str:
    """Lowercase ASCII with runs of anything but letters and digits as one space."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return " ".join(re.split(r"[^a-z0-9]+", ascii_text.lower())).strip()


def _local(login: str) -> str:
    return login.split("@", 1)[0]


def _names(student: RosterStudent) -> set[str]:
    """The roster name as written and as "First Last" (Canvas writes "Last, First")."""
    out = {fold(student.name)}
    if "," in student.name:
        last, first = student.name.split(",", 1)
        out.add(fold(f"{first} {last}"))
    return out - {""}


def _keys(result: SubmissionResult) -> dict[str, set[str]]:
    """What a submission offers to match on, per rule, folded."""
    ident = result.identity
    emails = [e.strip() for e in ident.get("email", "").split(",") if e.strip()]
    sids = [s.strip() for s in ident.get("sid", "").split(",") if s.strip()]
    names = [n.strip() for n in ident.get("name", "").split(",") if n.strip()]
    names += [ident[k] for k in ("canvas_name",) if ident.get(k)]
    sid = result.student
    canvas = ident.get("canvas_id", "")
    if not canvas:
        found = re.search(r"canvas user (\d+)", result.source)
        canvas = found.group(1) if found else ""
    return {
        "canvas id": {canvas} - {""},
        "login": {x.lower() for x in [sid, *emails, *map(_local, emails)] if x},
        "sis id": {x.lower() for x in [sid, *sids] if x},
        "name": {fold(x) for x in [*names, sid]} - {""},
    }


Rule = tuple[str, Callable[[RosterStudent], Iterable[str]]]
RULES: tuple[Rule, ...] = (
    ("canvas id", lambda r: [r.canvas_id]),
    ("login", lambda r: [r.login.lower(), _local(r.login).lower()] if r.login else []),
    ("sis id", lambda r: [r.sid.lower()] if r.sid else []),
    ("name", _names),
)


def match_roster(
    results: Sequence[SubmissionResult], roster: Sequence[RosterStudent]
) -> RosterMatch:
    """Match every submission to at most one roster student (see the module docstring)."""
    index: dict[str, dict[str, list[RosterStudent]]] = {}
    for rule, keys_of in RULES:
        table = index.setdefault(rule, {})
        for student in roster:
            for key in set(keys_of(student)) - {""}:
                table.setdefault(key, []).append(student)
    out = RosterMatch()
    used: set[str] = set()
    for result in sorted(results, key=lambda r: r.student):
        keys = _keys(result)
        found: RosterStudent | None = None
        candidates: list[RosterStudent] = []
        for rule, _ in RULES:
            hits = {r.canvas_id: r for k in keys[rule] for r in index[rule].get(k, [])}
            if len(hits) == 1:
                found = next(iter(hits.values()))
                out.how[result.student] = rule
                break
            candidates += hits.values()
        if found is not None:
            out.identities[result.student] = found.identity()
            used.add(found.canvas_id)
        elif candidates:
            out.ambiguous[result.student] = sorted({c.name for c in candidates})
        else:
            out.unmatched.append(result.student)
    out.without_submission = [r for r in roster if r.canvas_id not in used]
    return out
