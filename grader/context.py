"""The grading context: what a check sees while one submission is graded.

It opens sandbox sessions lazily (one worker per session kind, torch imported once), memoises probe
outcomes so that several checks share one probe run, and turns a probe that did not return normally
into a check status with a message the student can act on.
"""

from __future__ import annotations

import builtins
import hashlib
import json
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import torch

from grader.results import CheckResult, CheckStatus, Timings
from grader.sandboxtext import sandbox_name, sandbox_text
from grader.sourcefile import SourceRejected, read_source
from grader.verdict import CheckStopped, Verdict

if TYPE_CHECKING:
    from grader.rubric import Rubric
    from grader.sandbox import Limits, ProbeOutcome, Sandbox, SandboxSpec, Session


class AssignmentView(Protocol):
    """What the context needs of its assignment (``grader.assignments.base.Assignment``, which
    imports this module: naming the class here would close an import circle)."""

    name: str
    required_files: tuple[str, ...]
    framework_files: tuple[str, ...]

    def sandbox_spec(self, ctx: GradingContext, session: str) -> SandboxSpec:
        """The complete sandbox spec of a session kind."""
        ...

    def session_view(self, session: str) -> tuple[str, dict[str, str] | None]:
        """Which worker runs probes of a session kind, and through which view."""
        ...


def tensors_digest(tensors: Mapping[str, torch.Tensor] | None) -> str:
    """A stable digest of named tensors (memo keys for probe calls)."""
    h = hashlib.sha256()
    for name in sorted(tensors or {}):
        t = tensors[name].detach().contiguous().cpu()  # type: ignore[index]
        h.update(name.encode())
        h.update(str((t.dtype, tuple(t.shape))).encode())
        h.update(t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.float().numpy().tobytes())
    return h.hexdigest()


class SharedMemo:
    """What one grading thread keeps across the submissions it grades.

    Only outcomes that cannot depend on the submission are kept: probe outcomes whose
    ``share_key`` names everything they depend on, and judgements of shared inputs. No sandbox
    session is shared: every worker runs one submission's code, and no reference code runs in a
    sandbox at all (the parent recomputes what it trusts).
    """

    def __init__(self) -> None:
        self.memo: dict[tuple[str, str], ProbeOutcome] = {}
        self.values: dict[str, Any] = {}  # judgements that depend on shared inputs only

    def close(self) -> None:
        """Forget everything kept (the thread has graded its last submission)."""
        self.memo.clear()
        self.values.clear()


class GradingContext:
    """Everything a check of one submission may use."""

    def __init__(
        self,
        *,
        assignment: AssignmentView,
        rubric: Rubric,
        prepared: Any,
        sandbox: Sandbox,
        student: str,
        submission_dir: Path,
        files: Mapping[str, str],
        with_reference: bool,
        shared: SharedMemo | None = None,
        seed: int = 0,
    ) -> None:
        self.assignment = assignment
        self.rubric = rubric
        self.prepared = prepared
        self.sandbox = sandbox
        self.student = student
        self.submission_dir = submission_dir
        self.files = dict(files)
        self.with_reference = with_reference
        self.shared = shared if shared is not None else SharedMemo()
        self.seed = seed
        self.results: dict[str, CheckResult] = {}
        self.warnings: list[str] = []
        self.integrity_flags: list[str] = []
        self.patched: list[str] = []  # torch/builtins names student code changed (a hint)
        self.host_overloaded = False  # a probe was starved of CPU by the host: regrade the row
        self.timings = Timings()
        self._sessions: dict[str, Session] = {}
        self._memo: dict[tuple[str, str], ProbeOutcome] = {}

    # -- settings -----------------------------------------------------------------------------
    def setting(self, name: str, default: Any) -> Any:
        """A rubric setting (threshold, tolerance, profile) with its default."""
        return self.rubric.setting(name, default)

    def has_file(self, name: str) -> bool:
        """Whether the submission contains ``name`` (a name ending in ``/``: a staged folder with
        at least one file)."""
        if name.endswith("/"):
            return any(f.startswith(name) for f in self.files)
        return name in self.files and (self.submission_dir / name).is_file()

    def warn(self, message: str) -> None:
        """Add a warning shown to the student and the instructor (once)."""
        if message not in self.warnings:
            self.warnings.append(message)

    # -- sessions and probes ------------------------------------------------------------------
    def session(self, kind: str) -> Session:
        """This submission's sandbox session of ``kind`` (opened on first use)."""
        if kind not in self._sessions:
            spec = self.assignment.sandbox_spec(self, kind)
            self._sessions[kind] = self.sandbox.open(spec)
        return self._sessions[kind]

    def probe(
        self,
        name: str,
        params: Mapping[str, Any] | None = None,
        inputs: Mapping[str, torch.Tensor] | None = None,
        *,
        session: str = "student",
        seed: int | None = None,
        limits: Limits | None = None,
        share_key: str | None = None,
    ) -> ProbeOutcome:
        """Run probe ``name`` in the session ``session`` (memoised on its arguments).

        ``share_key`` names everything the outcome depends on besides the arguments (e.g. the
        hash of the one student file the probe runs); with it the outcome is shared across the
        submissions a grading thread grades.
        """
        seed = self.seed if seed is None else seed
        key_text = json.dumps([name, params or {}, seed, share_key], sort_keys=True, default=str)
        key = (session, key_text + tensors_digest(inputs))
        memo = self.shared.memo if share_key else self._memo
        if key in memo:
            return self._noted(memo[key])
        if self.host_overloaded:  # this pass is void and regraded: spend no more of the host
            from grader.sandbox import ProbeOutcome, ProbeStatus

            return ProbeOutcome(
                probe=name,
                status=ProbeStatus.HOST_OVERLOAD,
                message="not run: an earlier probe of this submission was starved of CPU",
            )
        worker_kind, view = self.assignment.session_view(session)
        sess = self.session(worker_kind)
        starts_before = sess.stats.get("worker_start_s", 0.0)
        count_before = sess.stats.get("worker_starts", 0)
        t0 = time.perf_counter()
        outcome = sess.run(
            name, dict(params or {}), dict(inputs or {}), seed=seed, limits=limits, view=view
        )
        elapsed = time.perf_counter() - t0
        start_cost = sess.stats.get("worker_start_s", 0.0) - starts_before
        self.timings.worker_start_s += start_cost
        self.timings.worker_starts += sess.stats.get("worker_starts", 0) - count_before
        self.timings.probes_s += elapsed - start_cost
        if outcome.status == "host_overload":
            self.host_overloaded = True  # not memoised: the next ask runs it again
            return self._noted(outcome)
        memo[key] = outcome
        return self._noted(outcome)

    def _noted(self, outcome: ProbeOutcome) -> ProbeOutcome:
        """Collect what the student's code changed in torch/builtins (a hint for feedback)."""
        self.patched.extend(n for n in outcome.patched if n not in self.patched)
        return outcome

    def require(
        self,
        outcome: ProbeOutcome,
        doing: str,
        *,
        near_secrets: bool = False,
    ) -> ProbeOutcome:
        """Return ``outcome`` when the probe returned normally; otherwise end the check.

        ``doing`` completes the sentence "while ...", e.g. "building BERT()". ``near_secrets``:
        the probe ran with hidden material mounted, so the message is scrubbed of it.
        """
        from grader.sandbox import ProbeStatus

        if outcome.status == ProbeStatus.OK and outcome.error is None:
            return outcome
        if outcome.status == ProbeStatus.TIMEOUT:
            raise CheckStopped(self._timeout_verdict(outcome, doing))
        if near_secrets:
            raise CheckStopped(self._scrubbed_failure(outcome, doing))
        raise CheckStopped(probe_failure_verdict(outcome, doing))

    def _source_lines(self, frames: list[str]) -> list[str]:
        """``  file.py:LINE: source`` for frames in the student's files, read from the staged copy.

        Only the parent's own copy is read, at line numbers that exist in that file, so nothing
        the sandbox wrote reaches the message.
        """
        lines = []
        for frame in frames:
            m = FRAME.match(frame)
            if not m or m.group(1) not in self.files:
                continue
            try:
                text = read_source(self.submission_dir / m.group(1)).splitlines()
            except SourceRejected:
                continue
            lineno = int(m.group(2)) if len(m.group(2)) < 7 else 0
            if not 1 <= lineno <= len(text):
                continue
            lines.append(f"  {m.group(1)}:{lineno}: {text[lineno - 1].strip()}"[:200])
        return lines

    def _timeout_verdict(self, outcome: ProbeOutcome, doing: str) -> Verdict:
        """A stopped probe, with the line of the student's code it was stuck at when known."""
        where = self._source_lines(outcome.stuck_at[-4:])
        msg = f"Stopped while {doing}: {outcome.message}."
        if not where:
            msg += (
                " Where it was could not be told (not inside your files). Look for a loop that "
                "never ends, or work far larger than the assignment needs."
            )
            return Verdict(CheckStatus.TIMEOUT, msg)
        msg += "\nYour code was still running here when it was stopped (innermost last):\n"
        msg += "\n".join(where)
        innermost = FRAME.match(outcome.stuck_at[-1])
        if innermost and outcome.stuck_at[-1].endswith(" in <module>"):
            msg += (
                f"\n{innermost.group(1)}:{innermost.group(2)} is top-level code: it runs as soon "
                "as the file is imported or run."
            )
        msg += (
            "\nLook at what that line repeats or waits for: everything this check needs takes a "
            "small part of the budget."
        )
        return Verdict(CheckStatus.TIMEOUT, msg, details={"stuck_at": outcome.stuck_at[-4:]})

    def _scrubbed_failure(self, outcome: ProbeOutcome, doing: str) -> Verdict:
        """A failure message built from trusted data only.

        When hidden material was mounted next to student code, any text the worker returns
        (exception messages and names, frames, exported file names) could carry it out, so the
        student sees only a built-in exception's name and their own source lines as the PARENT
        reads them from the staged submission, at line numbers that exist in that file.
        """
        from grader.sandbox import ProbeStatus

        if outcome.error is None:
            if outcome.status in (ProbeStatus.TIMEOUT, ProbeStatus.OOM):
                return probe_failure_verdict(outcome, doing)  # worded from the limits alone
            return Verdict(
                CheckStatus.ERROR,
                f"Your code stopped while {doing} (it crashed, exited early or left output the "
                "grader refused). The details are not shown for this check because it runs next "
                "to hidden material; run the file yourself to see what happens.",
            )
        err = outcome.error
        etype = err.type if _is_builtin_exception(err.type) else "an exception"
        lines = self._source_lines(err.student_frames[-4:])
        status = CheckStatus.TODO if err.todo else CheckStatus.ERROR
        what = "reached an unfilled TODO" if err.todo else f"raised {etype}"
        msg = (
            f"Your code {what} while {doing}. (The error text is not shown for this check "
            "because it runs next to hidden material; run the file yourself to see it.)"
        )
        if lines:
            msg += "\nWhere (your files, innermost last):\n" + "\n".join(lines)
        return Verdict(status, msg, details={"error_type": etype})

    def close(self) -> None:
        """Stop this submission's workers."""
        for sess in self._sessions.values():
            sess.close()
        self._sessions.clear()


FRAME = re.compile(r"^([\w./-]+\.py):(\d+)")


def _is_builtin_exception(name: str) -> bool:
    """Whether ``name`` is a built-in exception class (a name the sandbox cannot make up)."""
    obj = getattr(builtins, name, None) if name.isidentifier() else None
    return isinstance(obj, type) and issubclass(obj, BaseException)


def probe_failure_verdict(outcome: ProbeOutcome, doing: str) -> Verdict:
    """Describe a probe that did not return normally as a verdict a student can act on."""
    from grader.sandbox import ProbeStatus

    if outcome.error is not None:
        err = outcome.error
        etype, message = sandbox_name(err.type), sandbox_text(err.message)
        frames = [sandbox_text(f, 200) for f in err.student_frames[-4:]]
        where = f"\n  at {frames[-1]}" if frames else ""
        if err.todo:
            # The frame's source line is the `raise NotImplementedError(<the message>)`: keep
            # only the place, or the TODO text would be printed twice.
            where = where.split(": ", 1)[0]
            return Verdict(
                CheckStatus.TODO,
                f"Not written yet: {doing} reached an unfilled TODO ({message}).{where}",
                details={"error_type": etype},
            )
        trace = "\n".join(f"  {f}" for f in frames)
        msg = f"Your code raised {etype} while {doing}: {message}"
        if trace:
            msg += f"\nTraceback (your files, innermost last):\n{trace}"
        return Verdict(CheckStatus.ERROR, msg, details={"error_type": etype})
    said = sandbox_text(outcome.message)  # may quote sandbox-chosen names (rejected outputs)
    if outcome.status == ProbeStatus.HOST_OVERLOAD:
        return Verdict(
            CheckStatus.ERROR,
            f"Not graded: the grading machine was overloaded while {doing} "
            f"({outcome.message}). This says nothing about your code; it will be regraded.",
            details={"host_overload": True},
        )
    if outcome.status == ProbeStatus.TIMEOUT and outcome.message.startswith("sat idle"):
        return Verdict(  # it did not use the CPU: no endless loop, something waited
            CheckStatus.TIMEOUT,
            f"Stopped while {doing}: {said}. Look for a sleep, or a wait on input, a lock or a "
            "process that never answers.",
        )
    if outcome.status == ProbeStatus.TIMEOUT:
        return Verdict(
            CheckStatus.TIMEOUT,
            f"Stopped while {doing}: {said}. Look for an endless loop, or work far "
            "larger than the assignment needs.",
        )
    if outcome.status == ProbeStatus.OOM:
        return Verdict(
            CheckStatus.OOM,
            f"Stopped while {doing}: {said}. Something allocates far more memory than "
            "this model needs (a huge tensor, or keeping every batch's graph alive).",
        )
    return Verdict(CheckStatus.ERROR, f"Your code stopped while {doing}: {said}")
