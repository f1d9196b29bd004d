"""End to end with the real sandbox (backend "auto"): exact scores and failing checks of the zoo.

The quick tests grade the reference and the template both ways; the whole zoo is ``slow``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from grader.assignments import get_assignment
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


def _staged(name: str, tmp_path: Path) -> Path:
    folder = tmp_path / name
    shutil.copytree(ROOT / EXPECTED[name].path, folder)
    return folder


def _assert_grade(name: str, sandbox: Sandbox, prepared: object, tmp_path: Path) -> None:
    result = grade_folder(_staged(name, tmp_path), sandbox, prepared, with_reference=True)
    want = EXPECTED[name]
    assert (result.score, not_passed(result)) == (want.score, sorted(want.failing)), [
        (c.id, c.status, c.message[:300]) for c in result.checks if c.status != "passed"]


def _assert_precheck(name: str, sandbox: Sandbox, prepared: object, tmp_path: Path) -> None:
    result = grade_folder(_staged(name, tmp_path), sandbox, prepared, with_reference=False)
    want = EXPECTED[name]
    assert {c.tier for c in result.checks} <= {"file", "property"}
    assert (result.score, not_passed(result)) == (
        want.precheck_score, sorted(want.precheck_failing or [])), [
        (c.id, c.status, c.message[:300]) for c in result.checks if c.status != "passed"]


@pytest.mark.slow
def test_reference_full_marks(sandbox: Sandbox, prepared_grade: object, tmp_path: Path) -> None:
    _assert_grade("reference", sandbox, prepared_grade, tmp_path)


@pytest.mark.slow
def test_template_zero_with_todos(
    sandbox: Sandbox, prepared_grade: object, tmp_path: Path
) -> None:
    result = grade_folder(_staged("template", tmp_path), sandbox, prepared_grade,
                          with_reference=True)
    assert result.score == 0.0
    todo = {c.id for c in result.checks if c.status == "todo"}
    assert {"structure.output", "forward.loss", "selfcheck.fd"} <= todo
    assert all("TODO forward" in c.message for c in result.checks if c.id in todo)


@pytest.mark.slow
def test_precheck_without_reference(
    sandbox: Sandbox, prepared_precheck: object, tmp_path: Path
) -> None:
    _assert_precheck("reference", sandbox, prepared_precheck, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("name", MUTANTS)
def test_mutant_grade(name: str, sandbox: Sandbox, prepared_grade: object, tmp_path: Path) -> None:
    _assert_grade(name, sandbox, prepared_grade, tmp_path)


def test_every_case_states_its_precheck_outcome() -> None:
    assert all(c.precheck_score is not None and c.precheck_failing is not None
               for c in EXPECTED.values())


@pytest.mark.slow
@pytest.mark.parametrize("name", [*MUTANTS, "template"])
def test_mutant_precheck(
    name: str, sandbox: Sandbox, prepared_precheck: object, tmp_path: Path
) -> None:
    _assert_precheck(name, sandbox, prepared_precheck, tmp_path)


@pytest.mark.slow
def test_messages_point_at_the_bug(
    sandbox: Sandbox, prepared_grade: object, tmp_path: Path
) -> None:
    result = grade_folder(_staged("grad_to_original_ids", tmp_path), sandbox, prepared_grade,
                          with_reference=True)
    emb = result.check("update.w_emb")
    assert emb is not None and "corrupted" in emb.message and "w_head" in emb.message
    result = grade_folder(_staged("uses_backward", tmp_path / "b"), sandbox, prepared_grade,
                          with_reference=True)
    rules = result.check("rules.static")
    assert rules is not None and "mlm_step.py:" in rules.message and "loss.backward()" in (
        rules.message)
    runtime = result.check("rules.runtime")
    assert runtime is not None and "Tensor.backward()" in runtime.message


def _grade(name: str, sandbox: Sandbox, prepared: object, tmp_path: Path) -> dict[str, object]:
    result = grade_folder(_staged(name, tmp_path), sandbox, prepared, with_reference=True)
    return {c.id: c for c in result.checks}


@pytest.mark.slow
def test_eps_slip_is_sent_to_the_layer_norm(
    sandbox: Sandbox, prepared_grade: object, tmp_path: Path
) -> None:
    for name in ("eps_1e12", "ref_eps_1e12"):
        checks = _grade(name, sandbox, prepared_grade, tmp_path / name)
        loss = checks["forward.loss"].message
        assert "small activations" in loss and "eps" in loss, loss
        for item in ("update.attention", "update.w_head"):
            msg = checks[item].message
            assert "fix the forward pass first" in msg and "eps" in msg, msg
            assert "attention_backward" not in msg, msg
    assert "layer_norm is right on unit-scale rows" in loss  # the reference keeps its helpers


@pytest.mark.slow
def test_missing_random_branch_is_named(
    sandbox: Sandbox, prepared_grade: object, tmp_path: Path
) -> None:
    checks = _grade("ref_no_random_token", sandbox, prepared_grade, tmp_path)
    assert "random-token branch" in checks["forward.loss"].message


@pytest.mark.slow
def test_syntax_error_is_reported_as_one(
    sandbox: Sandbox, prepared_grade: object, tmp_path: Path
) -> None:
    checks = _grade("syntax_error", sandbox, prepared_grade, tmp_path)
    static = checks["rules.static"].message
    line = next(i for i, ln in enumerate(
        (ROOT / EXPECTED["syntax_error"].path / "mlm_step.py").read_text().splitlines(), 1)
        if ln.startswith("def ln_fwd(x)"))
    assert static.startswith(f"mlm_step.py, line {line}: SyntaxError: "), static
    assert "Replace them" not in static and "tensor maths" not in static
    assert "SyntaxError" in checks["structure.output"].message


@pytest.mark.slow
def test_overflow_in_one_part_costs_only_that_part(
    sandbox: Sandbox, prepared_grade: object, tmp_path: Path
) -> None:
    checks = _grade("emb_grad_mean_nan", sandbox, prepared_grade, tmp_path)
    for kept in ("structure.pure", "structure.determinism", "update.w_head", "update.attention",
                 "update.ffn", "update.pos_embed", "forward.loss", "rules.runtime"):
        assert checks[kept].status == "passed", (kept, checks[kept].message)
    out = checks["structure.output"].message
    assert "non-finite" in out and "w_emb" in out and "softmax" not in out, out
    assert "mlm_loss is finite on this case" in out


@pytest.mark.slow
def test_cases_left_must_still_cover_the_matrix(
    sandbox: Sandbox, prepared_grade: object, tmp_path: Path
) -> None:
    checks = _grade("raises_multi_head", sandbox, prepared_grade, tmp_path)
    msg = checks["update.attention"].message
    assert msg.startswith("Not judged") and "head count > 1" in msg, msg
    assert checks["structure.pure"].status == "passed"
