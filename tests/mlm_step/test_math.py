"""The oracle, the reference and the probe matrix agree (pure maths, no sandbox)."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path
from types import ModuleType

import pytest
import torch

from grader.assignments.mlm_step import cases as C
from grader.assignments.mlm_step import load_oracle

ROOT = Path(__file__).resolve().parents[2]


def _module(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def oracle() -> ModuleType:
    return load_oracle(ROOT / "reference" / "mlm_step")


@pytest.fixture(scope="module")
def reference() -> ModuleType:
    return _module(ROOT / "reference" / "mlm_step" / "mlm_step.py", "mlm_step_reference")


def _run(module: ModuleType, case: C.Case, dtype: torch.dtype) -> torch.Tensor:
    i = C.build_inputs(case, dtype)
    return module.train_mlm_pretraining_step(
        i["token_ids"], i["w_emb"], i["pos_embed"], C.unstack_blocks(i["blocks"]), i["w_head"],
        case.mask_id, case.heads, case.lr, case.seed)


def test_every_case_takes_every_masking_branch() -> None:
    for case in C.update_matrix():
        counts = C.branch_counts(case)
        assert all(n > 0 for n in counts.values()), (case.key, counts)
    assert C.missing_coverage(C.update_matrix()) == []
    assert C.missing_coverage(C.value_matrix()) == []


def test_coverage_is_computed_from_the_cases() -> None:
    """Removing the cases that exercise a feature makes it missing; the old matrix lacked some."""
    matrix = C.update_matrix()
    for name, covering in C.coverage(matrix).items():
        assert covering, name
        assert name in C.missing_coverage([c for c in matrix if c not in covering]), name
    # the seeds used before (first seed selecting anything) never drew the random-token branch
    old = [C._first_valid(c) for c in C._RAW[:7]]
    assert {"mask.random_new", "activation.small"} <= set(C.missing_coverage(old))


def test_small_activation_case_makes_eps_matter() -> None:
    case = C.small_activation_case()
    assert case.blocks > 0 and C.ln_input_variance(case) < 100 * C.LN_EPS
    assert all(C.ln_input_variance(c) > 0.1 for c in C.update_matrix() if c.scale == 1.0)


def test_matrix_covers_the_issue() -> None:
    cases = C.value_matrix()
    assert any((c.n, c.t, c.v, c.d, c.blocks, c.heads) == (3, 5, 11, 12, 1, 3) for c in cases)
    assert any(c.blocks == 0 for c in cases)
    assert any(c.mask_id == 0 for c in cases) and any(c.mask_id == c.v - 1 for c in cases)
    assert {c.lr for c in cases} == {0.1, 1.0}
    assert len({c.seed for c in cases}) >= 4
    assert all(C.num_selected((c.n, c.t), c.seed) > 0 for c in cases)
    assert all(c.d % c.heads == 0 for c in cases)


@pytest.mark.slow
def test_reference_in_float64_equals_the_oracle(oracle: ModuleType, reference: ModuleType) -> None:
    """Two independent implementations (hand backward vs autograd) agree to rounding."""
    for case in C.value_matrix():
        i = C.build_inputs(case, torch.float64)
        want = oracle.oracle_step(
            i["token_ids"], i["w_emb"], i["pos_embed"], C.unstack_blocks(i["blocks"]),
            i["w_head"], case.mask_id, case.heads, case.lr, case.seed).updated
        got = _run(reference, case, torch.float64)
        assert got.dtype == torch.float64
        assert torch.allclose(got, want, rtol=1e-10, atol=1e-12), case.key


@pytest.mark.slow
def test_float32_reference_is_well_inside_the_tolerances(
    oracle: ModuleType, reference: ModuleType
) -> None:
    """The rubric's 2e-5 per-part and 1e-4/1e-5 whole-output tolerances keep a 5x margin.

    (test_margins.py measures every zoo submission; this is the quick check on the reference.)
    """
    for case in C.value_matrix():
        i = C.build_inputs(case)
        res = oracle.oracle_step(
            i["token_ids"], i["w_emb"], i["pos_embed"], C.unstack_blocks(i["blocks"]),
            i["w_head"], case.mask_id, case.heads, case.lr, case.seed)
        out = _run(reference, case, torch.float32)
        assert out.dtype == torch.float32 and out.shape == (case.length,)
        assert torch.allclose(out.double(), res.updated, rtol=2e-5, atol=2e-6), case.key
        if case.lr != 1.0:
            continue
        base = C.flat_inputs(i)
        offset = 0
        for name, shape in case.part_shapes():
            n = math.prod(shape)
            mine = out.double()[offset:offset + n] - base[offset:offset + n]
            want = res.updated[offset:offset + n] - base[offset:offset + n]
            offset += n
            assert float((mine - want).norm() / want.norm()) < 4e-6, (case.key, name)
        loss = reference.mlm_loss(
            i["token_ids"], i["w_emb"], i["pos_embed"], C.unstack_blocks(i["blocks"]),
            i["w_head"], case.mask_id, case.heads, case.seed)
        assert abs(float(loss) - res.loss) / res.loss < 4e-7


def test_template_raises_todo() -> None:
    template = _module(ROOT / "student_template" / "mlm_step" / "mlm_step.py", "mlm_template")
    with pytest.raises(NotImplementedError, match="TODO"):
        _run(template, C.BASE, torch.float32)


def test_template_is_generated_and_has_no_solution() -> None:
    from grader import templating

    (assignment,) = [a for a in templating.discover(ROOT) if a.name == "mlm_step"]
    wanted = templating.expected_files(ROOT, assignment)
    names = sorted(p.relative_to(ROOT).as_posix() for p in wanted)
    assert names == ["student_template/mlm_step/README.md", "student_template/mlm_step/mlm_step.py"]
    for path, data in wanted.items():
        assert path.read_bytes() == data, f"{path} is stale: run python -m grader.templating"
    text = (ROOT / "student_template/mlm_step/mlm_step.py").read_text()
    assert "### BEGIN SOLUTION" not in text and "index_add_(0, corrupted" not in text
    assert text.count("### START YOUR CODE ###") == 13
