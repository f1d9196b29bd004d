"""End to end with the real sandbox (backend "auto"): exact scores and failing checks of the zoo.

Every case is graded once each way (``grade``: with the reference; ``precheck``: without any),
two at a time as ``grade --jobs 2`` would, and the tests read those results. All ``slow``.
"""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor

import pytest

from grader.assignments import get_assignment
from grader.results import SubmissionResult
from grader.sandbox import Sandbox, get_sandbox
from grader.selftest import load_zoo
from tests.mlm_step.helpers import ROOT, grade_folder, not_passed

# The one place of expected outcomes (also read by `grade --self-test`). Here `failing` must be
# exactly the checks that do not pass, and every case states its precheck outcome too.
EXPECTED = load_zoo("mlm_step").cases
MUTANTS = sorted(n for n in EXPECTED if n not in ("reference", "template"))


@pytest.fixture(scope="module")
def sandbox() -> Sandbox:
    return get_sandbox("auto")


@pytest.fixture(scope="module")
def prepared_grade() -> object:
    assignment = get_assignment("mlm_step")
    return assignment.prepare(assignment.default_rubric(), with_reference=True)


@pytest.fixture(scope="module")
def prepared_precheck(tmp_path_factory: pytest.TempPathFactory) -> object:
    """Prepared exactly as on a student's machine: no reference folder anywhere."""
    empty = tmp_path_factory.mktemp("no-reference")
    mp = pytest.MonkeyPatch()
    mp.setenv("NLPGRADE_REFERENCE_ROOT", str(empty))
    try:
        assignment = get_assignment("mlm_step")
        assert assignment.reference_dir() is None
        prepared = assignment.prepare(assignment.default_rubric(), with_reference=True)
    finally:
        mp.undo()
    assert prepared.oracle is None
    return prepared


Graded = dict[tuple[str, bool], SubmissionResult]


@pytest.fixture(scope="module")
def graded(sandbox: Sandbox, prepared_grade: object, prepared_precheck: object,
           tmp_path_factory: pytest.TempPathFactory) -> Graded:
    """Every case graded with the reference (True) and as precheck does (False)."""
    root = tmp_path_factory.mktemp("mlm-zoo")

    def one(job: tuple[str, bool]) -> tuple[tuple[str, bool], SubmissionResult]:
        name, with_reference = job
        folder = root / f"{name}-{'grade' if with_reference else 'precheck'}"
        shutil.copytree(ROOT / EXPECTED[name].path, folder)
        prepared = prepared_grade if with_reference else prepared_precheck
        return job, grade_folder(folder, sandbox, prepared, with_reference=with_reference)

    with ThreadPoolExecutor(2) as pool:
        return dict(pool.map(one, [(n, ref) for n in sorted(EXPECTED) for ref in (True, False)]))


def _assert_grade(name: str, graded: Graded) -> None:
    result = graded[(name, True)]
    want = EXPECTED[name]
    assert (result.score, not_passed(result)) == (want.score, sorted(want.failing)), [
        (c.id, c.status, c.message[:300]) for c in result.checks if c.status != "passed"]


def _assert_precheck(name: str, graded: Graded) -> None:
    result = graded[(name, False)]
    want = EXPECTED[name]
    assert {c.tier for c in result.checks} <= {"file", "property"}
    assert (result.score, not_passed(result)) == (
        want.precheck_score, sorted(want.precheck_failing or [])), [
        (c.id, c.status, c.message[:300]) for c in result.checks if c.status != "passed"]


@pytest.mark.slow
def test_reference_full_marks(graded: Graded) -> None:
    _assert_grade("reference", graded)


@pytest.mark.slow
def test_template_zero_with_todos(graded: Graded) -> None:
    result = graded[("template", True)]
    assert result.score == 0.0
    todo = {c.id for c in result.checks if c.status == "todo"}
    assert {"structure.output", "forward.loss", "selfcheck.fd"} <= todo
    assert all("TODO forward" in c.message for c in result.checks if c.id in todo)


@pytest.mark.slow
def test_precheck_without_reference(graded: Graded) -> None:
    _assert_precheck("reference", graded)


@pytest.mark.slow
@pytest.mark.parametrize("name", MUTANTS)
def test_mutant_grade(name: str, graded: Graded) -> None:
    _assert_grade(name, graded)


def test_every_case_states_its_precheck_outcome() -> None:
    assert all(c.precheck_score is not None and c.precheck_failing is not None
               for c in EXPECTED.values())


@pytest.mark.slow
@pytest.mark.parametrize("name", [*MUTANTS, "template"])
def test_mutant_precheck(name: str, graded: Graded) -> None:
    _assert_precheck(name, graded)


@pytest.mark.slow
def test_messages_point_at_the_bug(graded: Graded) -> None:
    result = graded[("grad_to_original_ids", True)]
    emb = result.check("update.w_emb")
    assert emb is not None and "corrupted" in emb.message and "w_head" in emb.message
    result = graded[("uses_backward", True)]
    rules = result.check("rules.static")
    assert rules is not None and "mlm_step.py:" in rules.message and "loss.backward()" in (
        rules.message)
    runtime = result.check("rules.runtime")
    assert runtime is not None and "Tensor.backward()" in runtime.message


def _grade(name: str, graded: Graded) -> dict[str, object]:
    return {c.id: c for c in graded[(name, True)].checks}


@pytest.mark.slow
def test_eps_slip_is_sent_to_the_layer_norm(graded: Graded) -> None:
    for name in ("eps_1e12", "ref_eps_1e12"):
        checks = _grade(name, graded)
        loss = checks["forward.loss"].message
        assert "small activations" in loss and "eps" in loss, loss
        for item in ("update.attention", "update.w_head"):
            msg = checks[item].message
            assert "fix the forward pass first" in msg and "eps" in msg, msg
            assert "attention_backward" not in msg, msg
    assert "layer_norm is right on unit-scale rows" in loss  # the reference keeps its helpers


@pytest.mark.slow
def test_missing_random_branch_is_named(graded: Graded) -> None:
    checks = _grade("ref_no_random_token", graded)
    assert "random-token branch" in checks["forward.loss"].message


@pytest.mark.slow
def test_syntax_error_is_reported_as_one(graded: Graded) -> None:
    checks = _grade("syntax_error", graded)
    static = checks["rules.static"].message
    line = next(i for i, ln in enumerate(
        (ROOT / EXPECTED["syntax_error"].path / "mlm_step.py").read_text().splitlines(), 1)
        if ln.startswith("def ln_fwd(x)"))
    assert static.startswith(f"mlm_step.py, line {line}: SyntaxError: "), static
    assert "Replace them" not in static and "tensor maths" not in static
    assert "SyntaxError" in checks["structure.output"].message


@pytest.mark.slow
def test_overflow_in_one_part_costs_only_that_part(graded: Graded) -> None:
    checks = _grade("emb_grad_mean_nan", graded)
    for kept in ("structure.pure", "structure.determinism", "update.w_head", "update.attention",
                 "update.ffn", "update.pos_embed", "forward.loss", "rules.runtime"):
        assert checks[kept].status == "passed", (kept, checks[kept].message)
    out = checks["structure.output"].message
    assert "non-finite" in out and "w_emb" in out and "softmax" not in out, out
    assert "mlm_loss is finite on this case" in out


@pytest.mark.slow
def test_cases_left_must_still_cover_the_matrix(graded: Graded) -> None:
    checks = _grade("raises_multi_head", graded)
    msg = checks["update.attention"].message
    assert msg.startswith("Not judged") and "head count > 1" in msg, msg
    assert checks["structure.pure"].status == "passed"
