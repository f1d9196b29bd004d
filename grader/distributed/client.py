"""The client side of a cluster run: submit one task per submission, stream results into the cache.

Cached rows and unusable uploads are settled here without the cluster. The rest are submitted in a
sliding window (bounded memory on the scheduler), each task with its files as content-addressed
blobs (a file shared by many students travels once) and the reference's blobs. Results are taken
``as_completed``, written atomically with the same ``write_one`` and cache key as local grading,
so a killed client resumes where it stopped; tasks of a worker that dies are rerun by the scheduler.
Rows whose probes were starved of CPU by their host are submitted once more after the class, as
local threads regrade them, and are never cached as final.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

import dask
from distributed import Future, as_completed

from grader.batch import RunPlan, cache_key, cached_result, grade_one, host_overloaded
from grader.context import SharedMemo
from grader.distributed.blobs import blob_key, read_verified
from grader.distributed.cluster import Connection
from grader.distributed.report import Throughput
from grader.distributed.spec import RunSpec, TaskSpec, data_files, run_spec
from grader.distributed.task import START_TOPIC, grade_task
from grader.engine import empty_result
from grader.intake import SubmissionInput
from grader.results import SubmissionResult, SubmissionStatus

StartCallback = Callable[[int, SubmissionInput], None]
DoneCallback = Callable[[SubmissionResult, bool], None]


def carry(data: bytes) -> bytes:
    """The task that holds one blob: its bytes live in the task, so a lost copy is recomputed."""
    return data


class ClusterEngine:
    """Grades a class on a connected cluster; ``grade_all`` has the thread pool's signature."""

    def __init__(self, conn: Connection, *, sandbox: str, resources: dict[str, float]) -> None:
        self.conn = conn
        self.sandbox = sandbox
        self.resources = resources
        self.throughput = Throughput()
        self._slot_of: dict[str, int] = {}
        self._blobs: dict[str, tuple[Future, int]] = {}

    @property
    def slots(self) -> int:
        """How many submissions the cluster grades at once (worker threads)."""
        return max(1, sum(int(w.get("nthreads", 1)) for w in self.conn.workers().values()))

    def close(self) -> None:
        """Disconnect from the cluster (and stop it when this run started it)."""
        self.conn.close()

    def _slot(self, worker: str) -> int:
        return self._slot_of.setdefault(worker, len(self._slot_of))

    def worker_at(self, slot: int) -> str:
        """The address of the worker shown as progress line ``slot``."""
        return next(w for w, s in self._slot_of.items() if s == slot)

    def _run_blobs(self, run: RunSpec, plan: RunPlan, reference: Path | None) -> dict[str, Future]:
        """The futures of the reference's and the data files' blobs (held for the whole class)."""
        held = {}
        if reference is not None:
            held = {sha: self._hold(sha, reference / name) for name, sha in run.reference.items()}
        paths = data_files(plan)
        for setting, (_, sha) in run.data.items():
            held[sha] = self._hold(sha, paths[setting])
        return held

    def _hold(self, sha: str, path: Path) -> Future:
        """The blob future for ``sha`` (submitted once while anyone needs it)."""
        if sha in self._blobs:
            fut, count = self._blobs[sha]
        else:
            data = read_verified(path, sha)
            # A checkpoint is one file of up to a few hundred MB by design: no "large graph" note.
            with dask.config.set({"distributed.admin.large-graph-warning-threshold": "4GiB"}):
                fut = self.conn.client.submit(carry, data, key=blob_key(sha), pure=False)
            count = 0
        self._blobs[sha] = (fut, count + 1)
        return fut

    def _drop(self, shas: Sequence[str]) -> None:
        for sha in shas:
            fut, count = self._blobs[sha]
            if count <= 1:
                del self._blobs[sha]
                fut.release()
            else:
                self._blobs[sha] = (fut, count - 1)

    def _submit(
        self, sub: SubmissionInput, run: RunSpec, ref: dict[str, Future]
    ) -> tuple[Future, list[str]]:
        assert sub.staged_dir is not None
        shas = sorted(set(sub.files.values()))
        by_sha = {sha: name for name, sha in sub.files.items()}
        blobs = {sha: self._hold(sha, sub.staged_dir / by_sha[sha]) for sha in shas}
        task = TaskSpec(run=run, submission=sub.model_copy(update={"staged_dir": None}))
        future = self.conn.client.submit(
            grade_task,
            task.model_dump_json(),
            blobs,
            ref,
            key=f"nlpgrade-grade-{sub.student}-{uuid.uuid4().hex[:8]}",
            resources=self.resources or None,
            pure=False,
        )
        return future, shas

    def grade_all(
        self,
        subs: Sequence[SubmissionInput],
        plan: RunPlan,
        *,
        on_start: StartCallback | None = None,
        on_done: DoneCallback | None = None,
    ) -> list[SubmissionResult]:
        """Grade ``subs`` on the cluster; results come back in ``subs`` order."""
        results: dict[str, SubmissionResult] = {}
        todo = self._settle_here(subs, plan, results, on_done)
        self.throughput = Throughput()
        if todo:
            self._stream(todo, plan, results, on_start, on_done)
        return [results[s.student] for s in subs]

    def _settle_here(
        self,
        subs: Sequence[SubmissionInput],
        plan: RunPlan,
        results: dict[str, SubmissionResult],
        on_done: DoneCallback | None,
    ) -> list[SubmissionInput]:
        """Serve cached rows and rows with no code to run; return what the cluster must grade."""
        from grader.exporters import write_one

        todo: list[SubmissionInput] = []
        for sub in subs:
            row = cached_result(sub, plan)
            from_cache = row is not None
            if row is None:
                if sub.status == "ok" and sub.staged_dir is not None:
                    todo.append(sub)
                    continue
                row = grade_one(sub, plan, SharedMemo())  # an empty or unsafe upload
                write_one(row, plan.out_dir)
            results[sub.student] = row
            if on_done:
                on_done(row, from_cache)
        return todo

    def _stream(
        self,
        todo: list[SubmissionInput],
        plan: RunPlan,
        results: dict[str, SubmissionResult],
        on_start: StartCallback | None,
        on_done: DoneCallback | None,
    ) -> None:
        """Grade ``todo``, then once more the rows whose host was overloaded.

        As with local threads, the second pass runs after the whole class (when the run's own
        load is gone), without progress callbacks; a row still overloaded keeps its
        ``grader_error`` status, which the cache never serves.
        """
        client = self.conn.client
        shown = {s.student: s for s in todo}

        def started(event: tuple[float, dict[str, str]]) -> None:
            msg = event[1]
            if on_start is not None and msg.get("student") in shown:
                on_start(self._slot(str(msg.get("worker"))), shown[msg["student"]])

        client.subscribe_topic(START_TOPIC, started)
        try:
            run, reference = run_spec(plan, self.sandbox)
            ref = self._run_blobs(run, plan, reference)
            self._pass(todo, run, ref, plan, results, on_done)
            retry = [s for s in todo if host_overloaded(results[s.student])]
            if retry:
                shown.clear()
                self._pass(retry, run, ref, plan, results, None)
        finally:
            for fut, _ in self._blobs.values():
                fut.release()
            self._blobs.clear()
            client.unsubscribe_topic(START_TOPIC)

    def _pass(
        self,
        todo: list[SubmissionInput],
        run: RunSpec,
        ref: dict[str, Future],
        plan: RunPlan,
        results: dict[str, SubmissionResult],
        on_done: DoneCallback | None,
    ) -> None:
        """Submit ``todo`` in a sliding window and write each result as it completes."""
        from grader.exporters import write_one

        queue = list(reversed(todo))
        flying: dict[Future, tuple[SubmissionInput, list[str]]] = {}

        def launch() -> Future:
            sub = queue.pop()
            fut, shas = self._submit(sub, run, ref)
            flying[fut] = (sub, shas)
            return fut

        try:
            done = as_completed([launch() for _ in range(min(2 * self.slots + 2, len(queue)))])
            for fut in done:
                sub, shas = flying.pop(fut)
                result = self._collect(fut, sub, plan)
                write_one(result, plan.out_dir)
                results[sub.student] = result
                if on_done:
                    on_done(result, False)
                fut.release()
                self._drop(shas)
                if queue:
                    done.add(launch())
        finally:
            for fut in list(flying):
                fut.cancel()

    def _collect(self, fut: Future, sub: SubmissionInput, plan: RunPlan) -> SubmissionResult:
        """The task's result, or a row that says what went wrong on the cluster (never cached)."""
        try:
            text, worker, seconds = fut.result()
        except Exception as exc:
            return cluster_error_row(sub, plan, exc)
        self.throughput.add(worker, seconds)
        result = SubmissionResult.model_validate_json(text)
        result.cache_key = cache_key(sub, plan)  # the client's key, as local grading writes it
        result.rubric_hash = plan.rubric.hash()  # the worker's names its own copies of data files
        return result


def cluster_error_row(sub: SubmissionInput, plan: RunPlan, exc: BaseException) -> SubmissionResult:
    """A grader-error row for a task the cluster could not finish; it has no cache key, so the
    next run grades it again."""
    name = type(exc).__name__
    if name == "KilledWorker":
        why = ("every worker that tried it died (it was retried); the submission may crash or "
               "exhaust its machine, or the workers are being stopped")
    else:
        why = str(exc)
    row = empty_result(
        assignment=plan.assignment,
        rubric=plan.rubric,
        student=sub.student,
        status=SubmissionStatus.GRADER_ERROR,
        message=f"grader error on the cluster ({name}): {why}",
        source=sub.source,
        warnings=list(sub.problems),
    )
    row.identity = dict(sub.identity)
    row.submission_hash = sub.submission_hash
    row.kit_hash = plan.kit_hash
    return row
