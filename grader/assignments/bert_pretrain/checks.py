"""Trusted-side checks for CS310 A6: judge what the probes returned and explain every failure.

Property checks need no reference and also run in ``precheck``; reference checks compare with the
instructor's solution and evaluate checkpoints with the trusted reference forward.
"""

from __future__ import annotations

import copy
import re
from typing import TYPE_CHECKING, Any

import torch

from grader.assignments.bert_pretrain import inputs as probe_inputs
from grader.assignments.bert_pretrain.kit import framework_text
from grader.checks import CheckRegistry, CheckStopped, Verdict
from grader.compare import Comparison, close, compare
from grader.results import CheckStatus
from grader.sourcefile import SourceRejected, parse_file

if TYPE_CHECKING:
    from grader.assignments.bert_pretrain.plugin import Prepared
    from grader.context import GradingContext
    from grader.sandbox import ProbeOutcome

registry = CheckRegistry()
check = registry.check

ATOL = 1e-4  # float32 outputs of the same ops in another order differ by ~1e-6 here; bugs by >1e-2
RTOL = 1e-4
RANDOM_SEED = 1234
LOSS_LINE = re.compile(r"Loss\s+([0-9]+(?:\.[0-9]+)?)")


def _prepared(ctx: GradingContext) -> Prepared:
    return ctx.prepared


def _tol(ctx: GradingContext) -> dict[str, float]:
    return {"atol": float(ctx.setting("atol", ATOL)), "rtol": float(ctx.setting("rtol", RTOL))}


def _config(ctx: GradingContext) -> dict[str, int]:
    return _prepared(ctx).probe_config


def _forward(
    ctx: GradingContext, session: str = "student", weights: dict[str, torch.Tensor] | None = None
) -> ProbeOutcome:
    cfg = _config(ctx)
    inp = probe_inputs.forward_inputs(cfg["VOCAB_SIZE"], cfg["MAX_PRED"])
    for name, value in (weights or {}).items():
        inp[f"w.{name}"] = value
    # Without weights from the parent, the model's own parameters are randomised (seeded) so that
    # no bias or gain sits at its initial 0 or 1.
    params = {} if weights else {"randomize": RANDOM_SEED}
    return ctx.probe("bert_forward", params, inp, session=session)


def _forward_tensors(ctx: GradingContext) -> dict[str, torch.Tensor]:
    outcome = ctx.require(_forward(ctx), "running BERT.forward on a small batch")
    if outcome.data.get("returned") != "tuple":
        raise CheckStopped(
            Verdict.failed(
                f"BERT.forward returned a {outcome.data.get('returned')}; it must return the tuple "
                "(logits_lm, logits_clsf). Check the `return` at the end of BERT.forward."
            )
        )
    return outcome.tensors


# -- files and imports ---------------------------------------------------------------------------
def _course_copy(ctx: GradingContext, name: str) -> bool:
    """Whether the submitted ``name`` is the course's framework file unchanged (line ends aside)."""
    try:
        text = (ctx.submission_dir / name).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    body = text.replace("\r\n", "\n").splitlines(keepends=True)
    while body and body[0].startswith(("# GENERATED", "# Do not edit")):
        body.pop(0)
    return "".join(body) == framework_text(name)


@check("files.present", "model.py, train.py and bert_model.pt are submitted", tier="file")
def files_present(ctx: GradingContext) -> Verdict:
    """Every required file is in the submission."""
    required = ctx.assignment.required_files
    missing = [f for f in required if not ctx.has_file(f)]
    # An unmodified copy of a handed-out file (the template's own) is no news to the student.
    ignored = [
        f for f in ctx.assignment.framework_files if f in ctx.files and not _course_copy(ctx, f)
    ]
    if ignored:
        ctx.warn(
            f"Your own copies of {', '.join(ignored)} were ignored: grading always uses the "
            "course's framework files."
        )
    if missing:
        return Verdict.failed(
            f"Missing: {', '.join(missing)}. Submit exactly these file names at the top level "
            f"({', '.join(required)}).",
            score=(len(required) - len(missing)) / len(required),
            missing=missing,
        )
    return Verdict.passed()


def _syntax_problem(ctx: GradingContext, name: str) -> Verdict | None:
    if not ctx.has_file(name):
        return Verdict.failed(f"{name} was not submitted.")
    try:
        parse_file(ctx.submission_dir / name, name)
    except SyntaxError as exc:
        line = (exc.text or "").rstrip()
        return Verdict(
            CheckStatus.ERROR,
            f"{name} does not parse: {exc.msg} at line {exc.lineno}:\n    {line}\n"
            "Fix the syntax error first; nothing else can be checked until then.",
            details={"line": exc.lineno},
        )
    except SourceRejected as exc:  # too large, too deep, null bytes
        return Verdict(CheckStatus.ERROR, str(exc))
    return None


@check("model.imports", "model.py imports with the course's config.py", tier="file")
def model_imports(ctx: GradingContext) -> Verdict:
    """model.py parses and imports inside the sandbox, next to the kit's framework files."""
    problem = _syntax_problem(ctx, "model.py")
    if problem:
        return problem
    outcome = ctx.require(ctx.probe("import", {"modules": ["model"]}), "importing model.py")
    missing = [n for n in ("BERT", "EncoderLayer") if n not in outcome.data.get("names", [])]
    if missing:
        return Verdict.failed(
            f"model.py imports, but does not define {', '.join(missing)}: keep "
            "the class names of the handed-out framework."
        )
    return Verdict.passed()


@check("train.parses", "train.py is valid Python", tier="file")
def train_parses(ctx: GradingContext) -> Verdict:
    """train.py parses (it is a script: it is run, not imported, by the training checks)."""
    return _syntax_problem(ctx, "train.py") or Verdict.passed()


# -- structure ------------------------------------------------------------------------------------
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
    expected = probe_inputs.expected_state_dict(_config(ctx))
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
    cfg = _config(ctx)
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
    cfg = _config(ctx)
    t = _forward_tensors(ctx)
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
    "bert.weight_tying", "decoder weight is tied to the token embedding", depends=("bert.shapes",)
)
def weight_tying(ctx: GradingContext) -> Verdict:
    """``decoder.weight`` and ``embedding.tok_embed.weight`` are one tensor."""
    tying = _inspect(ctx)["tying"]
    if "error" in tying:
        return Verdict.failed(
            f"Could not look at model.decoder / model.embedding.tok_embed: {tying['error']}."
        )
    if (
        tying.get("is_same_object")
        and tying.get("embedding_change_seen_in_decoder")
        and tying.get("decoder_change_seen_in_embedding")
    ):
        return Verdict.passed()
    return Verdict.failed(
        "model.decoder.weight is not the same tensor as model.embedding.tok_embed.weight: a "
        "change to one does not show in the other. In BERT.__init__, assign the embedding's "
        "weight to the decoder (self.decoder.weight = self.embedding.tok_embed.weight) instead "
        "of copying it or leaving the decoder with its own weight.",
        **tying,
    )


# -- heads and masks ------------------------------------------------------------------------------
def _derived(ctx: GradingContext, t: dict[str, torch.Tensor], name: str) -> torch.Tensor:
    if name not in t:
        errors = _forward(ctx).data.get("derived_errors", {})
        reason = errors.get(name, "the last encoder layer produced no output")
        raise CheckStopped(
            Verdict.failed(
                f"Could not apply your own heads to the last hidden state ({reason}). Keep the "
                "framework's submodules (fc1, activ1, classifier, fc2, activ2, norm, decoder, "
                "decoder_bias)."
            )
        )
    return t[name]


@check(
    "bert.masked_gather",
    "MLM head: gathers masked_pos, fc2 → GELU → LayerNorm → decoder + bias",
    depends=("bert.shapes",),
)
def masked_gather(ctx: GradingContext) -> Verdict:
    """``logits_lm[b, j]`` equals the student's MLM head applied at ``masked_pos[b, j]``."""
    t = _forward_tensors(ctx)
    tol = _tol(ctx)
    expected = _derived(ctx, t, "mlm_expected")
    cmp = compare(t["logits_lm"], expected, **tol)
    if cmp.ok:
        return Verdict.passed(f"max abs error {cmp.max_abs_error:.1e}")
    pos = probe_inputs.MASKED_POS
    where = cmp.where or (0, 0, 0)
    b, j = where[0], where[1]
    msg = (
        f"logits_lm[{b}, {j}] does not match your MLM head applied to the last hidden state at "
        f"masked_pos[{b}, {j}] = {pos[b][j]}: {cmp.describe('logits_lm')}. "
    )
    if "mlm_norm_first" in t and close(t["logits_lm"], t["mlm_norm_first"], **tol):
        msg += "It matches LayerNorm applied before GELU: call fc2, then activ2 (GELU), then norm."
    elif "mlm_no_bias" in t and close(t["logits_lm"], t["mlm_no_bias"], **tol):
        msg += (
            "It matches the head without decoder_bias: add self.decoder_bias to the decoder output."
        )
    else:
        msg += (
            "Are you gathering along dim 1 (the sequence) with masked_pos expanded to "
            "[batch, MAX_PRED, d_model]? The test uses masked positions that are unsorted, "
            "repeated and at 0, so sorting or deduplicating them breaks it."
        )
    return Verdict.failed(msg, max_abs_error=cmp.max_abs_error, where=list(where))


@check(
    "bert.nsp_head", "NSP head: classifier(tanh(fc1(h[:, 0]))) on [CLS]", depends=("bert.shapes",)
)
def nsp_head(ctx: GradingContext) -> Verdict:
    """``logits_clsf`` equals ``classifier(activ1(fc1(h[:, 0])))``."""
    t = _forward_tensors(ctx)
    tol = _tol(ctx)
    cmp = compare(t["logits_clsf"], _derived(ctx, t, "nsp_expected"), **tol)
    if cmp.ok:
        return Verdict.passed(f"max abs error {cmp.max_abs_error:.1e}")
    msg = f"logits_clsf is not classifier(activ1(fc1(h[:, 0]))): {cmp.describe('logits_clsf')}. "
    if "nsp_last_position" in t and close(t["logits_clsf"], t["nsp_last_position"], **tol):
        msg += "It matches the LAST position: [CLS] is the FIRST token, use output[:, 0]."
    elif "nsp_no_tanh" in t and close(t["logits_clsf"], t["nsp_no_tanh"], **tol):
        msg += "It matches the head without tanh: apply self.activ1 after self.fc1."
    else:
        msg += "Take the [CLS] hidden state output[:, 0], then fc1, activ1 (tanh), classifier."
    return Verdict.failed(msg, max_abs_error=cmp.max_abs_error)


@check("bert.pad_mask", "[PAD] tokens are masked out of attention", depends=("bert.shapes",))
def pad_mask(ctx: GradingContext) -> Verdict:
    """Appending [PAD]s leaves real-token outputs unchanged; attention on [PAD] keys is ~0."""
    t = _forward_tensors(ctx)
    if "hidden" not in t or "pad.hidden" not in t:
        return Verdict.failed(
            "Could not capture the encoder output (does BERT.forward loop over self.layers?)."
        )
    tol = _tol(ctx)
    cfg = _config(ctx)
    ids = probe_inputs.forward_inputs(cfg["VOCAB_SIZE"], cfg["MAX_PRED"])["input_ids"]
    real = ids.ne(0).unsqueeze(-1)
    cmp = compare(t["pad.hidden"][:, : ids.size(1)], t["hidden"], mask=real, **tol)
    if not cmp.ok:
        b, pos = (cmp.where or (0, 0))[:2]
        return Verdict.failed(
            f"Appending 3 [PAD] tokens changed the output at a real token: sequence {b}, position "
            f"{pos} ({cmp.describe('hidden')}). Real tokens must not attend to [PAD] keys: build "
            "the mask with get_pad_attn_mask(input_ids, input_ids) (True where the KEY is [PAD]) "
            "and pass it to every layer; masked_fill the scores, not the outputs.",
            max_abs_error=cmp.max_abs_error,
        )
    attn = t.get("pad.attn0")
    if attn is not None and attn.dim() == 4:
        pad_ids = probe_inputs.forward_inputs(cfg["VOCAB_SIZE"], cfg["MAX_PRED"])["pad.input_ids"]
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
    t = _forward_tensors(ctx)
    if "hidden" not in t or "alt.hidden" not in t:
        return Verdict.failed("Could not capture the encoder output of the altered batch.")
    change = (t["alt.hidden"][:, 0] - t["hidden"][:, 0]).abs().amax(dim=-1)
    unchanged = [b for b, c in enumerate(change.tolist()) if c <= 1e-5]
    if unchanged:
        return Verdict.failed(
            f"Changing the last real token of sequence {unchanged[0]} did not change the output "
            "at position 0 ([CLS]): tokens cannot see later tokens. BERT is bidirectional: mask "
            "only [PAD] keys, never with a causal (triangular) mask."
        )
    return Verdict.passed()


# -- reference checks -----------------------------------------------------------------------------
def _reference_shapes(ctx: GradingContext) -> dict[str, list[int]]:
    outcome = ctx.probe("inspect", session="reference")
    if outcome.status != "ok" or outcome.error is not None:
        raise RuntimeError(f"the reference solution failed to build: {outcome.message}")
    return outcome.data["state_dict"]


def _reference_outcome(ctx: GradingContext, outcome: ProbeOutcome) -> ProbeOutcome:
    if outcome.status != "ok" or outcome.error is not None:
        detail = outcome.error.message if outcome.error else outcome.message
        raise RuntimeError(f"the reference run failed: {detail}")
    return outcome


def _load_note(outcome: ProbeOutcome) -> str:
    """What did not fit when the reference's weights were loaded into the student's model."""
    load = outcome.data.get("load", {})
    bits = []
    # load_state_dict's "unexpected" are framework weights the student's model has no place for;
    # its "missing" are the student's own parameters the framework does not know (left random).
    if load.get("unexpected"):
        bits.append(f"your model has no {', '.join(sorted(load['unexpected'])[:4])}")
    own = [k for k in load.get("missing", []) if not k.endswith(".pe")]  # buffers: not sent
    if own:
        bits.append(f"it has parameters the framework does not: {', '.join(sorted(own)[:4])}")
    return (" Note: " + "; ".join(bits) + ".") if bits else ""


@check(
    "encoder_layer.matches_reference",
    "EncoderLayer matches the reference with the same weights",
    tier="reference",
    depends=("encoder_layer.shapes",),
)
def encoder_layer_reference(ctx: GradingContext) -> Verdict:
    """With randomised weights loaded, outputs and attention equal the reference's."""
    cfg = _config(ctx)
    weights = probe_inputs.encoder_layer_weights(
        probe_inputs.random_weights(_reference_shapes(ctx))
    )
    inp = probe_inputs.encoder_inputs(cfg["d_model"]) | {f"w.{k}": v for k, v in weights.items()}
    ref = _reference_outcome(ctx, ctx.probe("encoder_layer", {}, inp, session="reference"))
    mine = ctx.require(ctx.probe("encoder_layer", {}, inp), "running EncoderLayer with set weights")
    tol = _tol(ctx)
    attn = compare(mine.tensors.get("attn"), ref.tensors["attn"], **tol)
    out = compare(mine.tensors.get("enc_outputs"), ref.tensors["enc_outputs"], **tol)
    if attn.ok and out.ok:
        return Verdict.passed(
            f"max abs error {out.max_abs_error:.1e}", max_abs_error=out.max_abs_error
        )
    if not attn.ok:
        return Verdict.failed(
            f"The attention weights differ from the reference: "
            f"{attn.describe('attn')}. Return the attn of self.enc_self_attn "
            "unchanged." + _load_note(mine),
            max_abs_error=attn.max_abs_error,
        )
    hint = (
        "The attention part agrees, so look at what follows it: the output of "
        "self.enc_self_attn must go through self.pos_ffn, and EncoderLayer returns that."
    )
    return Verdict.failed(
        f"enc_outputs differs from the reference with the same weights: "
        f"{out.describe('enc_outputs')}. {hint}" + _load_note(mine),
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
    weights = probe_inputs.random_weights(_reference_shapes(ctx))
    ref = _reference_outcome(ctx, _forward(ctx, "reference", weights))
    mine = ctx.require(_forward(ctx, "student", weights), "running BERT with set weights")
    tol = _tol(ctx)
    for name in ("logits_clsf", "logits_lm"):
        cmp = compare(mine.tensors.get(name), ref.tensors[name], **tol)
        if not cmp.ok:
            return Verdict.failed(
                f"With the reference's weights loaded, {cmp.describe(name)}. The property checks "
                f"above say which part is off.{_load_note(mine)}",
                max_abs_error=cmp.max_abs_error,
                where=list(cmp.where or ()),
            )
    return Verdict.passed()


def trusted_loss(
    ctx: GradingContext,
    state: dict[str, torch.Tensor],
    session: str,
) -> dict[str, float]:
    """The course's loss of ``state`` on the kit's eval batches, by the reference forward."""
    inputs = {f"w.{k}": v.detach().clone().contiguous() for k, v in state.items()}
    out = _reference_outcome(
        ctx,
        ctx.probe(
            "eval_loss",
            {"source": "inputs"},
            inputs,
            session=session,
            limits=_prepared(ctx).eval_limits,
        ),
    )
    return summarise_losses(out.data)


def summarise_losses(data: dict[str, list[float]]) -> dict[str, float]:
    """Mean losses over the eval batches.

    ``loss`` is the course's ``loss_lm + loss_clsf`` (zero-padded MLM targets count, as in the
    course's train.py); ``loss_real`` leaves those padded targets out, the other allowed
    formulation. A model trained either way is judged fairly by the better of the two.
    """
    n = len(data["loss_lm"])
    lm, clsf = sum(data["loss_lm"]) / n, sum(data["loss_clsf"]) / n
    lm_real = sum(data.get("loss_lm_real", data["loss_lm"])) / n
    return {
        "loss_lm": lm,
        "loss_lm_real": lm_real,
        "loss_clsf": clsf,
        "loss": lm + clsf,
        "loss_real": lm_real + clsf,
    }


@check("checkpoint.loss", "bert_model.pt reaches loss ≤ 10.0 after one epoch", tier="reference")
def checkpoint_loss(ctx: GradingContext) -> Verdict:
    """Evaluate the submitted checkpoint with the trusted reference forward on fixed batches."""
    from grader.safeload import CheckpointError, load_state_dict

    threshold = float(ctx.setting("loss_threshold", 10.0))
    if not ctx.has_file("bert_model.pt"):
        return Verdict.failed("bert_model.pt was not submitted, so the loss cannot be measured.")
    prepared = _prepared(ctx)
    try:
        state = load_state_dict(
            ctx.submission_dir / "bert_model.pt",
            max_bytes=int(ctx.setting("max_checkpoint_mb", 600)) << 20,
        )
    except CheckpointError as exc:
        return Verdict.failed(f"bert_model.pt could not be used: {exc}")
    expected = prepared.checkpoint_shapes
    found = {k: list(v.shape) for k, v in state.items()}
    wrong = [k for k in expected if k in found and found[k] != expected[k]]
    if wrong:  # the framework's names with other sizes: trained in another configuration
        k = wrong[0]
        return Verdict.failed(
            f"bert_model.pt has the framework's parameter names but other sizes: {k} is "
            f"{found[k]}, the '{prepared.checkpoint_profile}' profile needs {expected[k]}. Train "
            "with the course's config.py (and vocab.txt), or ask whether the class was graded "
            "in another profile.",
            wrong_shape=wrong[:10],
            profile=prepared.checkpoint_profile,
        )
    if set(expected) <= set(found):
        losses = trusted_loss(
            ctx, {k: state[k] for k in expected if not k.endswith(".pe")}, "reference_checkpoint"
        )
        path = "trusted"
    else:
        ctx.integrity_flags.append("checkpoint keys differ from the framework: untrusted path")
        ctx.warn(
            "bert_model.pt does not have the framework's parameter names/shapes, so it was "
            "evaluated with your own model.py inside the sandbox (untrusted path)."
        )
        out = ctx.require(
            ctx.probe(
                "eval_loss",
                {"source": "file"},
                session="student_checkpoint",
                limits=prepared.eval_limits,
            ),
            "evaluating bert_model.pt with your own model",
        )
        losses = summarise_losses(out.data)
        path = "untrusted"
    loss = min(losses["loss"], losses["loss_real"])
    details = {
        **{k: round(v, 4) for k, v in losses.items()},
        "threshold": threshold,
        "path": path,
        "profile": prepared.checkpoint_profile,
    }
    text = (
        f"loss {losses['loss']:.3f} (loss_lm {losses['loss_lm']:.3f} + loss_clsf "
        f"{losses['loss_clsf']:.3f}; {losses['loss_real']:.3f} without the zero-padded MLM "
        f"targets) on {prepared.n_eval_batches} fixed eval batches"
    )
    if loss <= threshold:
        return Verdict.passed(text, **details)
    return Verdict.failed(
        f"Your checkpoint's {text}; it must be ≤ {threshold}. Train for the full epoch with "
        "loss = loss_lm + loss_clsf, and save model.state_dict() after training.",
        **details,
    )


def _printed_loss(outcome: ProbeOutcome) -> str:
    found = LOSS_LINE.findall(outcome.stdout_tail.replace("\r", "\n"))
    return f"your train.py printed Loss {found[-1]}" if found else ""


@check(
    "train.loop",
    "train.py's loop trains the model (judged with the reference model)",
    tier="reference",
    depends=("train.parses",),
)
def train_loop(ctx: GradingContext) -> Verdict:
    """Run train.py for one epoch on the kit's fixed batches with the reference ``model.py``.

    The checkpoint it saves must reach the calibrated loss, and both heads must have been trained.
    The verdict depends only on train.py (and the kit), so it is shared across the submissions of
    a run that have the same train.py.
    """
    key = "train.loop:" + ctx.files.get("train.py", "")
    if key not in ctx.shared.values:
        ctx.shared.values[key] = _judge_loop(ctx)
    return copy.deepcopy(ctx.shared.values[key])


def _compare_with_reference_loop(
    state: dict[str, torch.Tensor], reference: dict[str, torch.Tensor]
) -> dict[str, Any]:
    """For information: how far the loop's parameters are from the reference loop's (same model,
    same batches). Equal means the same loop; different is allowed (another loss formulation)."""
    if not reference:
        return {}
    diffs = [
        float((state[k].double() - v.double()).abs().max())
        for k, v in reference.items()
        if k in state and state[k].shape == v.shape
    ]
    worst = max(diffs) if diffs else float("inf")
    return {"max_diff_vs_reference_loop": worst, "same_as_reference_loop": worst <= 1e-6}


def _judge_loop(ctx: GradingContext) -> Verdict:
    from grader.safeload import CheckpointError, load_state_dict

    prepared = _prepared(ctx)
    try:
        outcome = ctx.require(
            ctx.probe(
                "train",
                {"model": "reference"},
                session="student_refmodel",
                limits=prepared.train_limits,
            ),
            "running your train.py (with the reference model.py)",
            near_secrets=True,
        )
    except CheckStopped as stop:
        return stop.verdict
    evidence = _printed_loss(outcome)
    path = outcome.files.get("bert_model.pt")
    if path is None:
        return Verdict.failed(
            "train.py finished but saved no bert_model.pt in the working "
            "directory: end with torch.save(model.state_dict(), "
            "'bert_model.pt')."
        )
    try:
        state = load_state_dict(path, max_bytes=64 << 20)
    except CheckpointError as exc:
        return Verdict.failed(f"The bert_model.pt your train.py saved could not be used: {exc}")
    shapes = prepared.probe_shapes
    if {k: list(state[k].shape) if k in state else None for k in shapes} != shapes:
        return Verdict.failed(
            "The bert_model.pt your train.py saved is not model.state_dict() "
            "of the BERT model (parameter names differ)."
        )
    losses = trusted_loss(ctx, {k: state[k] for k in shapes if not k.endswith(".pe")}, "reference")
    threshold = float(ctx.setting("loop_loss_threshold", prepared.loop_threshold))
    init = {k[len("init.") :]: v for k, v in outcome.tensors.items() if k.startswith("init.")}
    frozen = [
        k
        for k in (
            "classifier.weight",
            "fc1.weight",
            "decoder_bias",
            "fc2.weight",
            "layers.0.pos_ffn.fc1.weight",
        )
        if k in init and k in state and torch.equal(init[k], state[k])
    ]
    details = {
        **{k: round(v, 4) for k, v in losses.items()},
        "threshold": threshold,
        "untrained": frozen,
    }
    if frozen:
        head = "NSP" if any(k in frozen for k in ("classifier.weight", "fc1.weight")) else "MLM"
        return Verdict(
            CheckStatus.FAILED,
            (
                f"After one epoch of your loop, {', '.join(frozen)} never changed: the {head} head "
                "gets no gradient. The loss must include both tasks: loss = loss_lm + loss_clsf, "
                "then loss.backward() and optimizer.step() every batch."
            ),
            score=0.0,
            details=details,
            evidence=evidence,
        )
    # Judged without the zero-padded MLM targets, so that a loop which ignores them (an allowed
    # formulation) is measured on the same footing as the course's.
    if losses["loss_real"] > threshold:
        return Verdict(
            CheckStatus.FAILED,
            (
                f"With the reference model, one epoch of your loop reaches loss "
                f"{losses['loss_real']:.2f} on the fixed eval batches (masked tokens + NSP); a "
                f"correct loop reaches ≤ {threshold:.2f}. Check: optimizer.zero_grad() each batch, "
                "loss_lm on logits_lm.transpose(1, 2) against masked_tokens, loss_clsf on "
                "logits_clsf against isNext, backward and step."
            ),
            score=0.0,
            details=details,
            evidence=evidence,
        )
    same = _compare_with_reference_loop(state, prepared.reference_loop_state)
    details.update(same)
    note = (
        " Your loop reproduces the reference loop's parameters exactly."
        if same.get("same_as_reference_loop")
        else " (Your loop's parameters differ from the reference loop's; that is allowed.)"
    )
    return Verdict(
        CheckStatus.PASSED,
        f"loss {losses['loss_real']:.2f} ≤ {threshold:.2f}.{note}",
        details=details,
        evidence=evidence,
    )


@check(
    "info.own_training",
    "your model and loop train together (short run)",
    depends=("model.builds", "train.parses"),
)
def own_training(ctx: GradingContext) -> Verdict:
    """precheck only: train your model with your loop on the small kit; the loss must go down."""
    if not ctx.setting("own_training", False):
        return Verdict.skipped("Runs in precheck only.")
    prepared = _prepared(ctx)
    outcome = ctx.require(
        ctx.probe("train", {"model": "own"}, limits=prepared.train_limits),
        "running your train.py with your model.py",
    )
    path = outcome.files.get("bert_model.pt")
    if path is None:
        return Verdict.failed("train.py saved no bert_model.pt in the working directory.")
    from grader.safeload import load_state_dict

    final = load_state_dict(path, max_bytes=64 << 20)
    init = {k[len("init.") :]: v for k, v in outcome.tensors.items() if k.startswith("init.")}

    def own_loss(state: dict[str, torch.Tensor]) -> float:
        inputs = {f"w.{k}": v.clone().contiguous() for k, v in state.items()}
        out = ctx.require(
            ctx.probe("eval_loss", {"source": "inputs", "limit": 10}, inputs),
            "evaluating your model's loss",
        )
        return (sum(out.data["loss_lm"]) + sum(out.data["loss_clsf"])) / len(out.data["loss_lm"])

    before, after = own_loss(init), own_loss(final)
    evidence = _printed_loss(outcome)
    if after < before - 1.0:
        return Verdict(
            CheckStatus.PASSED,
            f"loss {before:.2f} → {after:.2f} after {prepared.n_train_batches} batches",
            evidence=evidence,
            details={"before": before, "after": after},
        )
    return Verdict(
        CheckStatus.FAILED,
        (
            f"The loss went from {before:.2f} to only {after:.2f} in {prepared.n_train_batches} "
            "batches; a correct model and loop drop it by several points. Check the loop "
            "(zero_grad, backward, step) and the heads."
        ),
        evidence=evidence,
        details={"before": before, "after": after},
    )


def comparison_details(cmp: Comparison) -> dict[str, Any]:
    """Numbers of a comparison for a check's details."""
    return {"max_abs_error": cmp.max_abs_error, "where": list(cmp.where or ())}
