"""A probe that reaches the wall-clock net is judged by what it did: starved of CPU (here: its
session's real CPU share cut to 1 % of a core, as a hopelessly overloaded host would) is
``host_overload``, never the student's fault; sleeping is a ``timeout`` that says it sat idle.
And an overloaded row is never served from the cache."""

from __future__ import annotations

from pathlib import Path

import pytest

import grader.sandbox.session as session_mod
from grader.assignments import get_assignment
from grader.batch import RunPlan, cache_key, cached_result
from grader.engine import HOST_OVERLOAD_MESSAGE, empty_result
from grader.exporters import write_one
from grader.intake import SubmissionInput
from grader.results import SubmissionStatus
from grader.sandbox import Limits, ProbeStatus, get_sandbox
from grader.sandbox.cgroups import create_session_cgroups

from .conftest import World

NET = Limits(cpu_s=20, wall_s=3, memory_mb=512, pids=16)


def _starved_cgroups(cpus: float | None = 1.0) -> tuple[object, str]:
    """The real session cgroups with a CPU share of 1 % of a core."""
    return create_session_cgroups(0.01)


def test_starved_probe_is_host_overload_and_sleeper_is_idle(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    cg, why = create_session_cgroups(1.0)
    if cg is None or not cg.cpu_share:
        pytest.skip(f"no cpu cgroup controller here ({why or 'cpu not delegated'})")
    cg.destroy()
    with get_sandbox("bwrap").open(world.spec(preload_torch=False)) as sess:
        slept = sess.run("call", {"func": "ignore_sigterm"}, limits=NET)
    monkeypatch.setattr(session_mod, "create_session_cgroups", _starved_cgroups)
    with get_sandbox("bwrap").open(world.spec(preload_torch=False)) as sess:
        spun = sess.run("call", {"func": "spin"}, limits=NET)
    assert spun.status is ProbeStatus.HOST_OVERLOAD, spun.message
    assert "overloaded" in spun.message
    assert slept.status is ProbeStatus.TIMEOUT, slept.message
    assert slept.message.startswith("sat idle")


def test_an_overloaded_row_is_not_served_from_the_cache(tmp_path: Path) -> None:
    assignment = get_assignment("mlm_step")
    rubric = assignment.default_rubric()
    plan = RunPlan(assignment=assignment, rubric=rubric, sandbox=get_sandbox("process"),
                   out_dir=tmp_path)
    sub = SubmissionInput(student="ann", source="ann/", layout="folder", staged_dir=tmp_path,
                          status="ok", message="", submission_hash="abc")
    for status, message, served in [
        (SubmissionStatus.GRADED, "all checks passed", True),
        (SubmissionStatus.GRADER_ERROR, HOST_OVERLOAD_MESSAGE, False),
    ]:
        row = empty_result(assignment=assignment, rubric=rubric, student="ann", status=status,
                           message=message)
        row.cache_key = cache_key(sub, plan)
        write_one(row, tmp_path)
        assert (cached_result(sub, plan) is not None) == served, status
