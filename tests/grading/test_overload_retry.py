"""A submission whose probes were starved of CPU (here: the real probe cgroups cut to 0.5 % of a
core, as a hopelessly overloaded host would) is graded again after the class; when the host is
fine by then it gets its real grade, and when it is not the row says "the grading machine was
overloaded; regrade" and is not served from the cache on the next run."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from grader.assignments import get_assignment
from grader.batch import RunPlan, cached_result, grade_all, intake, prepare_run
from grader.engine import HOST_OVERLOAD_MESSAGE
from grader.results import SubmissionResult, SubmissionStatus
from grader.sandbox import get_sandbox
from grader.sandbox.cgroups import ProbeCgroup, SessionCgroups, create_session_cgroups

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def _starve(monkeypatch: pytest.MonkeyPatch, while_: Callable[[], bool]) -> list[int]:
    """Cut the CPU of every probe group made while ``while_()`` holds to 0.5 % of a core.

    1 ms per 200 ms period: 20 ms of CPU in the 4 s wall net. A short period keeps the throttled
    wait still in progress at the deadline small, so the wait counters see the starvation.
    """
    real = SessionCgroups.new_probe
    starved: list[int] = []

    def new_probe(self: SessionCgroups, memory_mb: int, pids: int) -> ProbeCgroup:
        cg = real(self, memory_mb, pids)
        if while_():
            if cg.v2:
                (cg.dirs["memory"] / "cpu.max").write_text("1000 200000")
            else:
                (cg.dirs["cpu"] / "cpu.cfs_period_us").write_text("200000")
                (cg.dirs["cpu"] / "cpu.cfs_quota_us").write_text("1000")
            starved.append(1)
        return cg

    monkeypatch.setattr(SessionCgroups, "new_probe", new_probe)
    return starved


def _plan(tmp_path: Path, name: str) -> RunPlan:
    assignment = get_assignment("mlm_step")
    rubric = assignment.default_rubric()
    rubric = rubric.model_copy(update={"settings": {**rubric.settings, "probe_cpu_s": 1.0}})
    return RunPlan(assignment=assignment, rubric=rubric, sandbox=get_sandbox("bwrap"),
                   out_dir=tmp_path / name, jobs=1)


def test_starved_row_is_retried_and_never_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cg, why = create_session_cgroups(1.0)
    if cg is None or not cg.cpu_share:
        pytest.skip(f"no cpu cgroup controller here ({why or 'cpu not delegated'})")
    cg.destroy()
    subs_dir = tmp_path / "class" / "ann"
    subs_dir.mkdir(parents=True)
    shutil.copy2(ROOT / "reference" / "mlm_step" / "mlm_step.py", subs_dir / "mlm_step.py")

    # The host stays overloaded: both passes starve, the row says so and is not cached.
    starved = _starve(monkeypatch, lambda: True)
    plan = _plan(tmp_path, "always")
    prepare_run(plan)
    subs = intake(tmp_path / "class", plan)
    firsts: list[SubmissionResult] = []
    [row] = grade_all(subs, plan, on_done=lambda r, cached: firsts.append(r))
    assert firsts[0].message == HOST_OVERLOAD_MESSAGE  # the first pass, before the retry
    assert (row.status, row.message) == (SubmissionStatus.GRADER_ERROR, HOST_OVERLOAD_MESSAGE)
    assert any(c.details.get("host_overload") for c in row.checks)
    assert "regrade" in next(c.message for c in row.checks if c.details.get("host_overload"))
    assert cached_result(subs[0], plan) is None
    n_first = len(starved)
    assert n_first >= 2  # the first pass and the retry both ran probes

    # Overloaded during the first pass only: the retry after the class gives the real grade.
    # (Every probe of the first pass is starved: a light one may finish on its 20 ms, the first
    # that does not voids the pass; the retry's probes are not starved.)
    monkeypatch.undo()
    firsts.clear()
    _starve(monkeypatch, lambda: not firsts)
    plan = _plan(tmp_path, "once")
    prepare_run(plan)
    subs = intake(tmp_path / "class", plan)
    [row] = grade_all(subs, plan, on_done=lambda r, cached: firsts.append(r))
    assert firsts[0].message == HOST_OVERLOAD_MESSAGE
    assert row.status == SubmissionStatus.GRADED and row.score == row.max_score, [
        (c.id, c.status, c.message) for c in row.checks if c.status != "passed"]
    assert cached_result(subs[0], plan) is not None  # a real grade is cached as usual
