"""The mutant and hostile zoo of CS310 A6: every case gets exactly its expected score.

One class run grades all cases (2 graders, the real sandbox, the real reference) so that the
whole zoo costs one run; each test then reads its own case's result.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from grader.assignments import get_assignment
from grader.results import CheckStatus, SubmissionResult
from grader.selftest import grade_zoo, load_zoo, mismatches

pytestmark = pytest.mark.slow

ZOO = load_zoo("bert_pretrain")
MARKER = Path("/tmp/nlpgrade-pickle-payload-ran")


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, SubmissionResult]:
    MARKER.unlink(missing_ok=True)
    out = tmp_path_factory.mktemp("zoo-out")
    _, results = grade_zoo("bert_pretrain", jobs=2, out_dir=out)
    return {r.student: r for r in results}


@pytest.mark.parametrize("case", sorted(ZOO.cases))
def test_case_gets_its_expected_score(graded: dict[str, SubmissionResult], case: str) -> None:
    result = graded[case]
    problems = mismatches(ZOO, [result]).get(case, [])
    failing = {c.id: f"{c.status.value}: {c.message[:200]}" for c in result.checks
               if c.status != CheckStatus.PASSED}
    assert not problems, f"{case}: {problems}; checks not passed: {failing}"


def test_reference_and_template_bounds(graded: dict[str, SubmissionResult]) -> None:
    assert graded["reference"].score == graded["reference"].max_score == 50
    assert graded["template"].score == 0
    todo = [c for c in graded["template"].checks if c.status == CheckStatus.TODO]
    assert todo, "the template's holes must be reported as TODOs"
    assert all("TODO" in c.message and "Traceback" not in c.message for c in todo)


def test_every_failed_check_explains_itself(graded: dict[str, SubmissionResult]) -> None:
    for result in graded.values():
        for c in result.checks:
            if c.status in (CheckStatus.FAILED, CheckStatus.ERROR, CheckStatus.TIMEOUT,
                            CheckStatus.OOM, CheckStatus.TODO):
                assert len(c.message) > 40, f"{result.student}/{c.id}: {c.message!r}"


def test_pickle_payload_never_ran(graded: dict[str, SubmissionResult]) -> None:
    check = graded["hostile_pickle_checkpoint"].check("checkpoint.loss")
    assert check is not None and check.status == CheckStatus.FAILED
    assert "other than tensors" in check.message
    assert not MARKER.exists()


def test_forged_files_land_nowhere_outside_the_sandbox(graded: dict[str, SubmissionResult]) -> None:
    assert graded["hostile_forge"].score == graded["causal_mask"].score
    for path in ("/tmp/results.json", os.path.expanduser("~/results.json")):
        assert not Path(path).exists(), path


def test_hidden_material_never_reaches_feedback(graded: dict[str, SubmissionResult]) -> None:
    ref = get_assignment("bert_pretrain").reference_dir()
    assert ref is not None
    solution = [ln.strip() for ln in (ref / "model.py").read_text().splitlines()
                if len(ln.strip()) > 25 and not ln.strip().startswith("#")]
    result = graded["hostile_reads_secrets"]
    text = "\n".join(c.message for c in result.checks) + "\n".join(result.warnings)
    assert "error text is not shown" in result.check("train.loop").message
    leaked = [ln for ln in solution if ln in text]
    assert not leaked, leaked[:3]
    assert "/reference_model/" not in text and "/etc/shadow" not in text


def test_timeouts_and_oom_are_told_apart(graded: dict[str, SubmissionResult]) -> None:
    loop = graded["hostile_infinite_loop"].check("model.imports")
    bomb = graded["hostile_memory_bomb"].check("model.imports")
    assert loop is not None and loop.status == CheckStatus.TIMEOUT
    assert bomb is not None and bomb.status == CheckStatus.OOM
    assert "wall-clock" in loop.message and "MiB" in bomb.message
