"""Small helpers shared by the exporters: safe file names, number formatting, hidden-check rules."""

from __future__ import annotations

import hashlib
import math
import re

from grader.results import CheckResult, CheckStatus, SubmissionResult

SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")

STATUS_HINTS: dict[CheckStatus, str] = {
    CheckStatus.FAILED: "Your code ran, but the result was not what was expected.",
    CheckStatus.TODO: "Not implemented yet: the code this check needs still raises "
    "NotImplementedError. Fill in the TODO.",
    CheckStatus.ERROR: "Your code raised an error (or exited) while this check ran.",
    CheckStatus.TIMEOUT: "This check ran out of time. Look for an infinite loop, or work done "
    "in Python loops that should be a tensor operation.",
    CheckStatus.OOM: "This check ran out of memory. Look for tensors far larger than needed "
    "(e.g. a [vocab x vocab] matrix) or for keeping every step's graph alive.",
    CheckStatus.SKIPPED: "Not run, because a check it depends on did not pass (fix that one "
    "first) or it needs the instructor's reference.",
}


def safe_filename(student: str) -> str:
    """``student`` if it is already a safe file name, else a slug plus a short hash (stable)."""
    if SAFE_NAME.fullmatch(student) and student not in (".", ".."):
        return student
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", student).strip("-._")[:64] or "student"
    return f"{slug}-{hashlib.sha256(student.encode('utf-8', 'surrogatepass')).hexdigest()[:8]}"


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
