"""Trusted-side helpers of the ``mlm_step`` checks: run probes per case, measure errors.

The error measures (``part_errors``, ``loss_error``, ``value_excess``, ``fd_errors``) are pure
functions of tensors, shared by the checks and by the test that measures every tolerance's margin
(``tests/mlm_step/test_margins.py``). ``judged_outputs`` implements the gating rule: a check
judges every case on which the step returned a usable output, and is stopped only when none did
(or when the usable cases no longer cover the matrix, see ``cases.coverage``).
"""

from __future__ import annotations

import math
import threading
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

from grader.assignments.mlm_step import cases as C
from grader.assignments.mlm_step.cases import Case, build_inputs, flat_inputs
from grader.checks import CheckStopped, Verdict
from grader.context import probe_failure_verdict

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


def returned_ok(outcome: ProbeOutcome) -> bool:
    """The probe returned normally (no exception, timeout, crash)."""
    from grader.sandbox import ProbeStatus

    return outcome.status == ProbeStatus.OK and outcome.error is None


def split_problem(outcome: ProbeOutcome, case: Case) -> str | None:
    """Why the returned value cannot be split into the parameters, or None when it can."""
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
    return None


def output_problem(outcome: ProbeOutcome, case: Case, dtype: str = "float32") -> str | None:
    """What is wrong with the shape/dtype/values of a returned step output, or None."""
    problem = split_problem(outcome, case)
    if problem is not None:
        return problem
    facts = outcome.data.get("out", {})
    out = outcome.tensors["out"]
    if facts.get("dtype") != dtype:
        return f"the output's dtype is {facts.get('dtype')}; expected {dtype}, the inputs' dtype"
    if not torch.isfinite(out).all():
        bad = int((~torch.isfinite(out)).sum())
        parts = nonfinite_parts(case, out)
        return (f"the output has {bad} non-finite value(s) (NaN/inf), in "
                f"{', '.join(parts)}; the first in backward order is in {parts[0]}")
    return None


def nonfinite_parts(case: Case, out: torch.Tensor) -> list[str]:
    """The parameters whose slice of ``out`` holds NaN/inf, in backward order."""
    offset, bad = 0, set()
    for name, shape in case.part_shapes():
        size = math.prod(shape)
        if not torch.isfinite(out[offset:offset + size]).all():
            bad.add(name)
        offset += size
    return [n for n in backward_order(case) if n in bad]


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


# -- gating: judge every case that can be judged ------------------------------------------------
@dataclass
class Judged:
    """The usable step outputs (float64) of a set of cases, and why the others are not usable."""

    outputs: dict[Case, torch.Tensor] = field(default_factory=dict)
    unusable: list[tuple[Case, Verdict]] = field(default_factory=list)

    def note(self, total: int) -> str:
        """`` (judged on 7 of 9 cases; ...)`` when some cases could not be judged, else ``""``."""
        if not self.unusable:
            return ""
        case, verdict = self.unusable[0]
        first = verdict.message.splitlines()[0]
        return (f" (judged on the {len(self.outputs)} of {total} cases where your step returned "
                f"a usable output; on {case.key}: {first})")


def judged_outputs(ctx: GradingContext, cases: list[Case]) -> Judged:
    """Run the step on ``cases``; stop the check only when no usable case is left.

    A case whose step raised, timed out or returned something that cannot be split into the
    parameters cannot be judged; the others are. When the usable cases no longer cover every
    feature the whole matrix covers (e.g. the step raises whenever num_heads > 1), the check
    fails instead: judging the rest would give points for code that was never exercised.
    """
    judged = Judged()
    for case in cases:
        outcome = call_step(ctx, case)
        if not returned_ok(outcome):
            judged.unusable.append((case, probe_failure_verdict(outcome, doing_step(case))))
            continue
        problem = split_problem(outcome, case)
        if problem is not None:
            judged.unusable.append((case, Verdict.failed(
                f"Cannot split your output into parameters: {problem}.")))
            continue
        judged.outputs[case] = outcome.tensors["out"].double()
    guard_coverage(list(judged.outputs), cases, judged.unusable)
    return judged


def guard_coverage(judged: list[Case], cases: list[Case],
                   unusable: list[tuple[Case, Verdict]]) -> None:
    """Stop the check when nothing can be judged, or the judged cases lost a feature of the matrix.

    With no usable case the check ends with the first failure's own verdict (error, timeout,
    TODO ...), so its status stays what happened.
    """
    if not judged:
        raise CheckStopped(unusable[0][1])
    if not unusable:
        return
    lost = sorted(set(C.missing_coverage(judged)) - set(C.missing_coverage(cases)))
    if lost:
        case, verdict = unusable[0]
        what = "; ".join(C.FEATURES[n][0] for n in lost)
        raise CheckStopped(Verdict.failed(
            f"Not judged: your code returned nothing usable on the cases with: {what}. "
            f"On {case.key}: {verdict.message}", lost_coverage=lost))


# -- error measures (pure) ----------------------------------------------------------------------
@dataclass
class PartError:
    """How far one parameter's update is from the oracle's, on one case."""

    case: Case
    name: str
    rel: float
    worst_index: str
    got: float
    want: float


def _finite_or_inf(value: float) -> float:
    return value if math.isfinite(value) else math.inf


def part_errors(case: Case, out: torch.Tensor, oracle_updated: torch.Tensor) -> list[PartError]:
    """Relative error ``|D - D*| / |D*|`` of every parameter's update (D = out - inputs)."""
    base = flat_inputs(build_inputs(case))
    mine, want = out.double() - base, oracle_updated - base
    errors, offset = [], 0
    for name, shape in case.part_shapes():
        size = math.prod(shape)
        a, b = mine[offset:offset + size], want[offset:offset + size]
        offset += size
        diff = torch.nan_to_num(a - b, nan=math.inf)
        denom = float(b.norm())
        rel = float(diff.norm()) / denom if denom > 0 else float(diff.norm())
        i = int(diff.abs().argmax())
        errors.append(PartError(case, name, _finite_or_inf(rel),
                                f"[{i // shape[1]}, {i % shape[1]}]",
                                -float(a[i]) / case.lr, -float(b[i]) / case.lr))
    return errors


def loss_error(got: float, want: float) -> float:
    """Relative error of a loss value (inf when it is not finite)."""
    return _finite_or_inf(abs(got - want) / abs(want))


def value_excess(out: torch.Tensor, want: torch.Tensor, rtol: float, atol: float
                 ) -> tuple[float, int]:
    """``max |out - want| / (atol + rtol |want|)`` (<= 1 is allclose) and where it is largest."""
    diff = torch.nan_to_num((out.double() - want).abs(), nan=math.inf)
    ratio = diff / (atol + rtol * want.abs())
    i = int(ratio.argmax())
    return _finite_or_inf(float(ratio[i])), i


@dataclass
class FdError:
    """One parameter's sampled gradient against central differences of the student's loss."""

    part: int
    name: str
    ratio: float  # error / (rtol * scale): > 1 fails
    rel: float
    index: int
    mine: float
    fd: float


def fd_errors(case: Case, coords: list[tuple[int, int]], out: torch.Tensor, base: torch.Tensor,
              plus: torch.Tensor, minus: torch.Tensor, h: float, rtol: float) -> list[FdError]:
    """Per parameter: the update at lr 1 at the sampled entries vs (L(w+h) - L(w-h)) / 2h."""
    fd = (plus - minus) / (2 * h)
    shapes = case.part_shapes()
    offsets, offset = [], 0
    for _, shape in shapes:
        offsets.append(offset)
        offset += math.prod(shape)
    grads: dict[int, list[tuple[int, float, float]]] = {}
    for k, (part, index) in enumerate(coords):
        flat = offsets[part] + index
        grads.setdefault(part, []).append((index, float(base[flat] - out[flat]), float(fd[k])))
    result = []
    for part, entries in grads.items():
        mine = torch.tensor([e[1] for e in entries], dtype=torch.float64)
        theirs = torch.tensor([e[2] for e in entries], dtype=torch.float64)
        diff = torch.nan_to_num(mine - theirs, nan=math.inf)
        err = float(diff.norm())
        scale = float(theirs.norm()) + 1e-7 * math.sqrt(len(entries))
        j = int(diff.abs().argmax())
        idx, g, f = entries[j]
        result.append(FdError(part, shapes[part][0], _finite_or_inf(err / (rtol * scale)),
                              _finite_or_inf(err / scale), idx, g, f))
    return result


def fd_coords(case: Case, per_part: int) -> list[tuple[int, int]]:
    """Sampled entries per parameter: [part index, flat index]; w_emb rows that get gradient."""
    gen = torch.Generator().manual_seed(1234 + case.seed)
    inputs = build_inputs(case)
    rows = sorted({case.mask_id, *inputs["token_ids"].reshape(-1).tolist()})
    coords: list[tuple[int, int]] = []
    for part, (_, shape) in enumerate(case.part_shapes()):
        for _ in range(per_part):
            if part == 0:
                r = rows[int(torch.randint(0, len(rows), (1,), generator=gen))]
                col = int(torch.randint(0, shape[1], (1,), generator=gen))
                coords.append((part, r * shape[1] + col))
            else:
                coords.append((part, int(torch.randint(0, math.prod(shape), (1,), generator=gen))))
    return coords


@dataclass
class UpdateReport:
    """Per-part relative errors of the updates over the judged cases."""

    errors: list[PartError] = field(default_factory=list)
    note: str = ""


def short(name: str) -> str:
    """``blocks[1].w_q`` -> ``w_q``."""
    return name.rsplit(".", 1)[-1]


def update_errors(
    ctx: GradingContext, cases: list[Case], oracle: dict[Case, Any]
) -> UpdateReport:
    """Relative error of every parameter's update on every case that can be judged."""
    memo = cache(ctx)
    if "updates" in memo:
        stored = memo["updates"]
        if isinstance(stored, CheckStopped):
            raise stored
        return stored
    try:
        judged = judged_outputs(ctx, cases)
    except CheckStopped as stop:
        memo["updates"] = stop
        raise
    report = UpdateReport(note=judged.note(len(cases)))
    for case, out in judged.outputs.items():
        report.errors += part_errors(case, out, oracle[case].updated)
    memo["updates"] = report
    return report


def backward_order(case: Case) -> list[str]:
    """Parameter names in the order a backward pass reaches them (head first)."""
    order = ["w_head"]
    for i in reversed(range(case.blocks)):
        order += [f"blocks[{i}].{n}" for n in ("w_mlp2", "w_mlp1", "w_o", "w_v", "w_q", "w_k")]
    return [*order, "pos_embed", "w_emb"]
