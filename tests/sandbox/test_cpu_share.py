"""A neighbour's CPU hog costs a correct submission nothing: each session has its own CPU share
(one core) and budgets are CPU time of the probe's tree, so a submission that starts 60 busy
processes slows only itself, and the correct one graded beside it keeps full marks."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from grader.cli import grade_main
from grader.results import SubmissionResult, SubmissionStatus
from grader.sandbox import Limits, ProbeOutcome, get_sandbox

from .conftest import World

ROOT = Path(__file__).resolve().parents[2]
HOG = Limits(cpu_s=900, wall_s=900, memory_mb=1024, pids=80)


def _hog(world: World, stop: threading.Event, outs: list[ProbeOutcome]) -> None:
    """Run 60-process hogs of 15 s each until told to stop."""
    with get_sandbox("bwrap").open(world.spec(preload_torch=False, limits=HOG)) as sess:
        while not stop.is_set():
            outs.append(sess.run("call", {"func": "hog", "kwargs": {"n": 60, "seconds": 15}},
                                 limits=HOG))


@pytest.mark.slow
def test_correct_submission_beside_a_60_process_hog_keeps_full_marks(
    world: World, tmp_path: Path
) -> None:
    stop = threading.Event()
    outs: list[ProbeOutcome] = []
    hog = threading.Thread(target=_hog, args=(world, stop, outs), daemon=True)
    hog.start()
    time.sleep(3)  # the hog is up and busy
    t0 = time.monotonic()
    try:
        rc = grade_main([str(ROOT / "examples" / "bert_pretrain"), "--only", "alice_correct",
                         "--profile", "small", "--jobs", "1", "--out", str(tmp_path / "out")])
    finally:
        graded_s = time.monotonic() - t0
        stop.set()
        hog.join(timeout=120)
    row = SubmissionResult.model_validate_json(
        (tmp_path / "out" / "results" / "alice_correct.json").read_text())
    hog_cpu = sum(o.cpu_s or 0.0 for o in outs)
    print(f"graded in {graded_s:.1f} s beside a hog that used {hog_cpu:.1f} s CPU "
          f"in {sum(o.wall_s for o in outs):.1f} s ({len(outs)} probes)")
    assert rc == 0
    assert (row.score, row.status) == (row.max_score, SubmissionStatus.GRADED), [
        (c.id, c.status, c.message) for c in row.checks if c.status != "passed"]
    assert outs and outs[0].status == "ok" and outs[0].data["result"] == 60, outs[:1]
    assert hog_cpu > 5.0  # it really burned CPU next to the grading
