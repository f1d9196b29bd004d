"""Small helpers shared by the exporters: safe file names, number formatting, hidden-check rules."""

from __future__ import annotations

import math
import re

from grader.results import (
    UNFINISHED_WORDS,
    CheckResult,
    CheckStatus,
    ItemResult,
    SubmissionResult,
    SubmissionStatus,
)
from grader.slug import safe_filename as safe_filename  # re-exported: the exporters' names

# One sentence per check status: what happened and where to look. Each status has its own.
STATUS_HINTS: dict[CheckStatus, str] = {
    CheckStatus.FAILED: "The check ran, but the result was not what was expected.",
    CheckStatus.TODO: "Not implemented yet: the code this check needs still raises "
    "NotImplementedError. Fill in the TODO.",
    CheckStatus.ERROR: "Your code crashed while this check ran: it raised an exception or exited "
    "(a SyntaxError or an ImportError stops every check that imports the file). The error and "
    "the line it came from are below.",
    CheckStatus.TIMEOUT: "This check ran out of time. The message below says which line of "
    "your code was running when it was stopped, when that is known.",
    CheckStatus.OOM: "This check ran out of memory. Look for tensors far larger than needed "
    "(e.g. a [vocab x vocab] matrix) or for keeping every step's graph alive.",
    CheckStatus.SKIPPED: "Not run, because a check it depends on did not pass (fix that one "
    "first) or it needs the instructor's reference.",
}

FILE_HINT = "A file the assignment needs is missing or could not be used."


def check_hint(check: CheckResult) -> str:
    """The sentence that explains ``check``'s status (a failed file check: which file is wrong)."""
    if check.tier == "file" and check.status == CheckStatus.FAILED:
        return FILE_HINT
    return STATUS_HINTS.get(check.status, "")


# A check's status as a few words, for headings and tables.
STATUS_WORDS: dict[CheckStatus, str] = {
    CheckStatus.PASSED: "passed",
    CheckStatus.FAILED: "wrong answer",
    CheckStatus.TODO: "not implemented (TODO)",
    CheckStatus.ERROR: "crashed",
    CheckStatus.TIMEOUT: "timed out",
    CheckStatus.OOM: "out of memory",
    CheckStatus.SKIPPED: "not run",
}



def status_word(check: CheckResult) -> str:
    """A check's status in words (a failed file check: the file is missing or unusable)."""
    if check.tier == "file" and check.status == CheckStatus.FAILED:
        return "file missing or unusable"
    return STATUS_WORDS[check.status]


_OVERALL: dict[SubmissionStatus, str] = {
    SubmissionStatus.NO_SUBMISSION: "No gradable files were found in your submission. Check "
    "that you uploaded the files the assignment names, with exactly those names.",
    SubmissionStatus.INVALID: "Your upload could not be used; the reason is below. Fix it and "
    "submit again.",
    SubmissionStatus.GRADER_ERROR: "The autograder failed on our side; this is not your fault. "
    "Your instructor has been told and will regrade.",
}


def _checks(n: int) -> str:
    return f"{n} check" if n == 1 else f"{n} checks"


def overall_text(result: SubmissionResult) -> str:
    """One paragraph on what happened to the whole submission (empty when it simply graded)."""
    if result.status in _OVERALL:
        return _OVERALL[result.status]
    if result.status == SubmissionStatus.INCOMPLETE:
        parts = [f"{n} {UNFINISHED_WORDS[s]}" for s, n in result.unfinished().items()]
        total = sum(result.unfinished().values())
        return (
            f"{_checks(total)} could not finish ({', '.join(parts) or 'see below'}) and "
            f"earned no points. The first one below says what happened."
        )
    todo = sum(c.status == CheckStatus.TODO for c in result.checks)
    if todo and result.score == 0:
        return f"Nothing is implemented yet: {_checks(todo)} found a TODO still in place."
    return ""


def decided_items(result: SubmissionResult, check_id: str) -> list[ItemResult]:
    """The rubric items whose points depend on ``check_id``, directly or through dependencies.

    A check such as "model.py imports" is listed in one item's checks only, yet every check that
    needs the model depends on it: the items those checks serve are decided by it too.
    """
    needs = {c.id: set(c.depends) for c in result.checks}

    def reaches(cid: str, seen: frozenset[str] = frozenset()) -> bool:
        if cid == check_id:
            return True
        return any(d not in seen and reaches(d, seen | {cid}) for d in needs.get(cid, ()))

    return [i for i in result.items if any(reaches(c) for c in i.checks)]


def num(value: float, digits: int = 4) -> float:
    """A finite, rounded float for JSON and CSV (NaN and infinities become 0.0)."""
    value = float(value)
    return round(value, digits) if math.isfinite(value) else 0.0


def fmt_points(value: float) -> str:
    """Points for humans: ``2``, ``1.5``, ``0.33``."""
    return f"{num(value, 2):g}"


def hidden_check_ids(result: SubmissionResult) -> set[str]:
    """Ids of checks whose details must not be shown: hidden checks and those of hidden items."""
    hidden = {c.id for c in result.checks if c.hidden}
    for item in result.items:
        if item.visibility == "hidden":
            hidden.update(item.checks)
    return hidden


def verdict(check: CheckResult | None) -> str:
    """``passed`` or ``failed``: the only thing a hidden check may say."""
    return "passed" if check is not None and check.status == CheckStatus.PASSED else "failed"


def fence(text: str, info: str = "text") -> str:
    """A fenced Markdown code block that ``text`` cannot break out of."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{info}\n{text.rstrip()}\n{ticks}"


def spreadsheet_text(value: str) -> str:
    """A CSV text cell that a spreadsheet will not run as a formula (=, +, -, @ prefixed with ')."""
    value = value.replace("\r", " ").replace("\n", " ")
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t") else value
