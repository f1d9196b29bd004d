"""The checks of ``mlm_step``: structure, rules, loss, per-part updates, whole output, self-check.

Property checks (structure, rules, the finite-difference self-check) need no reference and run in
``precheck``; reference checks compare with the float64 autograd oracle built in ``prepare()``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch

from grader.assignments.mlm_step import cases as C
from grader.assignments.mlm_step.ban import scan_source
from grader.assignments.mlm_step.judge import (
    PartError,
    backward_order,
    call_loss,
    call_step,
    doing_step,
    locate,
    output_problem,
    short,
    student_output,
    update_errors,
)
from grader.checks import CheckRegistry, CheckStopped, Verdict
from grader.results import CheckStatus

if TYPE_CHECKING:
    from grader.context import GradingContext

registry = CheckRegistry()
STUDENT_FILE = "mlm_step.py"


def _oracle(ctx: GradingContext) -> dict:
    oracle = getattr(ctx.prepared, "oracle", None)
    if oracle is None:
        raise CheckStopped(Verdict.skipped("Needs the reference oracle (instructor grading only)."))
    return oracle


# -- rules ------------------------------------------------------------------------------------
@registry.check("rules.static", "No autograd or built-in layers (source scan)", tier="file")
def rules_static(ctx: GradingContext) -> Verdict:
    """Scan every submitted .py file for autograd and the forbidden built-in layers."""
    names = sorted(n for n in ctx.files if n.endswith(".py"))
    if STUDENT_FILE not in names:
        return Verdict.failed(f"{STUDENT_FILE} is missing from your submission.")
    found = []
    for name in names:
        path = ctx.submission_dir / name
        if path.is_file():
            found += scan_source(path.read_text(encoding="utf-8", errors="replace"), name)
    if not found:
        return Verdict.passed(f"No forbidden call found in {', '.join(names)}.")
    lines = "\n".join(f"  {v.describe()}" for v in found[:10])
    more = f"\n  ... and {len(found) - 10} more" if len(found) > 10 else ""
    return Verdict.failed(
        "This assignment asks for the backward pass and the layers written by hand; found:\n"
        f"{lines}{more}\nReplace them with your own tensor maths (see the helper functions in "
        f"{STUDENT_FILE}).",
        violations=[v.describe() for v in found],
    )


# -- structure --------------------------------------------------------------------------------
@registry.check("structure.output", "Output: 1-D, right length, input dtype, finite")
def structure_output(ctx: GradingContext) -> Verdict:
    """Every case of the matrix returns a finite 1-D float32 tensor of the documented length."""
    for case in C.value_matrix():
        outcome = ctx.require(call_step(ctx, case), doing_step(case))
        problem = output_problem(outcome, case)
        if problem is not None:
            return Verdict.failed(f"On {case.key}: {problem}.", case=case.as_dict())
    return Verdict.passed(f"{len(C.value_matrix())} calls returned well-formed outputs.")


@registry.check("structure.pure", "Inputs are not modified", depends=("structure.output",))
def structure_pure(ctx: GradingContext) -> Verdict:
    """The input tensors and the block lists are the same after the call."""
    for case in C.update_matrix():
        outcome = ctx.require(call_step(ctx, case), doing_step(case))
        sent = C.build_inputs(case)
        if not outcome.data.get("blocks_list_intact", False):
            return Verdict.failed(
                "blocks_weights was changed by your step (an element replaced or the list "
                "resized): build new lists/tensors for the updated weights instead.")
        for name in ("token_ids", "w_emb", "pos_embed", "w_head", "blocks"):
            after = outcome.tensors.get(f"after.{name}")
            if after is None and name == "blocks" and case.blocks == 0:
                continue
            if after is None or not torch.equal(after, sent[name]):
                what = "blocks_weights" if name == "blocks" else name
                return Verdict.failed(
                    f"Your step modified its input {what} in place (on {case.key}). The caller "
                    "still needs the old values: compute new tensors (w_new = w - lr * dw), "
                    "do not use -=, index_add_ or copy_ on an input.")
    return Verdict.passed("The inputs are unchanged after the step.")


@registry.check("structure.determinism", "Same seed, same bytes; other seed, other result",
                depends=("structure.output",))
def structure_determinism(ctx: GradingContext) -> Verdict:
    """Calling twice with one seed gives identical bytes; another seed changes the result."""
    case = C.BASE
    first = student_output(ctx, case)
    again = ctx.require(call_step(ctx, case, repeat=1), doing_step(case)).tensors.get("out")
    if again is None or not torch.equal(first, again.double()):
        return Verdict.failed(
            "Two calls with the same arguments (seed included) gave different outputs. Draw all "
            "randomness from torch.Generator().manual_seed(seed), never from the global RNG.")
    other = C.other_seed(case)
    second = student_output(ctx, other)
    if torch.equal(first, second):
        return Verdict.failed(
            f"seed={case.seed} and seed={other.seed} gave the same output: the masking must "
            "use the seed argument (gen = torch.Generator().manual_seed(seed)).")
    return Verdict.passed("Deterministic in the seed, and the seed matters.")


@registry.check("rules.runtime", "No autograd or built-in layers at run time")
def rules_runtime(ctx: GradingContext) -> Verdict:
    """No autograd call (which raises) and no forbidden built-in layer while the step runs."""
    ran = 0
    first_failure = None
    for case in C.value_matrix():
        outcome = call_step(ctx, case)
        err = outcome.error
        if err is not None and err.type == "ForbiddenCallError":
            where = err.student_frames[-1] if err.student_frames else ""
            return Verdict.failed(
                f"Your step called autograd: {err.message}."
                + (f"\n  at {where}" if where else "")
                + "\nThe gradients must come from your own backward code.")
        records = outcome.data.get("forbidden") or []
        if records:
            lines = "\n".join(f"  {r.get('call')} at {r.get('where')}" for r in records[:10])
            return Verdict.failed(
                f"Your step used built-in layers that this assignment forbids:\n{lines}\n"
                "Write them with plain tensor maths (your own layer_norm, gelu, softmax_rows, "
                "cross_entropy).", calls=records)
        if outcome.ok and err is None:
            ran += 1
        elif first_failure is None:
            first_failure = (outcome, case)
    if ran == 0 and first_failure is not None:
        ctx.require(first_failure[0], doing_step(first_failure[1]))
    return Verdict.passed(f"No forbidden call in {ran} run(s) of your step.")


# -- forward / loss ---------------------------------------------------------------------------
@registry.check("forward.loss", "mlm_loss equals the exact loss (masking, forward, loss)",
                tier="reference")
def forward_loss(ctx: GradingContext) -> Verdict:
    """``mlm_loss`` matches the oracle's float64 loss on every case of the update matrix."""
    oracle = _oracle(ctx)
    rtol = float(ctx.setting("loss_rtol", 4e-6))
    for case in C.update_matrix():
        outcome = ctx.require(call_loss(ctx, case), f"running mlm_loss on {case.key}")
        value = outcome.tensors.get("loss")
        if value is None or value.numel() != 1:
            facts = outcome.data.get("loss", {})
            return Verdict.failed(
                f"mlm_loss returned {facts.get('type')} with shape {facts.get('shape')}; "
                "expected a 0-dim tensor (the mean cross-entropy).")
        got, want = float(value.double().reshape(-1)[0]), oracle[case].loss
        rel = abs(got - want) / abs(want)
        if not rel <= rtol:
            return Verdict.failed(
                f"On {case.key} (M={oracle[case].num_selected} selected positions) mlm_loss "
                f"returned {got:.6g}; expected {want:.6g} (relative error {rel:.1e}, allowed "
                f"{rtol:.0e}). Look, in this order, at the masking (three draws from one "
                "Generator: rand, rand, randint), the layer norm (eps 1e-5, variance divided "
                "by d), GELU's tanh form, the 1/sqrt(d_head) scale, no attention mask, and one "
                "mean over all M selected positions.",
                relative_error=rel, case=case.as_dict())
    return Verdict.passed(f"The loss matches on {len(C.update_matrix())} cases.")


# -- updates by part --------------------------------------------------------------------------
_HINTS = {
    "w_head": "dw_head = x_final^T @ dlogits with dlogits = (softmax - one_hot(target)) / M at the "
              "selected positions and 0 elsewhere; a wrong loss or forward shows up here first",
    "w_mlp2": "dw_mlp2 = GELU(u)^T @ dx",
    "w_mlp1": "the GELU backward (derivative of the tanh form) and dw_mlp1 = LN(x)^T @ du",
    "w_o": "dw_o = attn_out^T @ dx, and the layer norm backward of the FFN sub-layer feeding dx",
    "w_v": "attention_backward: dV = P^T dout per head, then the merge of the heads",
    "w_q": "attention_backward: the softmax backward and the 1/sqrt(d_head) scale, dQ = dS K",
    "w_k": "attention_backward: the softmax backward and the 1/sqrt(d_head) scale, dK = dS^T Q",
    "pos_embed": "dpos_embed = dx.sum(0) over the batch (a sum, not a mean)",
    "w_emb": "dw_emb: index_add_ the rows of dx onto the *corrupted* ids (what went into the "
             "embedding lookup), not the original ids",
}


def _first_wrong(errors: list[PartError], tol: float) -> PartError | None:
    """The wrong gradient closest to the loss in backward order, on the first failing case."""
    by_case: dict[C.Case, dict[str, PartError]] = {}
    for e in errors:
        by_case.setdefault(e.case, {})[e.name] = e
    for case, parts in by_case.items():
        for name in backward_order(case):
            if name in parts and not parts[name].rel <= tol:
                return parts[name]
    return None


def _judge_parts(ctx: GradingContext, names: set[str], label: str) -> Verdict:
    oracle = _oracle(ctx)
    tol = float(ctx.setting("update_rtol", 2e-5))
    report = update_errors(ctx, C.update_matrix(), oracle)
    mine = [e for e in report.errors if short(e.name) in names]
    if not mine:
        return Verdict.passed(f"No {label} in these cases.")
    worst = max(mine, key=lambda e: e.rel)
    if worst.rel <= tol:
        return Verdict.passed(f"The {label} updates match (worst relative error {worst.rel:.1e}).",
                              worst_relative_error=worst.rel)
    bad = next(e for e in mine if not e.rel <= tol)
    first = _first_wrong(report.errors, tol)
    right = sorted({short(e.name) for e in report.errors if e.case == bad.case and e.rel <= tol}
                   - names)
    msg = (f"The update of {bad.name} is off by {bad.rel:.1e} relative (allowed {tol:.0e}) on "
           f"{bad.case.key}; the largest difference is at {bad.name}{bad.worst_index}: your "
           f"gradient {bad.got:.6g}, expected {bad.want:.6g}.")
    if right:
        msg += f" These are right on that case: {', '.join(right)}."
    loss = ctx.results.get("forward.loss")
    if loss is not None and loss.status == CheckStatus.FAILED:
        msg += (" Your mlm_loss is already off (see 'mlm_loss equals the exact loss'), so fix the "
                "forward pass first: every gradient depends on it.")
    elif first is not None and first.name != bad.name and first.case == bad.case:
        msg += (f" The first wrong gradient in backward order is {first.name}; every gradient "
                f"after it inherits its error, so start there: {_HINTS[short(first.name)]}.")
    else:
        msg += f" Look at {_HINTS[short(bad.name)]}."
    return Verdict.failed(msg, relative_error=bad.rel, part=bad.name, case=bad.case.as_dict())


@registry.check("update.w_head", "Update of w_head (masking, forward, loss, dlogits)",
                tier="reference", depends=("structure.output",))
def update_head(ctx: GradingContext) -> Verdict:
    """w_head's update matches the oracle: right masking, forward, loss and dlogits."""
    return _judge_parts(ctx, {"w_head"}, "w_head")


@registry.check("update.w_emb", "Update of w_emb (scatter onto the corrupted ids)",
                tier="reference", depends=("structure.output",))
def update_emb(ctx: GradingContext) -> Verdict:
    """w_emb's update matches the oracle."""
    return _judge_parts(ctx, {"w_emb"}, "w_emb")


@registry.check("update.pos_embed", "Update of pos_embed", tier="reference",
                depends=("structure.output",))
def update_pos(ctx: GradingContext) -> Verdict:
    """pos_embed's update matches the oracle."""
    return _judge_parts(ctx, {"pos_embed"}, "pos_embed")


@registry.check("update.attention", "Updates of w_q, w_k, w_v, w_o in every block",
                tier="reference", depends=("structure.output",))
def update_attention(ctx: GradingContext) -> Verdict:
    """Every block's attention matrices are updated like the oracle's."""
    return _judge_parts(ctx, set(C.ATTENTION_PARTS), "attention (w_q, w_k, w_v, w_o)")


@registry.check("update.ffn", "Updates of w_mlp1, w_mlp2 in every block", tier="reference",
                depends=("structure.output",))
def update_ffn(ctx: GradingContext) -> Verdict:
    """Every block's FFN matrices are updated like the oracle's."""
    return _judge_parts(ctx, set(C.FFN_PARTS), "FFN (w_mlp1, w_mlp2)")


@registry.check("values.output", "Whole output within tolerance (lr 1 and 0.1)",
                tier="reference", depends=("structure.output",))
def values_output(ctx: GradingContext) -> Verdict:
    """``allclose(out, oracle, rtol, atol)`` on every case, both learning rates."""
    oracle = _oracle(ctx)
    rtol = float(ctx.setting("value_rtol", 1e-4))
    atol = float(ctx.setting("value_atol", 1e-5))
    for case in C.value_matrix():
        out = student_output(ctx, case)
        want = oracle[case].updated
        excess = (out - want).abs() - (atol + rtol * want.abs())
        if (excess > 0).any():
            i = int(excess.argmax())
            return Verdict.failed(
                f"On {case.key} the updated {locate(case, i)} is {float(out[i]):.6g}, expected "
                f"{float(want[i]):.6g} (|diff| {abs(float(out[i] - want[i])):.1e}; allowed "
                f"{atol:.0e} + {rtol:.0e}*|expected|). The per-part update checks say which "
                "gradient is wrong.", case=case.as_dict())
    return Verdict.passed(f"All {len(C.value_matrix())} outputs match.")


# -- self-check (precheck) ------------------------------------------------------------------
def _fd_coords(case: C.Case, per_part: int) -> list[tuple[int, int]]:
    """Sampled entries per parameter: [part index, flat index]; w_emb rows that get gradient."""
    gen = torch.Generator().manual_seed(1234 + case.seed)
    inputs = C.build_inputs(case)
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


@registry.check("selfcheck.fd", "Your update matches finite differences of your mlm_loss")
def selfcheck_fd(ctx: GradingContext) -> Verdict:
    """The update (lr 1, float64) agrees with central differences of the student's own loss."""
    rtol = float(ctx.setting("fd_rtol", 1e-4))
    h = float(ctx.setting("fd_h", 1e-6))
    per_part = int(ctx.setting("fd_per_part", 3))
    checked = 0
    for case in C.fd_cases():
        inputs = C.build_inputs(case, torch.float64)
        coords = _fd_coords(case, per_part)
        params = {**case.params(), "lr": 1.0, "h": h, "coords": [list(c) for c in coords]}
        outcome = ctx.require(ctx.probe("fd", params, inputs, seed=0),
                              f"running your step and mlm_loss in float64 on {case.key}")
        problem = output_problem(outcome, case, dtype="float64")
        if problem is not None:
            return Verdict.failed(
                f"With float64 inputs: {problem}. The self-check runs your code in float64: "
                "create new tensors with zeros_like or dtype=x.dtype.")
        dtypes = outcome.data.get("loss_dtypes", [])
        if dtypes != ["float64"]:
            return Verdict.failed(
                f"With float64 inputs mlm_loss returned {', '.join(map(str, dtypes))}; expected "
                "a float64 0-dim tensor (do not convert to float32 or to a Python float).")
        out = outcome.tensors["out"].double()
        base = C.flat_inputs(inputs)
        fd = (outcome.tensors["loss_plus"] - outcome.tensors["loss_minus"]) / (2 * h)
        offsets, names, shapes = [], [], []
        offset = 0
        for name, shape in case.part_shapes():
            offsets.append(offset)
            names.append(name)
            shapes.append(shape)
            offset += math.prod(shape)
        grads: dict[int, list[tuple[int, float, float]]] = {}
        for k, (part, index) in enumerate(coords):
            flat = offsets[part] + index
            grads.setdefault(part, []).append((index, float(base[flat] - out[flat]), float(fd[k])))
        wrong, right = [], []
        for part, entries in grads.items():
            mine = torch.tensor([e[1] for e in entries], dtype=torch.float64)
            theirs = torch.tensor([e[2] for e in entries], dtype=torch.float64)
            err = float((mine - theirs).norm())
            scale = float(theirs.norm()) + 1e-7 * math.sqrt(len(entries))
            if not err <= rtol * scale:
                j = int((mine - theirs).abs().argmax())
                idx, g, f = entries[j]
                cols = shapes[part][1]
                wrong.append(
                    f"{names[part]}[{idx // cols}, {idx % cols}]: your gradient {g:.6g}, finite "
                    f"difference {f:.6g} (relative error {err / scale:.1e}, allowed {rtol:.0e})")
            else:
                right.append(short(names[part]))
        checked += len(coords)
        if wrong:
            listing = "\n".join(f"  {w}" for w in wrong[:6])
            agree = f"\nThese agree: {', '.join(sorted(set(right)))}." if right else ""
            return Verdict.failed(
                f"On {case.key}, your update (lr = 1) does not match a finite-difference gradient "
                f"of your own mlm_loss at:\n{listing}{agree}\nYour backward pass is not the "
                "derivative of your forward pass there; the first part in backward order (w_head, "
                "then the last block's w_mlp2, w_mlp1, w_o, ...) is where to start.")
    return Verdict.passed(f"Your update agrees with finite differences of your mlm_loss at "
                          f"{checked} sampled entries.")
