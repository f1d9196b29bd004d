"""Check primitives shared by every assignment: the ``@check`` registry entry and verdicts.

A check is a trusted-side function ``fn(ctx) -> Verdict``. It asks the grading context for probe
outcomes (raw data from the sandbox) and judges them. When a probe did not return normally, the
check calls ``ctx.require(outcome)``, which stops the check and turns the probe's fate (TODO,
exception, timeout, out of memory) into a status and a student-readable message.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from grader.verdict import CheckStopped, Verdict

if TYPE_CHECKING:
    from grader.context import GradingContext

# Built-in tiers are "file", "property" and "reference"; an assignment may add opt-in ones
# (``Assignment.optional_tiers``, e.g. "quality") that run only when ``grade --tier`` asks.
Tier = str
CORE_TIERS: tuple[str, ...] = ("file", "property", "reference")

__all__ = ["CORE_TIERS", "CheckRegistry", "CheckSpec", "CheckStopped", "Tier", "Verdict"]


@dataclass(frozen=True)
class CheckSpec:
    """A registered check: its id, title, tier, dependencies and the function that judges."""

    id: str
    title: str
    fn: Callable[[GradingContext], Verdict]
    tier: Tier = "property"
    depends: tuple[str, ...] = ()
    doc: str = ""


class CheckRegistry:
    """An ordered collection of checks for one assignment, filled with the ``check`` decorator."""

    def __init__(self) -> None:
        self._checks: dict[str, CheckSpec] = {}

    def check(
        self, check_id: str, title: str, *, tier: Tier = "property", depends: tuple[str, ...] = ()
    ) -> Callable[[Callable[[GradingContext], Verdict]], Callable[[GradingContext], Verdict]]:
        """Decorator registering ``fn`` as the check ``check_id``."""

        def register(
            fn: Callable[[GradingContext], Verdict],
        ) -> Callable[[GradingContext], Verdict]:
            if check_id in self._checks:
                raise ValueError(f"check {check_id!r} registered twice")
            unknown = [d for d in depends if d not in self._checks]
            if unknown:
                raise ValueError(f"check {check_id!r} depends on unknown/later checks {unknown}")
            self._checks[check_id] = CheckSpec(
                check_id, title, fn, tier, tuple(depends), (fn.__doc__ or "").strip()
            )
            return fn

        return register

    def __iter__(self) -> Iterator[CheckSpec]:
        return iter(self._checks.values())

    def __getitem__(self, check_id: str) -> CheckSpec:
        return self._checks[check_id]

    def __contains__(self, check_id: object) -> bool:
        return check_id in self._checks

    def ids(self) -> set[str]:
        """All registered check ids."""
        return set(self._checks)
