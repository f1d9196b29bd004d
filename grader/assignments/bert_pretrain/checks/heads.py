"""The heads and the attention mask, judged in the parent from raw outputs on its own weights.

The sandbox runs the student's ``BERT.forward`` with weights the parent chose and returns raw
tensors (logits, the last encoder layer's output, layer 0's attention). The parent applies the
heads itself (``recompute.heads``), so nothing the student's code computes about itself is taken
as evidence; each property must hold in both property runs. The mask properties are read from
encoder outputs that at least one head confirms (its logits are that head applied to them); with
the reference, encoder outputs equal to the reference's settle them outright.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from grader.assignments.bert_pretrain import recompute
from grader.assignments.bert_pretrain.checks.common import (
    all_runs,
    check,
    forward_inputs,
    has_reference,
    reference_forward,
    tol,
    weights,
)
from grader.checks import CheckStopped, Verdict
from grader.compare import close, compare

if TYPE_CHECKING:
    from grader.context import GradingContext

HEAD_PARAMS = {
    "nsp": ("fc1.weight", "fc1.bias", "classifier.weight", "classifier.bias"),
    "mlm": ("fc2.weight", "fc2.bias", "norm.weight", "norm.bias", "decoder.weight",
            "decoder_bias"),
}
VARIANTS = ("", "pad.", "alt.")


def _lacks(ctx: GradingContext, head: str) -> list[str]:
    """Head parameters the student's model has no place for (the parent's weights did not load)."""
    from grader.assignments.bert_pretrain.checks.common import forward

    load = forward(ctx).data.get("load", {})
    unexpected = set(load.get("unexpected", [])) if isinstance(load, dict) else set()
    return [k for k in HEAD_PARAMS[head] if k in unexpected]


def _derived(
    ctx: GradingContext, t: dict[str, torch.Tensor], prefix: str = ""
) -> dict[str, torch.Tensor]:
    hidden = t.get(f"{prefix}hidden")
    pos = forward_inputs(ctx)["masked_pos"]
    if hidden is None or hidden.dim() != 3 or hidden.size(0) != pos.size(0):
        raise CheckStopped(
            Verdict.failed(
                "Could not capture the last encoder layer's output [batch, seq_len, d_model] "
                "(does BERT.forward loop over self.layers and use the output of the last one?)."
            )
        )
    try:
        return recompute.heads(weights(ctx), hidden, pos)
    except (RuntimeError, IndexError) as exc:
        raise CheckStopped(
            Verdict.failed(
                "Could not apply the framework's heads to your last hidden state (it has shape "
                f"{list(hidden.shape)}): {type(exc).__name__}. Keep d_model as the last dimension."
            )
        ) from exc


def _stop_if_lacking(ctx: GradingContext, head: str) -> None:
    lacking = _lacks(ctx, head)
    if lacking:
        raise CheckStopped(
            Verdict.failed(
                f"Could not apply your own heads to the last hidden state: your model has no "
                f"{', '.join(lacking[:4])}. Keep the framework's submodules (fc1, activ1, "
                "classifier, fc2, activ2, norm, decoder, decoder_bias)."
            )
        )


@check(
    "bert.masked_gather",
    "MLM head: gathers masked_pos, fc2 → GELU → LayerNorm → decoder + bias",
    depends=("bert.shapes",),
)
def masked_gather(ctx: GradingContext) -> Verdict:
    """``logits_lm[b, j]`` is the MLM head (the parent's) applied at ``masked_pos[b, j]``."""
    _stop_if_lacking(ctx, "mlm")
    t_ = tol(ctx)
    pos = forward_inputs(ctx)["masked_pos"]
    worst = 0.0
    for run, t in enumerate(all_runs(ctx)):
        d = _derived(ctx, t)
        cmp = compare(t["logits_lm"], d["mlm_expected"], **t_)
        if cmp.ok:
            worst = max(worst, cmp.max_abs_error)
            continue
        where = cmp.where or (0, 0, 0)
        b, j = where[0], where[1]
        msg = (
            f"logits_lm[{b}, {j}] is not the MLM head applied to your last hidden state at "
            f"masked_pos[{b}, {j}] = {int(pos[b][j])}: {cmp.describe('logits_lm')}"
            f"{' (second run)' if run else ''}. "
        )
        if close(t["logits_lm"], d["mlm_norm_first"], **t_):
            msg += (
                "It matches LayerNorm applied before GELU: call fc2, then activ2 (GELU), "
                "then norm."
            )
        elif close(t["logits_lm"], d["mlm_no_bias"], **t_):
            msg += (
                "It matches the head without decoder_bias: add self.decoder_bias to the decoder "
                "output."
            )
        else:
            msg += (
                "Are you gathering along dim 1 (the sequence) with masked_pos expanded to "
                "[batch, MAX_PRED, d_model]? The test uses masked positions that are unsorted, "
                "repeated and at 0, so sorting or deduplicating them breaks it."
            )
        return Verdict.failed(msg, max_abs_error=cmp.max_abs_error, where=list(where))
    return Verdict.passed(f"max abs error {worst:.1e}")


@check(
    "bert.nsp_head", "NSP head: classifier(tanh(fc1(h[:, 0]))) on [CLS]", depends=("bert.shapes",)
)
def nsp_head(ctx: GradingContext) -> Verdict:
    """``logits_clsf`` is ``classifier(tanh(fc1(h[:, 0])))`` (the parent's) on the same hidden."""
    _stop_if_lacking(ctx, "nsp")
    t_ = tol(ctx)
    worst = 0.0
    for run, t in enumerate(all_runs(ctx)):
        d = _derived(ctx, t)
        cmp = compare(t["logits_clsf"], d["nsp_expected"], **t_)
        if cmp.ok:
            worst = max(worst, cmp.max_abs_error)
            continue
        msg = (
            f"logits_clsf is not classifier(activ1(fc1(h[:, 0]))): {cmp.describe('logits_clsf')}"
            f"{' (second run)' if run else ''}. "
        )
        if close(t["logits_clsf"], d["nsp_last_position"], **t_):
            msg += "It matches the LAST position: [CLS] is the FIRST token, use output[:, 0]."
        elif close(t["logits_clsf"], d["nsp_no_tanh"], **t_):
            msg += "It matches the head without tanh: apply self.activ1 after self.fc1."
        else:
            msg += "Take the [CLS] hidden state output[:, 0], then fc1, activ1 (tanh), classifier."
        return Verdict.failed(msg, max_abs_error=cmp.max_abs_error)
    return Verdict.passed(f"max abs error {worst:.1e}")


def _encoder_settled_by_reference(
    ctx: GradingContext, runs: list[dict[str, torch.Tensor]]
) -> bool:
    """Every run's encoder outputs (all three batches) equal the reference's."""
    if not has_reference(ctx):
        return False
    ref = reference_forward(ctx)
    return all(
        close(t.get(f"{v}hidden"), ref[f"{v}hidden"], **tol(ctx)) for t in runs for v in VARIANTS
    )


def _confirmed_hidden(ctx: GradingContext, t: dict[str, torch.Tensor]) -> str | None:
    """None when each batch's encoder output is confirmed by a head; else what is not."""
    t_ = tol(ctx)
    for v in VARIANTS:
        if f"{v}hidden" not in t:
            return f"the encoder output of the {v[:-1] or 'first'} batch was not captured"
        d = _derived(ctx, t, v)
        nsp_ok = not _lacks(ctx, "nsp") and close(
            t.get(f"{v}logits_clsf"), d["nsp_expected"], **t_
        )
        mlm_ok = not _lacks(ctx, "mlm") and close(
            t.get(f"{v}logits_lm"), d["mlm_expected"], **t_
        )
        ok = nsp_ok or mlm_ok
        if not ok:
            return (
                f"neither head's logits on the {v[:-1] or 'first'} batch are that head applied to "
                "the encoder output your model reported"
            )
    return None


def _mask_evidence(ctx: GradingContext) -> tuple[bool, list[dict[str, torch.Tensor]]]:
    runs = all_runs(ctx)
    if _encoder_settled_by_reference(ctx, runs):
        return True, runs
    for t in runs:
        problem = _confirmed_hidden(ctx, t)
        if problem:
            raise CheckStopped(
                Verdict.failed(
                    f"The attention mask could not be judged: {problem}. Fix the MLM or NSP head "
                    "first (see those checks); the mask is read from the encoder output they use."
                )
            )
    return False, runs


@check("bert.pad_mask", "[PAD] tokens are masked out of attention", depends=("bert.shapes",))
def pad_mask(ctx: GradingContext) -> Verdict:
    """Appending [PAD]s leaves real-token outputs unchanged; attention on [PAD] keys is ~0."""
    settled, runs = _mask_evidence(ctx)
    if settled:
        return Verdict.passed("encoder outputs equal the reference's on every batch")
    t_ = tol(ctx)
    inp = forward_inputs(ctx)
    ids = inp["input_ids"]
    real = ids.ne(0).unsqueeze(-1)
    for t in runs:
        cmp = compare(t["pad.hidden"][:, : ids.size(1)], t["hidden"], mask=real, **t_)
        if not cmp.ok:
            b, pos = (cmp.where or (0, 0))[:2]
            return Verdict.failed(
                f"Appending 3 [PAD] tokens changed the output at a real token: sequence {b}, "
                f"position {pos} ({cmp.describe('hidden')}). Real tokens must not attend to [PAD] "
                "keys: build the mask with get_pad_attn_mask(input_ids, input_ids) (True where "
                "the KEY is [PAD]) and pass it to every layer; masked_fill the scores, not the "
                "outputs.",
                max_abs_error=cmp.max_abs_error,
            )
        attn = t.get("pad.attn0")
        if attn is not None and attn.dim() == 4 and attn.shape[-1] == inp["pad.input_ids"].size(1):
            pad_ids = inp["pad.input_ids"]
            on_pad = attn * pad_ids.eq(0)[:, None, None, :] * pad_ids.ne(0)[:, None, :, None]
            worst = float(on_pad.max())
            if worst > 1e-4:
                return Verdict.failed(
                    f"A real token gives attention weight {worst:.3g} to a [PAD] key "
                    "in layer 0; it should be ~0 (mask the key columns)."
                )
    return Verdict.passed()


@check(
    "bert.bidirectional", "attention is bidirectional (no causal mask)", depends=("bert.shapes",)
)
def bidirectional(ctx: GradingContext) -> Verdict:
    """Changing the last real token changes the first position's output."""
    settled, runs = _mask_evidence(ctx)
    if settled:
        return Verdict.passed("encoder outputs equal the reference's on every batch")
    for t in runs:
        change = (t["alt.hidden"][:, 0] - t["hidden"][:, 0]).abs().amax(dim=-1)
        unchanged = [b for b, c in enumerate(change.tolist()) if not c > 1e-5]
        if unchanged:
            return Verdict.failed(
                f"Changing the last real token of sequence {unchanged[0]} did not change the "
                "output at position 0 ([CLS]): tokens cannot see later tokens. BERT is "
                "bidirectional: mask only [PAD] keys, never with a causal (triangular) mask."
            )
    return Verdict.passed()
