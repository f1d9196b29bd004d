"""Shared helpers of the cluster tests: a small mlm_step class and what must match across runs."""

from __future__ import annotations

import shutil
from pathlib import Path

from grader.results import SubmissionResult

ROOT = Path(__file__).resolve().parents[2]
ZOO = ROOT / "tests" / "zoo" / "mlm_step"
MUTANTS = ("causal_mask", "erf_gelu", "builtin_softmax", "per_row_mean", "no_sqrt_scaling")


def make_class(dest: Path, n: int = 6) -> Path:
    """``n`` mlm_step students: the reference, then zoo mutants, one empty folder at the end."""
    dest.mkdir(parents=True)
    (dest / "s00_reference").mkdir()
    shutil.copy2(ROOT / "reference" / "mlm_step" / "mlm_step.py", dest / "s00_reference")
    for i in range(1, n - 1):
        name = MUTANTS[(i - 1) % len(MUTANTS)]
        shutil.copytree(ZOO / name, dest / f"s{i:02d}_{name}")
    (dest / f"s{n - 1:02d}_empty").mkdir()
    return dest


def verdicts(results: list[SubmissionResult] | dict[str, SubmissionResult]) -> dict[str, object]:
    """What must be identical wherever a class is graded: scores, statuses, checks, messages."""
    rows = results.values() if isinstance(results, dict) else results
    return {
        r.student: (
            r.score, r.status, r.message, r.submission_hash, r.cache_key, r.kit_hash,
            [(c.id, c.status, c.score, c.message, c.details) for c in r.checks],
            [(i.id, i.points, i.message) for i in r.items],
            r.warnings, r.integrity_flags,
        )
        for r in rows
    }


def read_results(out: Path) -> dict[str, SubmissionResult]:
    """Every result JSON the run wrote, by student."""
    found = {}
    for path in sorted((out / "results").glob("*.json")):
        r = SubmissionResult.model_validate_json(path.read_text())
        found[r.student] = r
    return found


_STARVED: list[int] = []


def starve_probes(every_session: bool) -> None:
    """In this process (a Dask worker, through ``client.run``), cut the CPU of a probe cgroup to
    0.5 % of a core, as a hopelessly overloaded host would: the first probe of every sandbox
    session (each grading is overloaded), or only the next probe this process starts.

    0.5 % (1 ms every 0.2 s) starves even the cheapest probe (~40 ms of CPU) past its 4 s wall
    net, in waits short enough for the run-delay counters to show it wanted the CPU.
    """
    from grader.sandbox.cgroups import ProbeCgroup, SessionCgroups

    real = getattr(SessionCgroups, "_unstarved", SessionCgroups.new_probe)
    SessionCgroups._unstarved = real  # type: ignore[attr-defined]
    _STARVED.clear()

    def new_probe(self: SessionCgroups, memory_mb: int, pids: int) -> ProbeCgroup:
        cg = real(self, memory_mb, pids)
        if not getattr(self, "_starved", False) if every_session else not _STARVED:
            self._starved = True  # type: ignore[attr-defined]  # (an id() could be reused)
            if cg.v2:
                (cg.dirs["memory"] / "cpu.max").write_text("1000 200000")
            else:
                (cg.dirs["cpu"] / "cpu.cfs_period_us").write_text("200000")
                (cg.dirs["cpu"] / "cpu.cfs_quota_us").write_text("1000")
            _STARVED.append(1)
        return cg

    SessionCgroups.new_probe = new_probe  # type: ignore[method-assign]


def starved_probes() -> int:
    """How many probe cgroups ``starve_probes`` has starved in this process."""
    return len(_STARVED)


def profiler_running(dask_worker: object) -> bool:
    """Whether this Dask worker's statistical profiler still samples (through ``client.run``)."""
    callbacks = getattr(dask_worker, "periodic_callbacks", {})
    return any(callbacks[n].is_running() for n in ("profile", "profile-cycle") if n in callbacks)
