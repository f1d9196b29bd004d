"""The submitted checkpoint: its loss on eval batches whose targets never enter a sandbox.

A checkpoint with the framework's layout is evaluated by the reference forward in the parent. One
that does not fit the reference is run by the student's own model in the sandbox, which returns
only logits: the parent scores them against the kit's private targets, so a loss the student's
code reports (or prints) is never evidence. ``checkpoint.precheck`` is the student's version of
the same test, with their own model (precheck has no reference).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from grader.assignments.bert_pretrain import inputs as probe_inputs
from grader.assignments.bert_pretrain import recompute
from grader.assignments.bert_pretrain.checks.common import check, clean, has_reference, prepared
from grader.assignments.bert_pretrain.profiles import PROFILES
from grader.checks import CheckStopped, Verdict

if TYPE_CHECKING:
    from grader.assignments.bert_pretrain.kit import Kit
    from grader.assignments.bert_pretrain.prepared import Prepared
    from grader.context import GradingContext

PRECHECK_EVAL_BATCHES = 10  # precheck's loss is advice: a quarter of the eval batches


def _open(ctx: GradingContext) -> dict[str, torch.Tensor]:
    from grader.safeload import CheckpointError, load_state_dict

    if not ctx.has_file("bert_model.pt"):
        raise CheckStopped(
            Verdict.failed("bert_model.pt was not submitted, so the loss cannot be measured.")
        )
    try:
        return load_state_dict(
            ctx.submission_dir / "bert_model.pt",
            max_bytes=int(ctx.setting("max_checkpoint_mb", 600)) << 20,
        )
    except CheckpointError as exc:
        raise CheckStopped(Verdict.failed(f"bert_model.pt could not be used: {exc}")) from exc


def _layout(ctx: GradingContext, state: dict[str, torch.Tensor],
            expected: dict[str, list[int]], profile: str) -> tuple[bool, Verdict | None]:
    """(fits the framework exactly, a failing verdict when it is the framework's in other sizes)."""
    found = {k: list(v.shape) for k, v in state.items()}
    wrong = [k for k in expected if k in found and found[k] != expected[k]]
    if wrong:
        k = wrong[0]
        other = _profile_of(ctx, found)
        guess = f" It looks like a checkpoint of the '{other}' profile." if other else ""
        return False, Verdict.failed(
            f"bert_model.pt has the framework's parameter names but other sizes: {clean(k)} is "
            f"{found[k]}, the '{profile}' profile of the course needs {expected[k]}.{guess} Train "
            "with the course's config.py (and vocab.txt), or ask whether the class is graded in "
            "another profile.",
            wrong_shape=[clean(w) for w in wrong[:10]],
            profile=profile,
            looks_like=other,
        )
    return set(expected) <= set(found), None


def _profile_of(ctx: GradingContext, found: dict[str, list[int]]) -> str:
    vocab = prepared(ctx).probe_config["VOCAB_SIZE"]
    for name, prof in PROFILES.items():
        shapes = probe_inputs.expected_state_dict({**prof.config_values(), "VOCAB_SIZE": vocab})
        if all(found.get(k) == v for k, v in shapes.items() if not k.endswith(".pe")):
            return name
    return ""


def _student_losses(ctx: GradingContext, kit: Kit, session: str,
                    limit: int | None = None) -> tuple[dict[str, float], int]:
    """The student's model runs bert_model.pt on the eval inputs; the parent scores the logits."""
    params: dict[str, Any] = {"source": "file"}
    if limit is not None:
        params["limit"] = limit
    out = ctx.require(
        ctx.probe("eval_logits", params, session=session, limits=prepared(ctx).eval_limits),
        "evaluating bert_model.pt with your own model",
    )
    n = min(kit.n_eval_batches, limit or kit.n_eval_batches)
    try:
        targets = recompute.kit_targets(prepared(ctx), kit)
        losses = recompute.losses_from_logits(out.tensors, targets, n)
    except ValueError as exc:
        raise CheckStopped(
            Verdict.failed(
                f"Your model's outputs on the eval batches cannot be scored: {exc}. BERT.forward "
                "must return logits_lm [batch, MAX_PRED, VOCAB_SIZE] and logits_clsf [batch, 2]."
            )
        ) from exc
    return losses, n


def _verdict(ctx: GradingContext, losses: dict[str, float], n: int, extra: dict[str, Any],
             advice_only: bool = False) -> Verdict:
    threshold = float(ctx.setting("loss_threshold", 10.0))
    loss = min(losses["loss"], losses["loss_real"])
    details = {**{k: round(v, 4) for k, v in losses.items()}, "threshold": threshold, **extra}
    text = (
        f"loss {losses['loss']:.3f} (loss_lm {losses['loss_lm']:.3f} + loss_clsf "
        f"{losses['loss_clsf']:.3f}; {losses['loss_real']:.3f} without the zero-padded MLM "
        f"targets) on {n} fixed eval batches"
    )
    if advice_only:
        text += " (precheck's estimate; the grade uses the instructor's evaluation)"
    if loss <= threshold:
        return Verdict.passed(f"{text} ≤ {threshold}", **details)
    return Verdict.failed(
        f"Your checkpoint's {text}; it must be ≤ {threshold}. Train for the full epoch with "
        "loss = loss_lm + loss_clsf, and save model.state_dict() after training.",
        **details,
    )


def _session_for(prep: Prepared, kit: Kit) -> str:
    """The student's own worker when ``kit`` is its probe kit, else a worker of its own."""
    return "student" if kit.hash == prep.probe_kit.hash else "student_checkpoint"


@check("checkpoint.loss", "bert_model.pt reaches loss ≤ 10.0 after one epoch", tier="reference")
def checkpoint_loss(ctx: GradingContext) -> Verdict:
    """The course's loss of the submitted checkpoint, computed in the parent on hidden targets."""
    prep = prepared(ctx)
    state = _open(ctx)
    fits, problem = _layout(ctx, state, prep.checkpoint_shapes, prep.checkpoint_profile)
    if problem is not None:
        return problem
    kit = prep.checkpoint_kit
    extra: dict[str, Any] = {"profile": prep.checkpoint_profile}
    if fits:
        logits = recompute.reference_eval_logits(
            prep, kit, {k: state[k] for k in prep.checkpoint_shapes}
        )
        losses = recompute.losses_from_logits(
            logits, recompute.kit_targets(prep, kit), kit.n_eval_batches
        )
        extra["path"] = "trusted"
    else:
        ctx.integrity_flags.append("checkpoint keys differ from the framework: own-model path")
        ctx.warn(
            "bert_model.pt does not have the framework's parameter names/shapes, so your own "
            "model.py ran it (in the sandbox) and the grader scored its outputs."
        )
        losses, _ = _student_losses(ctx, kit, _session_for(prep, kit))
        extra["path"] = "own model"
    return _verdict(ctx, losses, kit.n_eval_batches, extra)


@check(
    "checkpoint.precheck",
    "bert_model.pt opens, fits the course's profile and reaches the loss threshold",
    depends=("model.builds",),
)
def checkpoint_precheck(ctx: GradingContext) -> Verdict:
    """precheck only: open the checkpoint safely, check its layout, estimate its loss."""
    if not ctx.setting("check_checkpoint", False) or has_reference(ctx):
        return Verdict.skipped("Runs in precheck only (grading evaluates the checkpoint itself).")
    prep = prepared(ctx)
    state = _open(ctx)
    profile = str(ctx.setting("profile", "official"))
    cfg = {**PROFILES[profile].config_values(), "VOCAB_SIZE": prep.probe_config["VOCAB_SIZE"]}
    expected = probe_inputs.expected_state_dict(cfg)
    fits, problem = _layout(ctx, state, expected, profile)
    if problem is not None:
        return problem
    if not fits:
        missing = [clean(k) for k in expected if k not in state][:6]
        return Verdict.failed(
            f"bert_model.pt lacks parameters the course's model has ({', '.join(missing)}): the "
            "grader would have to run it with your own model.py and flag it. Save "
            "model.state_dict() of the framework's BERT.",
            missing=missing,
        )
    kit = prep.use_checkpoint_profile(profile)
    losses, n = _student_losses(ctx, kit, _session_for(prep, kit), PRECHECK_EVAL_BATCHES)
    return _verdict(ctx, losses, n, {"profile": profile}, advice_only=True)
