"""Rubrics: which checks each item needs, its points, policy and visibility; loaded from TOML.

An instructor changes grading in ``rubrics/<assignment>.toml``, never in code. The file is validated
by the pydantic models below and round-trips through them (``load_rubric`` / ``dump_rubric``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import tomli_w
from pydantic import BaseModel, ConfigDict, Field, model_validator

from grader.compat import tomllib
from grader.results import CheckResult, CheckStatus, ItemResult, Visibility

Policy = Literal["all_or_nothing", "proportional"]
SettingValue = float | int | str | bool


class RubricItem(BaseModel):
    """One line of the rubric: ``points`` earned from ``checks`` under ``policy``."""

    model_config = ConfigDict(extra="forbid")

    id: str
    title: str
    points: float = Field(ge=0)
    checks: list[str] = Field(min_length=1)
    policy: Policy = "all_or_nothing"
    visibility: Visibility = "visible"
    description: str = ""


class Rubric(BaseModel):
    """A whole rubric: the items plus the settings (profile, thresholds, tolerances) checks read."""

    model_config = ConfigDict(extra="forbid")

    assignment: str
    title: str
    version: str = "1"
    settings: dict[str, SettingValue] = Field(default_factory=dict)
    items: list[RubricItem] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_ids(self) -> Rubric:
        ids = [item.id for item in self.items]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"rubric item ids must be unique; repeated: {', '.join(duplicates)}")
        return self

    @property
    def max_score(self) -> float:
        """Total points available."""
        return sum(item.points for item in self.items)

    @property
    def check_ids(self) -> list[str]:
        """Every check some item needs, in rubric order, without repeats."""
        seen: dict[str, None] = {}
        for item in self.items:
            for check_id in item.checks:
                seen.setdefault(check_id, None)
        return list(seen)

    def setting(self, name: str, default: SettingValue) -> SettingValue:
        """A setting's value, or ``default`` when the rubric does not set it."""
        return self.settings.get(name, default)

    def hash(self) -> str:
        """Content hash of the validated rubric (part of the result cache key)."""
        return hashlib.sha256(dump_rubric(self).encode()).hexdigest()

    def validate_checks(self, known: set[str]) -> None:
        """Fail with a clear message when an item names a check the assignment does not have."""
        unknown = [c for c in self.check_ids if c not in known]
        if unknown:
            raise ValueError(
                f"rubric for {self.assignment!r} names unknown checks: {', '.join(unknown)}; "
                f"known checks: {', '.join(sorted(known))}"
            )


def load_rubric(path: Path) -> Rubric:
    """Read and validate a rubric TOML file."""
    with path.open("rb") as fh:
        return Rubric.model_validate(tomllib.load(fh))


def dump_rubric(rubric: Rubric) -> str:
    """Serialise a rubric back to TOML (the inverse of ``load_rubric``)."""
    return tomli_w.dumps(rubric.model_dump(mode="json", exclude_defaults=False))


def score_items(rubric: Rubric, checks: Mapping[str, CheckResult]) -> list[ItemResult]:
    """Turn check verdicts into rubric item points.

    ``all_or_nothing`` gives the points only when every check passed; ``proportional`` gives the
    mean of the checks' score fractions. A check that did not run counts as 0.
    """
    items: list[ItemResult] = []
    for item in rubric.items:
        results = [checks.get(c) for c in item.checks]
        fractions = [r.score if r is not None else 0.0 for r in results]
        passed = all(r is not None and r.status == CheckStatus.PASSED for r in results)
        if item.policy == "all_or_nothing":
            fraction = 1.0 if passed else 0.0
        else:
            fraction = sum(fractions) / len(fractions)
        failing = [r.title for r in results if r is not None and r.status != CheckStatus.PASSED]
        missing = [c for c, r in zip(item.checks, results) if r is None]
        message = ""
        if failing or missing:
            message = "needs: " + ", ".join(failing + [f"{m} (not run)" for m in missing])
        items.append(
            ItemResult(
                id=item.id,
                title=item.title,
                points=round(item.points * fraction, 4),
                max_points=item.points,
                checks=list(item.checks),
                policy=item.policy,
                visibility=item.visibility,
                passed=passed,
                message=message,
            )
        )
    return items
