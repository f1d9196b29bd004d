"""Weight tying, judged from one training step whose result the parent recomputes.

The sandbox gets the parent's weights and upstream gradients, takes one SGD step and returns the
embedding and decoder it ends with. A tied decoder gets one update, the sum of its two uses; an
untied one does not. With the reference (instructor grading) the parent recomputes both outcomes
and the student's must be the tied one. Where the student's forward differs from the reference
(another bug, already costing the full-model item) or in precheck, the step is judged on the rows
of tokens absent from the batch: their embedding rows get no lookup gradient, so they move only
if the decoder's update reaches the embedding, and then they equal the decoder's rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from grader.assignments.bert_pretrain import recompute
from grader.assignments.bert_pretrain.checks.common import (
    all_runs,
    check,
    config,
    has_reference,
    prepared,
    reference_forward,
    tol,
    weights,
)
from grader.checks import Verdict
from grader.compare import close

if TYPE_CHECKING:
    from grader.context import GradingContext

EMB, DEC = "embedding.tok_embed.weight", "decoder.weight"
ADVICE = (
    "In BERT.__init__, make the decoder use the embedding's weight itself "
    "(self.decoder.weight = self.embedding.tok_embed.weight), not a copy of it and not a weight "
    "of its own."
)


def _step(ctx: GradingContext) -> dict[str, torch.Tensor]:
    inp = recompute.step_inputs(config(ctx)) | {f"w.{k}": v for k, v in weights(ctx).items()}
    outcome = ctx.require(
        ctx.probe("train_step", {"lr": recompute.STEP_LR}, inp),
        "taking one SGD step with your model",
    )
    return {k[len("after.") :]: v for k, v in outcome.tensors.items() if k.startswith("after.")}


def _forward_matches_reference(ctx: GradingContext) -> bool:
    ref = reference_forward(ctx)
    return all(
        close(mine.get(name), ref[name], **tol(ctx))
        for mine in all_runs(ctx)
        for name in ("logits_lm", "logits_clsf")
    )


def _absent_rows(ctx: GradingContext) -> torch.Tensor:
    ids = recompute.step_inputs(config(ctx))["input_ids"]
    present = torch.zeros(config(ctx)["VOCAB_SIZE"], dtype=torch.bool)
    present[ids.flatten()] = True
    present[0] = True  # [PAD]: an embedding may keep its row fixed (padding_idx)
    return (~present).nonzero().flatten()


def _signature(ctx: GradingContext, after: dict[str, torch.Tensor]) -> Verdict:
    rows = _absent_rows(ctx)
    start = weights(ctx)[EMB][rows]
    emb, dec = after[EMB][rows], after[DEC][rows]
    moved = float((emb - start).abs().max())
    if moved <= 1e-6:
        return Verdict.failed(
            "After one training step, the embedding rows of tokens that are not in the batch did "
            "not move, while the decoder's did: the decoder's gradient never reaches the token "
            f"embedding, so they are two separate weights. {ADVICE}",
            rows_checked=len(rows),
        )
    if not close(dec, emb, **tol(ctx)):
        return Verdict.failed(
            "After one training step the decoder and the token embedding hold different values: "
            f"they are not one tensor. {ADVICE}",
            rows_checked=len(rows),
        )
    return Verdict.passed(
        f"judged from the rows of {len(rows)} tokens absent from the step's batch"
    )


@check(
    "bert.weight_tying", "decoder weight is tied to the token embedding", depends=("bert.shapes",)
)
def weight_tying(ctx: GradingContext) -> Verdict:
    """After one SGD step from the parent's weights, embedding and decoder are the tied update."""
    after = _step(ctx)
    missing = [n for n in (EMB, DEC) if n not in after]
    if missing:
        return Verdict.failed(
            f"Your model has no {' or '.join(missing)} (see the state_dict check), so weight tying "
            "cannot be seen. Keep the framework's names: model.embedding.tok_embed, model.decoder."
        )
    if not has_reference(ctx):
        return _signature(ctx, after)
    prep = prepared(ctx)
    inp = recompute.step_inputs(config(ctx))
    tied = prep.once("step_tied", lambda: recompute.reference_step(prep, weights(ctx), inp, True))
    untied = prep.once(
        "step_untied", lambda: recompute.reference_step(prep, weights(ctx), inp, False)
    )
    t = tol(ctx)
    if all(close(after[n], tied[n], **t) for n in (EMB, DEC)):
        return Verdict.passed("the training step gives the tied update")
    if all(close(after[n], untied[n], **t) for n in (EMB, DEC)):
        return Verdict.failed(
            "After one training step your embedding and decoder are exactly what an UNTIED "
            f"decoder gives: the decoder has a weight of its own. {ADVICE}",
            judged="reference step",
        )
    if _forward_matches_reference(ctx):
        return Verdict.failed(
            "Your forward matches the reference, but after one training step your embedding and "
            f"decoder are not the tied update: the decoder's gradient does not reach the token "
            f"embedding (or the other way round). {ADVICE}",
            judged="reference step",
        )
    return _signature(ctx, after)
