"""Trusted-side helpers of the ``mlm_step`` checks: run probes per case, split outputs into parts.

Kept apart from ``checks.py`` so the checks read as the rubric does: one function per check.
"""

from __future__ import annotations

import math
import threading
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

from grader.assignments.mlm_step.cases import Case, build_inputs, flat_inputs
from grader.checks import CheckStopped, Verdict

if TYPE_CHECKING:
    from grader.context import GradingContext
    from grader.sandbox import ProbeOutcome

PROBE_SEED = 0
_CACHE: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def cache(ctx: GradingContext) -> dict[str, Any]:
    """Per-submission scratch shared by the checks (dropped with the context)."""
    with _LOCK:
        return _CACHE.setdefault(ctx, {})


def call_step(ctx: GradingContext, case: Case, *, repeat: int = 0) -> ProbeOutcome:
    """The outcome of ``train_mlm_pretraining_step`` on ``case`` (memoised by the context)."""
    params: dict[str, Any] = dict(case.params())
    if repeat:
        params["repeat"] = repeat
    return ctx.probe("step", params, build_inputs(case), seed=PROBE_SEED)


def call_loss(ctx: GradingContext, case: Case) -> ProbeOutcome:
    """The outcome of ``mlm_loss`` on ``case``."""
    params = {k: v for k, v in case.params().items() if k != "lr"}
    return ctx.probe("loss", params, build_inputs(case), seed=PROBE_SEED)


def doing_step(case: Case) -> str:
    """The "while ..." phrase of a failed step probe."""
    return f"running train_mlm_pretraining_step on {case.key}"


def output_problem(outcome: ProbeOutcome, case: Case, dtype: str = "float32") -> str | None:
    """What is wrong with the shape/dtype/values of a returned step output, or None."""
    facts = outcome.data.get("out", {})
    out = outcome.tensors.get("out")
    if out is None:
        return (f"train_mlm_pretraining_step returned a {facts.get('type', 'value')}, "
                "expected a torch.Tensor")
    if out.dim() != 1:
        return (f"the output has shape {list(out.shape)}; expected a 1-D tensor of length "
                f"{case.length} (torch.cat of the flattened parameters)")
    if out.numel() != case.length:
        sizes = " + ".join(f"{math.prod(s)} ({n})" for n, s in _grouped_sizes(case))
        return (f"the output has length {out.numel()}; expected {case.length} = {sizes} "
                f"on {case.key}")
    if facts.get("dtype") != dtype:
        return f"the output's dtype is {facts.get('dtype')}; expected {dtype}, the inputs' dtype"
    if not torch.isfinite(out).all():
        bad = int((~torch.isfinite(out)).sum())
        where = locate(case, int((~torch.isfinite(out)).nonzero()[0]))
        return (f"the output has {bad} non-finite value(s) (NaN/inf), the first in {where}: "
                "look for a division by zero or exp() of a large number (softmax without "
                "subtracting the max)")
    return None


def _grouped_sizes(case: Case) -> list[tuple[str, tuple[int, ...]]]:
    parts = case.part_shapes()
    grouped = [parts[0], parts[1]]
    if case.blocks:
        grouped.append((f"{case.blocks} blocks x 6 matrices", (case.blocks * 6, case.d, case.d)))
    grouped.append(parts[-1])
    return grouped


def locate(case: Case, flat_index: int) -> str:
    """``blocks[1].w_v[3, 4]`` for a position in the flattened output."""
    offset = 0
    for name, shape in case.part_shapes():
        size = math.prod(shape)
        if flat_index < offset + size:
            idx = flat_index - offset
            return f"{name}[{idx // shape[1]}, {idx % shape[1]}]"
        offset += size
    return f"index {flat_index}"


def student_output(ctx: GradingContext, case: Case) -> torch.Tensor:
    """The step's output on ``case`` as float64, or end the check with why it is unusable."""
    outcome = ctx.require(call_step(ctx, case), doing_step(case))
    problem = output_problem(outcome, case)
    out = outcome.tensors.get("out")
    if problem is not None and (out is None or out.dim() != 1 or out.numel() != case.length):
        raise CheckStopped(Verdict.failed(
            f"Cannot split your output into parameters: {problem}. Fix 'output structure' first."))
    assert out is not None
    return out.double()


@dataclass
class PartError:
    """How far one parameter's update is from the oracle's, on one case."""

    case: Case
    name: str
    rel: float
    worst_index: str
    got: float
    want: float


@dataclass
class UpdateReport:
    """Per-part relative errors of the updates over the update matrix."""

    errors: list[PartError] = field(default_factory=list)

    def worst(self, names: set[str]) -> PartError | None:
        """The worst error among parts whose short name (``w_q``, ``w_emb``) is in ``names``."""
        chosen = [e for e in self.errors if short(e.name) in names]
        return max(chosen, key=lambda e: e.rel) if chosen else None


def short(name: str) -> str:
    """``blocks[1].w_q`` -> ``w_q``."""
    return name.rsplit(".", 1)[-1]


def update_errors(
    ctx: GradingContext, cases: list[Case], oracle: dict[Case, Any]
) -> UpdateReport:
    """Relative error ``|D - D*| / |D*|`` of every parameter's update on every case."""
    memo = cache(ctx)
    if "updates" in memo:
        return memo["updates"]
    report = UpdateReport()
    for case in cases:
        out = student_output(ctx, case)
        base = flat_inputs(build_inputs(case))
        mine, want = out - base, oracle[case].updated - base
        offset = 0
        for name, shape in case.part_shapes():
            size = math.prod(shape)
            a, b = mine[offset:offset + size], want[offset:offset + size]
            offset += size
            denom = float(b.norm())
            rel = float((a - b).norm()) / denom if denom > 0 else float((a - b).norm())
            i = int((a - b).abs().argmax())
            report.errors.append(PartError(
                case, name, rel, f"[{i // shape[1]}, {i % shape[1]}]",
                -float(a[i]) / case.lr, -float(b[i]) / case.lr))
    memo["updates"] = report
    return report


def backward_order(case: Case) -> list[str]:
    """Parameter names in the order a backward pass reaches them (head first)."""
    order = ["w_head"]
    for i in reversed(range(case.blocks)):
        order += [f"blocks[{i}].{n}" for n in ("w_mlp2", "w_mlp1", "w_o", "w_v", "w_q", "w_k")]
    return [*order, "pos_embed", "w_emb"]
