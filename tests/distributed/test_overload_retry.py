"""On a real local cluster, a submission whose probes were starved of CPU on its worker (a
real probe cgroup of the worker cut to 0.5 % of a core) is submitted once more after the class, as
local threads regrade it: when the worker is fine by then the row gets its real grade and is
cached; when it is not, the row says "the grading machine was overloaded; regrade" and the next
run grades it again."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from grader.assignments import get_assignment
from grader.batch import RunPlan, cached_result, intake, prepare_run
from grader.engine import HOST_OVERLOAD_MESSAGE
from grader.results import SubmissionResult, SubmissionStatus
from grader.sandbox import get_sandbox
from grader.sandbox.cgroups import create_session_cgroups
from tests.distributed.helpers import ROOT, starve_probes, starved_probes

distributed = pytest.importorskip("distributed")

pytestmark = pytest.mark.slow


def _plan(out: Path) -> RunPlan:
    assignment = get_assignment("mlm_step")
    rubric = assignment.default_rubric()
    rubric = rubric.model_copy(update={"settings": {**rubric.settings, "probe_cpu_s": 1.0}})
    plan = RunPlan(assignment=assignment, rubric=rubric, sandbox=get_sandbox("bwrap"),
                   out_dir=out)
    prepare_run(plan)
    return plan


def _failed(row: SubmissionResult) -> list[tuple[str, str, str]]:
    return [(c.id, c.status, c.message) for c in row.checks if c.status != "passed"]


def test_a_starved_row_is_resubmitted_and_never_cached(tmp_path: Path) -> None:
    from grader.distributed.client import ClusterEngine
    from grader.distributed.cluster import check_cluster, connect

    cg, why = create_session_cgroups(1.0)
    if cg is None or not cg.cpu_share:
        pytest.skip(f"no cpu cgroup controller here ({why or 'cpu not delegated'})")
    cg.destroy()
    (tmp_path / "class" / "ann").mkdir(parents=True)
    shutil.copy2(ROOT / "reference" / "mlm_step" / "mlm_step.py", tmp_path / "class" / "ann")

    conn = connect(None, "local:1")
    try:
        check_cluster(conn, "bwrap", {})
        [worker] = conn.workers()

        def grade(out: Path) -> tuple[RunPlan, list, list[SubmissionResult], ClusterEngine]:
            plan = _plan(out)
            subs = intake(tmp_path / "class", plan)
            engine = ClusterEngine(conn, sandbox="bwrap", resources={})
            firsts: list[SubmissionResult] = []
            [row] = engine.grade_all(subs, plan, on_done=lambda r, cached: firsts.append(r))
            return plan, subs, [*firsts, row], engine

        # The worker stays overloaded: both passes starve, the row says so and is not cached.
        conn.client.run(starve_probes, True)
        plan, subs, (first, row), engine = grade(tmp_path / "always")
        assert first.message == HOST_OVERLOAD_MESSAGE, _failed(first)  # the first pass, as it came
        assert (row.status, row.message) == (SubmissionStatus.GRADER_ERROR,
                                             HOST_OVERLOAD_MESSAGE), _failed(row)
        assert any(c.details.get("host_overload") for c in row.checks)
        assert engine.throughput.workers[worker].graded == 2  # submitted again after the class
        assert conn.client.run(starved_probes)[worker] >= 2  # both passes ran probes there
        on_disk = SubmissionResult.model_validate_json(
            next((plan.out_dir / "results").glob("*.json")).read_text())
        assert on_disk.message == HOST_OVERLOAD_MESSAGE
        assert cached_result(subs[0], plan) is None  # the next run grades it again

        # Overloaded during the first pass only: the second pass gives the real grade.
        conn.client.run(starve_probes, False)
        plan, subs, (first, row), engine = grade(tmp_path / "once")
        assert first.message == HOST_OVERLOAD_MESSAGE, _failed(first)
        assert row.status == SubmissionStatus.GRADED and row.score == row.max_score, _failed(row)
        assert engine.throughput.workers[worker].graded == 2
        assert cached_result(subs[0], plan) is not None  # a real grade is cached as usual
    finally:
        conn.close()
