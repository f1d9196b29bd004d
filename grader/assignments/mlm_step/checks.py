"""The checks of ``mlm_step``: structure, rules, loss, per-part updates, whole output, self-check.

Property checks (structure, rules, the finite-difference self-check) need no reference and run in
``precheck``; reference checks compare with the float64 autograd oracle built in ``prepare()``.
No check depends on another: each judges every case on which its own inputs exist
(``judge.judged_outputs``), so a step that overflows on two cases keeps the points of what is
finite and right.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch

from grader.assignments.mlm_step import cases as C
from grader.assignments.mlm_step.ban import scan_file
from grader.assignments.mlm_step.hints import helper_hint, pattern_hint
from grader.assignments.mlm_step.judge import (
    PartError,
    backward_order,
    call_loss,
    call_step,
    doing_step,
    fd_coords,
    fd_errors,
    guard_coverage,
    judged_outputs,
    locate,
    loss_error,
    nonfinite_parts,
    output_problem,
    returned_ok,
    short,
    update_errors,
    value_excess,
)
from grader.checks import CheckRegistry, CheckStopped, Verdict
from grader.context import probe_failure_verdict
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
    found, unreadable = [], []
    for name in names:
        path = ctx.submission_dir / name
        if path.is_file():
            scan = scan_file(path, name)
            found += scan.violations
            if scan.problem is not None:
                unreadable.append(scan.problem)
    if unreadable:
        return Verdict.failed(
            "\n".join(unreadable) + "\nNothing in this file can run until Python can read it, "
            "so the scan for forbidden calls could not look at it either.")
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
def _nonfinite_story(ctx: GradingContext, case: C.Case, out: torch.Tensor) -> str:
    """Where a non-finite output comes from, from evidence: the loss and the parts hit."""
    parts = nonfinite_parts(case, out)
    loss = call_loss(ctx, case)
    value = loss.tensors.get("loss") if returned_ok(loss) else None
    if value is not None and value.numel() == 1 and bool(torch.isfinite(value).all()):
        return (f"Your mlm_loss is finite on this case, so the forward pass is not the cause: "
                f"the backward produces it, and the first non-finite gradient in backward order "
                f"is {parts[0]}'s. Look there for a division by zero (0/0), a log of 0 or an "
                "exp() that overflows.")
    if value is not None and value.numel() == 1:
        return ("Your mlm_loss is already non-finite on this case, so the forward pass "
                "overflows: look for an exp() of a large number, a log of 0 or a division by "
                "zero, in the order the forward computes them.")
    return f"The first non-finite gradient in backward order is {parts[0]}'s."


@registry.check("structure.output", "Output: 1-D, right length, input dtype, finite")
def structure_output(ctx: GradingContext) -> Verdict:
    """Every case of the matrix returns a finite 1-D float32 tensor of the documented length."""
    for case in C.value_matrix():
        outcome = ctx.require(call_step(ctx, case), doing_step(case))
        problem = output_problem(outcome, case)
        if problem is not None:
            out = outcome.tensors.get("out")
            story = ""
            if "non-finite" in problem and out is not None:
                story = " " + _nonfinite_story(ctx, case, out)
            return Verdict.failed(f"On {case.key}: {problem}.{story}", case=case.as_dict())
    return Verdict.passed(f"{len(C.value_matrix())} calls returned well-formed outputs.")


@registry.check("structure.pure", "Inputs are not modified")
def structure_pure(ctx: GradingContext) -> Verdict:
    """The input tensors and the block lists are the same after the call (every case it ran)."""
    ran, first_failure = 0, None
    for case in C.update_matrix():
        outcome = call_step(ctx, case)
        if not returned_ok(outcome):
            first_failure = first_failure or (outcome, case)
            continue
        ran += 1
        sent = C.build_inputs(case)
        if not outcome.data.get("blocks_list_intact", False):
            return Verdict.failed(
                "blocks_weights was changed by your step (an element replaced or the list "
                "resized): build new lists/tensors for the updated weights instead.")
        for name in ("token_ids", "w_emb", "pos_embed", "w_head", "blocks"):
            after = outcome.tensors.get(f"after.{name}")
            if after is None and name == "blocks" and case.blocks == 0:
                continue
            if after is None or not _same_bytes(after, sent[name]):
                what = "blocks_weights" if name == "blocks" else name
                return Verdict.failed(
                    f"Your step modified its input {what} in place (on {case.key}). The caller "
                    "still needs the old values: compute new tensors (w_new = w - lr * dw), "
                    "do not use -=, index_add_ or copy_ on an input.")
    if ran == 0 and first_failure is not None:
        ctx.require(first_failure[0], doing_step(first_failure[1]))
    return Verdict.passed(f"The inputs are unchanged after the step ({ran} case(s) ran).")


def _same_bytes(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Bit-for-bit equality (NaN equals NaN)."""
    return (a.dtype == b.dtype and a.shape == b.shape
            and a.contiguous().view(torch.uint8).equal(b.contiguous().view(torch.uint8)))


@registry.check("structure.determinism", "Same seed, same bytes; other seed, other result")
def structure_determinism(ctx: GradingContext) -> Verdict:
    """Calling twice with one seed gives identical bytes; another seed changes the result."""
    usable = [c for c in C.update_matrix() if returned_ok(call_step(ctx, c))
              and call_step(ctx, c).tensors.get("out") is not None]
    if not usable:
        ctx.require(call_step(ctx, C.BASE), doing_step(C.BASE))
        return Verdict.failed("train_mlm_pretraining_step returned no tensor on any case.")
    case = usable[0]
    first = call_step(ctx, case).tensors["out"]
    again_outcome = ctx.require(call_step(ctx, case, repeat=1), doing_step(case))
    again = again_outcome.tensors.get("out")
    if again is None or not _same_bytes(first, again):
        return Verdict.failed(
            "Two calls with the same arguments (seed included) gave different outputs. Draw all "
            "randomness from torch.Generator().manual_seed(seed), never from the global RNG.")
    other = C.other_seed(case)
    second = ctx.require(call_step(ctx, other), doing_step(other)).tensors.get("out")
    if second is not None and _same_bytes(first, second):
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
def _forward_hint(ctx: GradingContext, failing: list[C.Case], passing: list[C.Case]) -> str:
    hint = helper_hint(ctx, failing[0])
    if hint is not None:
        return f"The first wrong quantity in forward order: {hint}."
    return f"Where to look first: {pattern_hint(failing, passing)}."


@registry.check("forward.loss", "mlm_loss equals the exact loss (masking, forward, loss)",
                tier="reference")
def forward_loss(ctx: GradingContext) -> Verdict:
    """``mlm_loss`` matches the oracle's float64 loss on every case where it returns."""
    oracle = _oracle(ctx)
    rtol = float(ctx.setting("loss_rtol", 4e-6))
    cases = C.update_matrix()
    rel: dict[C.Case, tuple[float, float]] = {}
    unusable: list[tuple[C.Case, Verdict]] = []
    for case in cases:
        outcome = call_loss(ctx, case)
        if not returned_ok(outcome):
            doing = f"running mlm_loss on {case.key}"
            unusable.append((case, probe_failure_verdict(outcome, doing)))
            continue
        value = outcome.tensors.get("loss")
        if value is None or value.numel() != 1:
            facts = outcome.data.get("loss", {})
            return Verdict.failed(
                f"mlm_loss returned {facts.get('type')} with shape {facts.get('shape')}; "
                "expected a 0-dim tensor (the mean cross-entropy).")
        got = float(value.double().reshape(-1)[0])
        rel[case] = (got, loss_error(got, oracle[case].loss))
    guard_coverage(list(rel), cases, unusable)
    note = judged_note(len(rel), len(cases), unusable)
    failing = [c for c, (_, r) in rel.items() if not r <= rtol]
    if not failing:
        worst = max(r for _, r in rel.values())
        return Verdict.passed(f"The loss matches on {len(rel)} cases (worst relative error "
                              f"{worst:.1e}){note}.", worst_relative_error=worst)
    case = failing[0]
    got, err = rel[case]
    want = oracle[case].loss
    hint = _forward_hint(ctx, failing, [c for c in rel if c not in failing])
    return Verdict.failed(
        f"On {case.key} (M={oracle[case].num_selected} selected positions) mlm_loss returned "
        f"{got:.6g}; expected {want:.6g} (relative error {err:.1e}, allowed {rtol:.0e}); wrong "
        f"on {len(failing)} of {len(rel)} cases{note}. {hint}",
        relative_error=err, case=case.as_dict(), forward_hint=hint,
        failing_cases=[c.key for c in failing])


def judged_note(judged: int, total: int, unusable: list[tuple[C.Case, Verdict]]) -> str:
    """`` (judged on ...)`` for a check that could not judge every case."""
    if not unusable:
        return ""
    case, verdict = unusable[0]
    return (f" (judged on the {judged} of {total} cases where your code returned; on "
            f"{case.key}: {verdict.message.splitlines()[0]})")


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
        return Verdict.passed(f"No {label} in these cases{report.note}.")
    worst = max(mine, key=lambda e: e.rel)
    if worst.rel <= tol:
        return Verdict.passed(
            f"The {label} updates match (worst relative error {worst.rel:.1e}){report.note}.",
            worst_relative_error=worst.rel)
    bad = worst
    first = _first_wrong(report.errors, tol)
    right = sorted({short(e.name) for e in report.errors if e.case == bad.case and e.rel <= tol}
                   - names)
    rel = f"{bad.rel:.1e}" if math.isfinite(bad.rel) else "a non-finite amount"
    msg = (f"The update of {bad.name} is off by {rel} relative (allowed {tol:.0e}) on "
           f"{bad.case.key}{report.note}; the largest difference is at {bad.name}"
           f"{bad.worst_index}: your gradient {bad.got:.6g}, expected {bad.want:.6g}.")
    if right:
        msg += f" These are right on that case: {', '.join(right)}."
    loss = ctx.results.get("forward.loss")
    if loss is not None and loss.status == CheckStatus.FAILED:
        hint = loss.details.get("forward_hint", "")
        msg += (" Your mlm_loss is already off (see 'mlm_loss equals the exact loss'), so fix the "
                f"forward pass first: every gradient depends on it. {hint}").rstrip()
    elif first is not None and first.name != bad.name and first.case == bad.case:
        msg += (f" The first wrong gradient in backward order is {first.name}; every gradient "
                f"after it inherits its error, so start there: {_HINTS[short(first.name)]}.")
    else:
        msg += f" Look at {_HINTS[short(bad.name)]}."
    return Verdict.failed(msg, relative_error=bad.rel, part=bad.name, case=bad.case.as_dict())


@registry.check("update.w_head", "Update of w_head (masking, forward, loss, dlogits)",
                tier="reference")
def update_head(ctx: GradingContext) -> Verdict:
    """w_head's update matches the oracle: right masking, forward, loss and dlogits."""
    return _judge_parts(ctx, {"w_head"}, "w_head")


@registry.check("update.w_emb", "Update of w_emb (scatter onto the corrupted ids)",
                tier="reference")
def update_emb(ctx: GradingContext) -> Verdict:
    """w_emb's update matches the oracle."""
    return _judge_parts(ctx, {"w_emb"}, "w_emb")


@registry.check("update.pos_embed", "Update of pos_embed", tier="reference")
def update_pos(ctx: GradingContext) -> Verdict:
    """pos_embed's update matches the oracle."""
    return _judge_parts(ctx, {"pos_embed"}, "pos_embed")


@registry.check("update.attention", "Updates of w_q, w_k, w_v, w_o in every block",
                tier="reference")
def update_attention(ctx: GradingContext) -> Verdict:
    """Every block's attention matrices are updated like the oracle's."""
    return _judge_parts(ctx, set(C.ATTENTION_PARTS), "attention (w_q, w_k, w_v, w_o)")


@registry.check("update.ffn", "Updates of w_mlp1, w_mlp2 in every block", tier="reference")
def update_ffn(ctx: GradingContext) -> Verdict:
    """Every block's FFN matrices are updated like the oracle's."""
    return _judge_parts(ctx, set(C.FFN_PARTS), "FFN (w_mlp1, w_mlp2)")


@registry.check("values.output", "Whole output within tolerance (lr 1 and 0.1)",
                tier="reference")
def values_output(ctx: GradingContext) -> Verdict:
    """``allclose(out, oracle, rtol, atol)`` on every case that can be judged, both rates."""
    oracle = _oracle(ctx)
    rtol = float(ctx.setting("value_rtol", 1e-4))
    atol = float(ctx.setting("value_atol", 1e-5))
    judged = judged_outputs(ctx, C.value_matrix())
    note = judged.note(len(C.value_matrix()))
    for case, out in judged.outputs.items():
        want = oracle[case].updated
        ratio, i = value_excess(out, want, rtol, atol)
        if not ratio <= 1.0:
            return Verdict.failed(
                f"On {case.key} the updated {locate(case, i)} is {float(out[i]):.6g}, expected "
                f"{float(want[i]):.6g} (|diff| {abs(float(out[i] - want[i])):.1e}; allowed "
                f"{atol:.0e} + {rtol:.0e}*|expected|){note}. The per-part update checks say "
                "which gradient is wrong.", case=case.as_dict())
    return Verdict.passed(f"All {len(judged.outputs)} outputs match{note}.")


# -- self-check (precheck) ------------------------------------------------------------------
@registry.check("selfcheck.fd", "Your update matches finite differences of your mlm_loss")
def selfcheck_fd(ctx: GradingContext) -> Verdict:
    """The update (lr 1, float64) agrees with central differences of the student's own loss."""
    rtol = float(ctx.setting("fd_rtol", 1e-4))
    h = float(ctx.setting("fd_h", 1e-6))
    per_part = int(ctx.setting("fd_per_part", 3))
    checked = 0
    cases = C.fd_cases()
    judged: list[C.Case] = []
    unusable: list[tuple[C.Case, Verdict]] = []
    for case in cases:
        inputs = C.build_inputs(case, torch.float64)
        coords = fd_coords(case, per_part)
        params = {**case.params(), "lr": 1.0, "h": h, "coords": [list(c) for c in coords]}
        doing = f"running your step and mlm_loss in float64 on {case.key}"
        outcome = ctx.probe("fd", params, inputs, seed=0)
        if not returned_ok(outcome):
            unusable.append((case, probe_failure_verdict(outcome, doing)))
            continue
        problem = output_problem(outcome, case, dtype="float64")
        if problem is not None and "non-finite" not in problem:
            if "dtype" in problem:
                return Verdict.failed(
                    f"With float64 inputs: {problem}. The self-check runs your code in float64: "
                    "create new tensors with zeros_like or dtype=x.dtype.")
            unusable.append((case, Verdict.failed(f"With float64 inputs: {problem}.")))
            continue
        dtypes = outcome.data.get("loss_dtypes", [])
        if dtypes != ["float64"]:
            return Verdict.failed(
                f"With float64 inputs mlm_loss returned {', '.join(map(str, dtypes))}; expected "
                "a float64 0-dim tensor (do not convert to float32 or to a Python float).")
        judged.append(case)
        errors = fd_errors(case, coords, outcome.tensors["out"].double(), C.flat_inputs(inputs),
                           outcome.tensors["loss_plus"], outcome.tensors["loss_minus"], h, rtol)
        checked += len(coords)
        wrong = [e for e in errors if not e.ratio <= 1.0]
        right = sorted({short(e.name) for e in errors if e.ratio <= 1.0})
        if wrong:
            listing = "\n".join(
                f"  {e.name}[{e.index // dict(case.part_shapes())[e.name][1]}, "
                f"{e.index % dict(case.part_shapes())[e.name][1]}]: your gradient {e.mine:.6g}, "
                f"finite difference {e.fd:.6g} (relative error {e.rel:.1e}, allowed {rtol:.0e})"
                for e in wrong[:6])
            agree = f"\nThese agree: {', '.join(right)}." if right else ""
            return Verdict.failed(
                f"On {case.key}, your update (lr = 1) does not match a finite-difference gradient "
                f"of your own mlm_loss at:\n{listing}{agree}\nYour backward pass is not the "
                "derivative of your forward pass there; the first part in backward order (w_head, "
                "then the last block's w_mlp2, w_mlp1, w_o, ...) is where to start.")
    guard_coverage(judged, cases, unusable)
    note = judged_note(len(judged), len(cases), unusable)
    return Verdict.passed(f"Your update agrees with finite differences of your mlm_loss at "
                          f"{checked} sampled entries{note}.")
