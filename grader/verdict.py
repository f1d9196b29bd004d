"""Verdicts: what a check returns, and the exception that ends a check early with one."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from grader.results import CheckStatus


@dataclass
class Verdict:
    """What a check function returns: a status, the fraction earned and the feedback."""

    status: CheckStatus
    message: str = ""
    score: float | None = None  # defaults to 1.0 when passed, 0.0 otherwise
    details: dict[str, Any] = field(default_factory=dict)
    evidence: str = ""

    @classmethod
    def passed(cls, message: str = "", **details: Any) -> Verdict:
        """A passing verdict."""
        return cls(CheckStatus.PASSED, message, details=details)

    @classmethod
    def failed(cls, message: str, score: float = 0.0, **details: Any) -> Verdict:
        """A failing verdict; ``message`` says what was expected, found, and where to look."""
        return cls(CheckStatus.FAILED, message, score=score, details=details)

    @classmethod
    def skipped(cls, message: str) -> Verdict:
        """The check could not run (missing reference, dependency failed)."""
        return cls(CheckStatus.SKIPPED, message)


class CheckStopped(Exception):
    """Raised inside a check to end it early with a verdict (e.g. the probe crashed)."""

    def __init__(self, verdict: Verdict) -> None:
        super().__init__(verdict.message)
        self.verdict = verdict
