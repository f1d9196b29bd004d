"""Where the forward pass goes wrong first: feedback for a wrong ``mlm_loss`` (never points).

Two sources of evidence, in this order: the template's own forward helpers (``mask_tokens``,
``layer_norm``, ``gelu``, ``softmax_rows``) called on parent-chosen inputs and compared, in forward
order, with the assignment's definitions computed here; and, when the student did not keep the
helpers, which cases of the matrix have a wrong loss (only where the activations are small, only
with several heads, also with no block at all ...).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from grader.assignments.mlm_step import cases as C
from grader.assignments.mlm_step.judge import PROBE_SEED, returned_ok

if TYPE_CHECKING:
    from grader.context import GradingContext
    from grader.sandbox import ProbeOutcome

HELPER_RTOL = 1e-4


def _helper_inputs(case: C.Case) -> dict[str, torch.Tensor]:
    small = C.build_inputs(C.small_activation_case())
    unit = C.build_inputs(C.BASE)
    gen = torch.Generator().manual_seed(77)
    return {
        "token_ids": C.build_inputs(case)["token_ids"],
        "ln_small": small["w_emb"][small["token_ids"]] + small["pos_embed"],
        "ln_unit": unit["w_emb"][unit["token_ids"]] + unit["pos_embed"],
        "gelu": 3 * torch.randn(4, 16, generator=gen),
        "softmax": 6 * torch.randn(4, 3, 9, generator=gen),
    }


def call_helpers(ctx: GradingContext, case: C.Case) -> ProbeOutcome:
    """The ``helpers`` probe on ``case``'s token ids (memoised by the context)."""
    params = {"vocab_size": case.v, "mask_token_id": case.mask_id, "seed": case.seed}
    return ctx.probe("helpers", params, _helper_inputs(case), seed=PROBE_SEED)


def _rel(got: torch.Tensor | None, want: torch.Tensor) -> float:
    if got is None or got.shape != want.shape:
        return math.inf
    err = float(torch.nan_to_num((got.double() - want).abs(), nan=math.inf).max())
    return err / max(float(want.abs().max()), 1e-30)


def _mask_hint(case: C.Case, corrupted: torch.Tensor | None,
               selected: torch.Tensor | None) -> str | None:
    tokens = C.build_inputs(case)["token_ids"]
    want_corr, want_sel = C.expected_masking(case, tokens)
    dr = C.draws(case)
    if selected is None or selected.shape != want_sel.shape or not torch.equal(
            selected.bool(), want_sel):
        return (f"mask_tokens selects other positions than the assignment's masking on "
                f"{case.key} (a position is selected where the first rand() draw is < 0.15; "
                "the three draws come from one Generator, in the order rand, rand, randint)")
    if corrupted is None or corrupted.shape != want_corr.shape or torch.equal(
            corrupted.long(), want_corr):
        return None
    bad = (corrupted.long() != want_corr).nonzero()[0].tolist()
    i, j = bad
    c = float(dr.corrupt[i, j])
    if not bool(want_sel[i, j]):
        branch = "an unselected position (it keeps its token)"
    elif c < C.MASK_SHARE:
        branch = f"a selected position with corrupt draw {c:.3f} < 0.8 (the [MASK] branch)"
    elif c < C.MASK_SHARE + C.RANDOM_SHARE:
        branch = (f"a selected position with corrupt draw {c:.3f} in [0.8, 0.9) (the random-token "
                  "branch: the third draw's token)")
    else:
        branch = f"a selected position with corrupt draw {c:.3f} >= 0.9 (the keep branch)"
    return (f"mask_tokens gives input id {int(corrupted[i, j])} at [{i}, {j}] on {case.key}, "
            f"expected {int(want_corr[i, j])}: that is {branch}")


def helper_hint(ctx: GradingContext, case: C.Case) -> str | None:
    """The first helper, in forward order, whose output differs from the definition."""
    outcome = call_helpers(ctx, case)
    if not returned_ok(outcome):
        return None
    facts = outcome.data.get("helpers", {})
    t = outcome.tensors
    if facts.get("mask_tokens") == "ok":
        hint = _mask_hint(case, t.get("mask_tokens.corrupted"), t.get("mask_tokens.selected"))
        if hint:
            return hint
    inputs = _helper_inputs(case)
    ln = {}
    for which in ("unit", "small"):
        x = inputs[f"ln_{which}"].double()
        if facts.get(f"layer_norm.{which}") == "ok":
            want = F.layer_norm(x, (x.shape[-1],), eps=C.LN_EPS)
            ln[which] = _rel(t.get(f"layer_norm.{which}"), want)
    if ln.get("unit", 0.0) > HELPER_RTOL:
        return (f"layer_norm differs from the definition on unit-scale rows (relative difference "
                f"{ln['unit']:.1e}): look at the mean, the biased variance (divide by d) and eps")
    if ln.get("small", 0.0) > HELPER_RTOL:
        var = float(inputs["ln_small"].double().var(dim=-1, unbiased=False).median())
        return (f"layer_norm is right on unit-scale rows but differs by {ln['small']:.1e} "
                f"(relative) on rows whose variance is {var:.0e}, comparable to eps: look at how "
                f"eps enters (the assignment's eps is {C.LN_EPS:g}, added to the variance)")
    if facts.get("gelu") == "ok":
        u = inputs["gelu"].double()
        if _rel(t.get("gelu"), F.gelu(u, approximate="tanh")) > HELPER_RTOL:
            return "gelu differs from the tanh form 0.5 u (1 + tanh(sqrt(2/pi) (u + 0.044715 u^3)))"
    if facts.get("softmax_rows") == "ok":
        z = inputs["softmax"].double()
        if _rel(t.get("softmax_rows"), torch.softmax(z, dim=-1)) > HELPER_RTOL:
            return "softmax_rows differs from a softmax over the last dimension"
    return None


def pattern_hint(failing: list[C.Case], passing: list[C.Case]) -> str:
    """What the set of cases with a wrong loss says about where the forward goes wrong."""
    def only(pred: object) -> bool:
        return all(pred(c) for c in failing) and any(pred(c) for c in C.update_matrix()) and not \
            any(pred(c) for c in passing)

    if any(c.blocks == 0 for c in failing):
        return ("the loss is wrong even with no transformer block, so look first at the "
                "masking (the three draws, the 80/10/10 split), the embedding lookup of the "
                "corrupted ids, and the cross-entropy (targets are the original ids at the "
                "selected positions, one mean over all of them)")
    if only(lambda c: c.scale != 1.0):
        return ("the loss is wrong only on the case whose activations are small (layer-norm "
                "rows of variance ~1e-4, where eps matters): look at how eps enters the layer "
                "norm")
    if only(lambda c: c.heads > 1) and passing:
        return ("the loss is right with one head and wrong with several: look at how the "
                "columns are split into heads (contiguous blocks of d_head) and at the "
                "1/sqrt(d_head) scale")
    return ("the loss is right with no block and wrong with blocks, so look inside a block, in "
            "this order: the layer norm (eps, variance divided by d), the attention (no mask, "
            "1/sqrt(d_head)), GELU's tanh form, and the residual connections")
