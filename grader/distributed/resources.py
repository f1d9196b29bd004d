"""Worker resources a run asks for (``GPU=1`` for GPU tiers) and whether a cluster has them.

An assignment declares what each of its tiers needs (``Assignment.tier_resources``, e.g. a
fine-tuning quality tier ``{"quality": {"GPU": 1}}``); a run needs the resources of every tier its
rubric uses, plus what the rubric setting ``worker_resources`` and ``grade --resources`` add
(``"GPU=1"``, comma-separated). Dask places each task only on a worker that has them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from grader.assignments.base import Assignment
from grader.rubric import Rubric


def parse_resources(text: str) -> dict[str, float]:
    """``"GPU=1,MEM=2"`` -> ``{"GPU": 1.0, "MEM": 2.0}``; a clear error for anything else."""
    found: dict[str, float] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, sep, value = part.partition("=")
        try:
            amount = float(value) if sep else float("nan")
        except ValueError:
            amount = float("nan")
        if not name.strip() or not amount > 0:
            raise ValueError(f"worker resource {part!r} is not NAME=AMOUNT (e.g. GPU=1)")
        found[name.strip()] = amount
    return found


def _merge(into: dict[str, float], more: Mapping[str, float]) -> None:
    for name, amount in more.items():
        into[name] = max(into.get(name, 0.0), float(amount))


def tiers_used(assignment: Assignment, rubric: Rubric, asked: Iterable[str] = ()) -> set[str]:
    """The tiers that will run: those of the checks the rubric names and of the checks those
    depend on, less the assignment's opt-in tiers not ``asked`` for (``grade --tier``)."""
    wanted = set(rubric.check_ids)
    skipped = set(assignment.optional_tiers) - set(asked)
    tiers: set[str] = set()
    for spec in reversed(list(assignment.checks)):
        if spec.id in wanted:
            tiers.add(spec.tier)
            wanted.update(spec.depends)
    return tiers - skipped


def run_resources(
    assignment: Assignment, rubric: Rubric, extra: Iterable[str] = (), asked: Iterable[str] = ()
) -> dict[str, float]:
    """What every task of this run asks a worker for (empty: any worker will do); ``asked``: the
    opt-in tiers of ``grade --tier``."""
    needed: dict[str, float] = {}
    for tier in sorted(tiers_used(assignment, rubric, asked)):
        _merge(needed, assignment.tier_resources.get(tier, {}))
    _merge(needed, parse_resources(str(rubric.setting("worker_resources", ""))))
    for text in extra:
        _merge(needed, parse_resources(text))
    return needed


def missing_resources(workers: Mapping[str, Mapping[str, Any]], needed: Mapping[str, float]) -> str:
    """Why no worker can take the tasks ("" when at least one can); ``workers`` as Dask reports."""
    if not needed:
        return ""
    for info in workers.values():
        have = info.get("resources") or {}
        if all(float(have.get(k, 0.0)) >= v for k, v in needed.items()):
            return ""
    want = ", ".join(f"{k}={v:g}" for k, v in sorted(needed.items()))
    return (
        f"this run needs workers with {want}, and none of the {len(workers)} worker(s) has it. "
        f"Start such workers with `dask worker SCHEDULER --resources \"{want}\"` (on a machine "
        "that really has the device), or grade without the tiers that need it."
    )
