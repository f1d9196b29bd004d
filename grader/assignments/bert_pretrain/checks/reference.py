"""Reference checks: the student's modules, with the parent's weights, against the reference.

The reference ``model.py`` runs in the parent (``recompute``), never in a sandbox; its outputs on
the fixed inputs are computed once per run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from grader.assignments.bert_pretrain import inputs as probe_inputs
from grader.assignments.bert_pretrain import recompute
from grader.assignments.bert_pretrain.checks.common import (
    RUNS,
    check,
    config,
    forward,
    load_note,
    prepared,
    reference_forward,
    tol,
    weights,
)
from grader.checks import Verdict
from grader.compare import compare

if TYPE_CHECKING:
    from grader.context import GradingContext


@check(
    "encoder_layer.matches_reference",
    "EncoderLayer matches the reference with the same weights",
    tier="reference",
    depends=("encoder_layer.shapes",),
)
def encoder_layer_reference(ctx: GradingContext) -> Verdict:
    """With randomised weights loaded, outputs and attention equal the reference's."""
    layer_weights = probe_inputs.encoder_layer_weights(weights(ctx))
    inp = probe_inputs.encoder_inputs(config(ctx)["d_model"])
    prep = prepared(ctx)
    ref = prep.once(
        "reference_encoder_layer",
        lambda: recompute.reference_encoder_layer(prep, layer_weights, inp),
    )
    sent = inp | {f"w.{k}": v for k, v in layer_weights.items()}
    mine = ctx.require(
        ctx.probe("encoder_layer", {}, sent), "running EncoderLayer with set weights"
    )
    t = tol(ctx)
    attn = compare(mine.tensors.get("attn"), ref["attn"], **t)
    out = compare(mine.tensors.get("enc_outputs"), ref["enc_outputs"], **t)
    if attn.ok and out.ok:
        return Verdict.passed(
            f"max abs error {out.max_abs_error:.1e}", max_abs_error=out.max_abs_error
        )
    if not attn.ok:
        return Verdict.failed(
            f"The attention weights differ from the reference: "
            f"{attn.describe('attn')}. Return the attn of self.enc_self_attn "
            "unchanged." + load_note(mine),
            max_abs_error=attn.max_abs_error,
        )
    hint = (
        "The attention part agrees, so look at what follows it: the output of "
        "self.enc_self_attn must go through self.pos_ffn, and EncoderLayer returns that."
    )
    return Verdict.failed(
        f"enc_outputs differs from the reference with the same weights: "
        f"{out.describe('enc_outputs')}. {hint}" + load_note(mine),
        max_abs_error=out.max_abs_error,
        where=list(out.where or ()),
    )


@check(
    "bert.matches_reference",
    "BERT.forward matches the reference with the same weights",
    tier="reference",
    depends=("bert.shapes",),
)
def bert_reference(ctx: GradingContext) -> Verdict:
    """With every parameter randomised (biases, LayerNorm, decoder_bias too), logits agree."""
    ref = reference_forward(ctx)
    t = tol(ctx)
    for run in range(RUNS):
        mine = ctx.require(forward(ctx, run), "running BERT with set weights")
        for name in ("logits_clsf", "logits_lm"):
            cmp = compare(mine.tensors.get(name), ref[name], **t)
            if not cmp.ok:
                return Verdict.failed(
                    f"With the reference's weights loaded, {cmp.describe(name)}. The property "
                    f"checks above say which part is off.{load_note(mine)}",
                    max_abs_error=cmp.max_abs_error,
                    where=list(cmp.where or ()),
                )
    return Verdict.passed()
