"""Grade a whole class: intake, N parallel graders, a result cache, atomic per-student output.

Each grading thread drives its own sandbox workers (the heavy work runs there, in separate
processes); results are written as soon as a submission finishes, so a killed run loses nothing
and a rerun redoes only what changed (cache key: submission hash, grader version, rubric and kit).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import torch
from pydantic import ValidationError

import grader
from grader import runtemp
from grader.assignments.base import Assignment
from grader.checks import CORE_TIERS
from grader.context import SharedMemo
from grader.engine import HOST_OVERLOAD_MESSAGE, empty_result, grade_submission
from grader.exporters.common import safe_filename
from grader.fingerprint import grader_code_hash, tree_hash
from grader.intake import IntakeLimits, SubmissionInput, discover
from grader.results import SubmissionResult, SubmissionStatus
from grader.rubric import Rubric
from grader.sandbox import Sandbox


@dataclass
class RunPlan:
    """Everything fixed for one grading run."""

    assignment: Assignment
    rubric: Rubric
    sandbox: Sandbox
    out_dir: Path
    jobs: int = 1
    use_cache: bool = True
    with_reference: bool = True
    tiers: tuple[str, ...] = ()  # the assignment's opt-in tiers asked for (grade --tier)
    prepared: object = None
    kit_hash: str = ""
    reference_hash: str = ""
    limits: IntakeLimits = field(default_factory=IntakeLimits)


def default_jobs() -> int:
    """One grader per core (each sandboxed probe uses one torch thread)."""
    return max(
        1,
        len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1),
    )


def cache_key(sub: SubmissionInput, plan: RunPlan) -> str:
    """What a result depends on: the files, the grader's code, the reference, the rubric, the
    kits and the sandbox backend."""
    text = json.dumps(
        [
            sub.submission_hash,
            sub.student,
            grader.__version__,
            grader_code_hash(),
            plan.reference_hash if plan.with_reference else "",
            plan.rubric.hash(),
            plan.kit_hash,
            plan.with_reference,
            plan.sandbox.name,
            *([list(plan.tiers)] if plan.tiers else []),  # absent: keys of old runs still hold
        ]
    )
    return hashlib.sha256(text.encode()).hexdigest()


def result_path(out_dir: Path, student: str) -> Path:
    """Where a student's full result model is stored (the exporters' own naming)."""
    return out_dir / "results" / f"{safe_filename(student)}.json"


def cached_result(sub: SubmissionInput, plan: RunPlan) -> SubmissionResult | None:
    """The stored result of an identical earlier grading, if any."""
    path = result_path(plan.out_dir, sub.student)
    if not plan.use_cache or not path.is_file():
        return None
    try:
        old = SubmissionResult.model_validate_json(path.read_bytes())
    except (ValidationError, ValueError, OSError):
        return None  # unreadable or from another schema: grade again
    if not is_final(old):
        return None
    return old if old.cache_key == cache_key(sub, plan) else None


def is_final(result: SubmissionResult) -> bool:
    """Whether a result may be served from the cache (a grader failure or an overloaded host
    says nothing about the submission: it is graded again)."""
    return result.status != SubmissionStatus.GRADER_ERROR


def host_overloaded(result: SubmissionResult) -> bool:
    """Whether a probe of this result was starved of CPU by the host (regrade it)."""
    return (
        result.status == SubmissionStatus.GRADER_ERROR and result.message == HOST_OVERLOAD_MESSAGE
    )


def prepare_run(plan: RunPlan) -> None:
    """Build kits and calibrate once per run (in the parent, before any submission)."""
    runtemp.activate()  # every temporary file of the run in its own area, removed at exit
    torch.set_num_threads(1)
    plan.prepared = plan.assignment.prepare(plan.rubric, with_reference=plan.with_reference)
    plan.kit_hash = plan.assignment.kit_hash(plan.prepared)
    ref = plan.assignment.reference_dir() if plan.with_reference else None
    plan.reference_hash = tree_hash(ref) if ref is not None else ""
    if plan.with_reference:
        plan.assignment.calibrate_run(plan)


def grade_one(sub: SubmissionInput, plan: RunPlan, shared: SharedMemo) -> SubmissionResult:
    """Grade one staged submission; never raises (a grader failure becomes the row's status)."""
    if sub.status != "ok" or sub.staged_dir is None:
        status = (
            SubmissionStatus.NO_SUBMISSION if sub.status == "empty" else SubmissionStatus.INVALID
        )
        result = empty_result(
            assignment=plan.assignment,
            rubric=plan.rubric,
            student=sub.student,
            status=status,
            message=sub.message,
            source=sub.source,
            warnings=list(sub.problems),
        )
    else:
        try:
            result = grade_submission(
                assignment=plan.assignment,
                rubric=plan.rubric,
                prepared=plan.prepared,
                sandbox=plan.sandbox,
                student=sub.student,
                submission_dir=sub.staged_dir,
                files=sub.files,
                submission_hash=sub.submission_hash,
                source=sub.source,
                with_reference=plan.with_reference,
                shared=shared,
                tiers=(*CORE_TIERS, *plan.tiers),
            )
            result.warnings = list(sub.problems) + result.warnings
        except Exception as exc:  # the run goes on; this row says what happened
            result = empty_result(
                assignment=plan.assignment,
                rubric=plan.rubric,
                student=sub.student,
                status=SubmissionStatus.GRADER_ERROR,
                message=f"grader error: {type(exc).__name__}: {exc}",
                source=sub.source,
            )
    result.kit_hash = plan.kit_hash
    result.identity = dict(sub.identity)
    result.cache_key = cache_key(sub, plan)
    result.submission_hash = sub.submission_hash
    return result


def grade_all(
    subs: Sequence[SubmissionInput],
    plan: RunPlan,
    *,
    on_start: Callable[[int, SubmissionInput], None] | None = None,
    on_done: Callable[[SubmissionResult, bool], None] | None = None,
) -> list[SubmissionResult]:
    """Grade ``subs`` with ``plan.jobs`` threads; results come back in ``subs`` order.

    A submission whose probe was starved of CPU by the host is graded once more after the
    whole class (when this run's own load is gone); if that fails too, its row says so.
    """
    from grader.exporters import write_one

    results: dict[str, SubmissionResult] = {}

    def first(sub: SubmissionInput, shared: SharedMemo, slot: int) -> SubmissionResult:
        cached = cached_result(sub, plan)
        if cached is not None:
            if on_done:
                on_done(cached, True)
            return cached
        if on_start:
            on_start(slot, sub)
        result = grade_one(sub, plan, shared)
        write_one(result, plan.out_dir)
        if on_done:
            on_done(result, False)
        return result

    def again(sub: SubmissionInput, shared: SharedMemo, slot: int) -> SubmissionResult:
        result = grade_one(sub, plan, shared)
        write_one(result, plan.out_dir)
        return result

    _pool(subs, plan.jobs, first, results)
    retry = [s for s in subs if host_overloaded(results[s.student])]
    if retry:
        _pool(retry, plan.jobs, again, results)
    return [results[s.student] for s in subs]


def _pool(
    subs: Sequence[SubmissionInput],
    jobs: int,
    work: Callable[[SubmissionInput, SharedMemo, int], SubmissionResult],
    results: dict[str, SubmissionResult],
) -> None:
    """Run ``work`` over ``subs`` on ``jobs`` threads, each with its own shared memo."""
    local = threading.local()
    all_shared: list[SharedMemo] = []
    lock = threading.Lock()
    slots = list(range(jobs))

    def run(sub: SubmissionInput) -> SubmissionResult:
        if not hasattr(local, "shared"):
            local.shared = SharedMemo()
            with lock:
                all_shared.append(local.shared)
                local.slot = slots.pop(0) if slots else 0
        return work(sub, local.shared, local.slot)

    try:
        with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="grader") as pool:
            futures = {pool.submit(run, sub): sub for sub in subs}
            for future in as_completed(futures):
                results[futures[future].student] = future.result()
    finally:
        for shared in all_shared:
            shared.close()


def intake(submissions_dir: Path, plan: RunPlan, only: Sequence[str] = ()) -> list[SubmissionInput]:
    """Discover and stage every submission under ``submissions_dir`` (optionally only some)."""
    subs = discover(
        submissions_dir,
        plan.out_dir / "staging",
        expected_files=plan.assignment.required_files,
        optional_files=plan.assignment.optional_files + plan.assignment.framework_files,
        limits=plan.limits,
    )
    if only:
        wanted = set(only)
        subs = [s for s in subs if s.student in wanted]
    return subs
