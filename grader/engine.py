"""Grade one submission: run the assignment's checks in order, score the rubric, build the result.

Shared by ``grade`` (every tier, with the reference) and ``precheck`` (property checks only).
A check whose dependency did not pass is skipped with a message naming that dependency; a check
that raises is a grader error on that check alone, never a lost submission.
"""

from __future__ import annotations

import platform
import sys
import time
import traceback
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import torch

import grader
from grader import versions
from grader.assignments.base import Assignment
from grader.checks import CheckSpec, CheckStopped, Verdict
from grader.compat import UTC
from grader.context import GradingContext, SharedMemo
from grader.results import (
    CheckResult,
    CheckStatus,
    Environment,
    ItemResult,
    SubmissionResult,
    SubmissionStatus,
)
from grader.rubric import Rubric, score_items
from grader.sandbox import Sandbox
from grader.timing import measuring

CheckCallback = Callable[[CheckResult], None]
PATCHED_FLAG = (
    "changed torch/builtins when imported or run (grading may not be trustworthy; read the code)"
)
HOST_OVERLOAD_MESSAGE = "the grading machine was overloaded; regrade"


def environment(sandbox: Sandbox, seed: int) -> Environment:
    """Versions and settings recorded with every result."""
    return Environment(
        grader_version=grader.__version__,
        python=sys.version.split()[0],
        torch=torch.__version__,
        numpy=versions.installed("numpy") or "",
        platform=platform.platform(terse=True),
        sandbox=sandbox.name,
        sandbox_isolates=sandbox.isolates,
        threads=1,
        seed=seed,
        version_drift=versions.pin_drift(),
    )


def _run_check(spec: CheckSpec, ctx: GradingContext) -> CheckResult:
    t0 = time.perf_counter()
    blocked = [
        d
        for d in spec.depends
        if ctx.results.get(d) is None or ctx.results[d].status != CheckStatus.PASSED
    ]
    if blocked:
        titles = [ctx.results[d].title if d in ctx.results else d for d in blocked]
        verdict = Verdict.skipped(f"Not run: it needs '{titles[0]}' to pass first.")
        verdict.details["blocked_by"] = blocked
    elif spec.tier == "reference" and not ctx.with_reference:
        verdict = Verdict.skipped("Runs only when the instructor grades (needs the reference).")
    else:
        try:
            verdict = spec.fn(ctx)
        except CheckStopped as stop:
            verdict = stop.verdict
        except Exception as exc:  # a bug in the grader must not cost the submission its row
            verdict = Verdict(
                CheckStatus.ERROR,
                f"The grader failed inside this check ({type(exc).__name__}: {exc}); "
                "this is not your fault, tell the course staff.",
                details={"grader_traceback": traceback.format_exc(limit=6)},
            )
            ctx.integrity_flags.append(f"grader error in check {spec.id}")
    score = verdict.score
    if score is None:
        score = 1.0 if verdict.status == CheckStatus.PASSED else 0.0
    return CheckResult(
        id=spec.id,
        title=spec.title,
        tier=spec.tier,
        status=verdict.status,
        score=max(0.0, min(1.0, score)),
        message=verdict.message,
        details=verdict.details,
        duration_s=round(time.perf_counter() - t0, 4),
        evidence=verdict.evidence,
        depends=list(spec.depends),
    )


def _note_costs(results: Mapping[str, CheckResult], items: list[ItemResult]) -> None:
    """Tell, on each check whose failure kept others from running, every item that cost.

    A check that does not pass skips the checks that depend on it, so its own rubric item is
    not the only one it costs (a model.py that does not import costs every model item). The
    item ids go to ``details["costs"]`` (exporters file the check under all of them).
    """
    for check in results.values():
        if check.status in (CheckStatus.PASSED, CheckStatus.SKIPPED):
            continue
        lost = {check.id}
        grew = True
        while grew:
            grew = False
            for other in results.values():
                blockers = other.details.get("blocked_by", []) if other.status == "skipped" else []
                if other.id not in lost and any(b in lost for b in blockers):
                    lost.add(other.id)
                    grew = True
        if len(lost) == 1:
            continue
        cost = [i for i in items if not i.passed and lost & set(i.checks)]
        if not cost:
            continue
        check.details["costs"] = [i.id for i in cost]
        names = "; ".join(f"{i.title} ({i.max_points:g})" for i in cost)
        total = sum(i.max_points for i in cost)
        check.message += (
            f"\nThis kept {len(lost) - 1} other check(s) from running; it cost {total:g} points: "
            f"{names}."
        )


def patched_flag(names: list[str]) -> str:
    """The integrity flag for a submission whose code changed torch or builtins when it ran.

    The worker reports it (student code could hide it): a hint for the instructor, never points.
    """
    return f"{PATCHED_FLAG}: {', '.join(names)}"


def grade_submission(
    *,
    assignment: Assignment,
    rubric: Rubric,
    prepared: Any,
    sandbox: Sandbox,
    student: str,
    submission_dir: Path,
    files: Mapping[str, str],
    submission_hash: str = "",
    source: str = "",
    with_reference: bool = True,
    shared: SharedMemo | None = None,
    tiers: tuple[str, ...] = ("file", "property", "reference"),
    on_check: CheckCallback | None = None,
    extra_checks: tuple[str, ...] = (),
) -> SubmissionResult:
    """Grade the staged submission in ``submission_dir`` and return its full result.

    Runs the checks the rubric names, the checks they depend on, and ``extra_checks``
    (informational ones such as precheck's own training run), in registry order.
    """
    t0 = time.perf_counter()
    seed = int(rubric.setting("seed", assignment.default_seed))
    ctx = GradingContext(
        assignment=assignment,
        rubric=rubric,
        prepared=prepared,
        sandbox=sandbox,
        student=student,
        submission_dir=submission_dir,
        files=files,
        with_reference=with_reference,
        shared=shared,
        seed=seed,
    )
    # File checks always run: they are cheap and their warnings matter even without points.
    wanted = set(rubric.check_ids) | set(extra_checks)
    wanted |= {spec.id for spec in assignment.checks if spec.tier == "file"}
    try:
        with measuring(ctx.timings):
            for spec in assignment.checks:
                if spec.tier not in tiers:
                    continue
                needed_later = any(spec.id in other.depends for other in assignment.checks)
                if spec.id not in wanted and not needed_later:
                    continue
                result = _run_check(spec, ctx)
                ctx.results[spec.id] = result
                if on_check is not None:
                    on_check(result)
    finally:
        ctx.close()
    if ctx.patched:
        ctx.integrity_flags.append(patched_flag(ctx.patched))
    items = score_items(rubric, ctx.results)
    _note_costs(ctx.results, items)
    for item in items:
        if item.visibility == "hidden":
            for check_id in item.checks:
                if check_id in ctx.results:
                    ctx.results[check_id].hidden = True
    score = round(sum(i.points for i in items), 4)
    unfinished = [
        c
        for c in ctx.results.values()
        if c.status in (CheckStatus.ERROR, CheckStatus.TIMEOUT, CheckStatus.OOM)
    ]
    status = SubmissionStatus.INCOMPLETE if unfinished else SubmissionStatus.GRADED
    failed = [
        c.title
        for c in ctx.results.values()
        if c.status != CheckStatus.PASSED and c.status != CheckStatus.SKIPPED
    ]
    message = "all checks passed" if not failed else f"{len(failed)} check(s) not passed"
    if ctx.host_overloaded:  # not the student's doing, and never a final grade
        status, message = SubmissionStatus.GRADER_ERROR, HOST_OVERLOAD_MESSAGE
    ctx.timings.total_s = round(time.perf_counter() - t0, 4)
    return SubmissionResult(
        student=student,
        assignment=assignment.name,
        profile=str(rubric.setting("profile", "")),
        status=status,
        score=score,
        max_score=rubric.max_score,
        items=items,
        checks=list(ctx.results.values()),
        message=message,
        warnings=ctx.warnings,
        integrity_flags=ctx.integrity_flags,
        files=dict(files),
        submission_hash=submission_hash,
        source=source,
        rubric_hash=rubric.hash(),
        environment=environment(sandbox, seed),
        timings=ctx.timings,
        graded_at=datetime.now(UTC),
    )


def empty_result(
    *,
    assignment: Assignment,
    rubric: Rubric,
    student: str,
    status: SubmissionStatus,
    message: str,
    source: str = "",
    warnings: list[str] | None = None,
) -> SubmissionResult:
    """A row for a submission that could not be graded at all (nothing usable, unsafe upload)."""
    items = score_items(rubric, {})
    for item in items:
        item.message = message
    return SubmissionResult(
        student=student,
        assignment=assignment.name,
        profile=str(rubric.setting("profile", "")),
        status=status,
        score=0.0,
        max_score=rubric.max_score,
        items=items,
        message=message,
        warnings=warnings or [],
        source=source,
        rubric_hash=rubric.hash(),
        graded_at=datetime.now(UTC),
    )
