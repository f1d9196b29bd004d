"""Structure checks: BERT() builds, the framework's state_dict, output shapes, determinism."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from grader.assignments.bert_pretrain import inputs as probe_inputs
from grader.assignments.bert_pretrain.checks.common import (
    RUNS,
    check,
    clean,
    config,
    forward_tensors,
)
from grader.checks import Verdict

if TYPE_CHECKING:
    from grader.context import GradingContext


def _inspect(ctx: GradingContext) -> dict[str, Any]:
    return ctx.require(ctx.probe("inspect"), "building BERT()").data


@check("model.builds", "BERT() builds", depends=("model.imports",))
def model_builds(ctx: GradingContext) -> Verdict:
    """``BERT()`` can be constructed with no arguments."""
    facts = _inspect(ctx)
    return Verdict.passed(f"{facts['n_parameters']:,} parameters")


@check(
    "model.state_dict_keys",
    "state_dict keys and shapes match the framework",
    depends=("model.builds",),
)
def state_dict_keys(ctx: GradingContext) -> Verdict:
    """The checkpoint contract: the same parameter names and shapes as the framework's model."""
    found = _inspect(ctx)["state_dict"]
    expected = probe_inputs.expected_state_dict(config(ctx))
    missing = [k for k in expected if k not in found]
    extra = [k for k in found if k not in expected]
    wrong = [
        f"{k}: {found[k]} (expected {expected[k]})"
        for k in expected
        if k in found and list(found[k]) != list(expected[k])
    ]
    if not (missing or extra or wrong):
        return Verdict.passed()
    parts = []
    if missing:
        parts.append(f"missing {len(missing)}: {', '.join(missing[:6])}")
    if extra:
        parts.append(f"unexpected {len(extra)}: {', '.join(extra[:6])}")
    if wrong:
        parts.append(f"wrong shape: {'; '.join(wrong[:4])}")
    return Verdict.failed(
        "Your model's state_dict differs from the framework's, so a checkpoint of yours cannot be "
        "loaded by the course's code: " + " | ".join(parts) + ". Keep the attribute names of the "
        "handed-out skeleton (embedding, layers, fc1, activ1, classifier, fc2, activ2, norm, "
        "decoder, decoder_bias).",
        missing=missing,
        unexpected=extra,
        wrong_shape=wrong,
    )


@check(
    "encoder_layer.shapes",
    "EncoderLayer returns (enc_outputs, attn) with the right shapes",
    depends=("model.imports",),
)
def encoder_layer_shapes(ctx: GradingContext) -> Verdict:
    """``EncoderLayer()(x, mask)`` gives ``[B, L, d_model]`` and ``[B, n_heads, L, L]``."""
    cfg = config(ctx)
    inp = probe_inputs.encoder_inputs(cfg["d_model"])
    outcome = ctx.require(ctx.probe("encoder_layer", {}, inp), "running EncoderLayer.forward")
    if outcome.data.get("returned") != "tuple":
        return Verdict.failed(
            f"EncoderLayer.forward returned a {outcome.data.get('returned')}; "
            "return the tuple (enc_outputs, attn)."
        )
    b, length = inp["input_ids"].shape
    want = {"enc_outputs": [b, length, cfg["d_model"]], "attn": [b, cfg["n_heads"], length, length]}
    for name, shape in want.items():
        got = list(outcome.tensors[name].shape)
        if got != shape:
            return Verdict.failed(
                f"EncoderLayer returned {name} of shape {got}, expected {shape} "
                "([batch, seq_len, d_model] and [batch, n_heads, seq_len, seq_len]). Return the "
                "output of self.pos_ffn and the attention weights from self.enc_self_attn."
            )
    return Verdict.passed()


@check(
    "bert.shapes",
    "BERT.forward returns logits_lm [B, MAX_PRED, V] and logits_clsf [B, 2]",
    depends=("model.builds",),
)
def bert_shapes(ctx: GradingContext) -> Verdict:
    """The two outputs of ``BERT.forward`` have the course's shapes."""
    cfg = config(ctx)
    t = forward_tensors(ctx)
    b = len(probe_inputs.LENGTHS)
    want = {"logits_lm": [b, cfg["MAX_PRED"], cfg["VOCAB_SIZE"]], "logits_clsf": [b, 2]}
    for name, shape in want.items():
        got = list(t[name].shape)
        if got != shape:
            hint = (
                "gather the hidden states at masked_pos before decoding"
                if name == "logits_lm"
                else "apply the classifier to the [CLS] position only"
            )
            return Verdict.failed(f"{name} has shape {got}, expected {shape}: {hint}.")
    return Verdict.passed()


@check(
    "bert.deterministic",
    "BERT.forward gives the same outputs twice on the same inputs and seeds",
    depends=("bert.shapes",),
)
def deterministic(ctx: GradingContext) -> Verdict:
    """Two property runs (fresh processes, same inputs, weights and seeds) agree bit for bit."""
    runs = [forward_tensors(ctx, run) for run in range(RUNS)]
    first = runs[0]
    for other in runs[1:]:
        # the logits first: a difference there is the one a student can act on
        for name in sorted(first, key=lambda n: (n.count("."), "logits" not in n, n)):
            a, b = first[name], other.get(name)
            if b is not None and a.shape == b.shape and torch.equal(a, b):
                continue
            detail = "it is missing from the second run"
            if b is not None and a.shape != b.shape:
                detail = f"shape {list(a.shape)} then {list(b.shape)}"
            elif b is not None:
                diff = (a.double() - b.double()).abs()
                diff = torch.nan_to_num(diff, nan=float("inf"))
                where = [int(i) for i in torch.unravel_index(diff.argmax(), diff.shape)]
                detail = f"they differ by up to {float(diff.max()):.3g}, first at {where}"
            ctx.integrity_flags.append("non-deterministic forward")
            return Verdict.failed(
                f"Your forward is not deterministic: two runs on the same inputs, weights and "
                f"seeds gave different {clean(name)} ({detail}). Grades must be reproducible: "
                "look for "
                "randomness that is not drawn from torch's seeded generator (random.SystemRandom, "
                "os.urandom, time, id(), iteration over a set), or state kept between calls.",
                tensor=clean(name),
            )
    return Verdict.passed()
