"""The training loop, judged with a neutral stand-in model whose trajectory the parent recomputes.

``train.py`` runs in a sandbox that holds only itself, the kit and the grader's stand-in
``model.py`` (``standin/model.py``: the framework's interface, not the solution). The parameters
it saves must be the stand-in's trajectory under the course's loop, recomputed in the parent from
the same batches, for one of the allowed loss formulations. The submission's own files
(``model.py``, ``bert_model.pt``) are not mounted, so the verdict depends only on train.py, the
kit and the stand-in, and is shared between submissions with the same three.
"""

from __future__ import annotations

import copy
import hashlib
import re
from typing import TYPE_CHECKING

import torch

from grader.assignments.bert_pretrain import recompute
from grader.assignments.bert_pretrain.checks.common import check, clean, prepared
from grader.checks import CheckStopped, Verdict
from grader.results import CheckStatus

if TYPE_CHECKING:
    from grader.context import GradingContext
    from grader.sandbox import ProbeOutcome

LOSS_LINE = re.compile(r"Loss\s+([0-9]+(?:\.[0-9]+)?)")
# Equivalent loops (two backward calls, another summation order) end within ~1e-6 of the
# recomputed trajectory; a loop bug moves some parameter by more than 1e-2 (measured on the zoo).
LOOP_ATOL = 1e-4
HEAD_OF = {"clsf": "NSP", "lm": "MLM", "mix": "MLM", "tok": "embedding", "seg": "embedding"}
FORMULATION_TEXT = {
    "course": "the course's loss (loss_lm + loss_clsf)",
    "real": "loss_lm without the zero-padded targets + loss_clsf",
}


def standin_hash() -> str:
    """The stand-in file's sha256 (part of the shared verdict's key)."""
    return hashlib.sha256((recompute.STANDIN_DIR / "model.py").read_bytes()).hexdigest()


def printed_loss(outcome: ProbeOutcome) -> str:
    """The last "Loss x.xx" train.py printed (shown as evidence, never scored)."""
    found = LOSS_LINE.findall(outcome.stdout_tail.replace("\r", "\n"))
    return f"your train.py printed Loss {clean(found[-1], 12)}" if found else ""


def loop_key(ctx: GradingContext) -> str:
    """Everything the loop's sandbox can see: train.py, the kit, the stand-in."""
    train = (ctx.submission_dir / "train.py").read_bytes() if ctx.has_file("train.py") else b""
    return "train.loop:" + "|".join(
        (
            hashlib.sha256(train).hexdigest(),
            prepared(ctx).probe_kit.hash,
            str(prepared(ctx).loop_batches),
            standin_hash(),
        )
    )


@check(
    "train.loop",
    "train.py's loop trains both heads (judged with a stand-in model)",
    depends=("train.parses",),
)
def train_loop(ctx: GradingContext) -> Verdict:
    """train.py, run with the stand-in, must save the stand-in's recomputed trajectory."""
    key = loop_key(ctx)
    if key not in ctx.shared.values:
        ctx.shared.values[key] = _judge_loop(ctx)
    verdict = copy.deepcopy(ctx.shared.values[key])
    if verdict.status != CheckStatus.PASSED:
        ctx.integrity_flags.append("training loop not verified (train.loop)")
        ctx.warn(
            "Your train.py's loop, run with the grader's stand-in model, does not train the way "
            "the course's loop does (see the train.loop check). Your training points come from "
            "your checkpoint's loss, but check the loop."
        )
    return verdict


def _trajectory(ctx: GradingContext, formulation: str) -> dict[str, torch.Tensor]:
    prep = prepared(ctx)
    return prep.once(
        f"standin:{formulation}",
        lambda: recompute.standin_trajectory(
            prep.probe_kit, prep.probe_config, formulation, prep.loop_batches
        ),
    )


def _max_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    worst = 0.0
    for k, v in b.items():
        diff = (a[k].double() - v.double()).abs().max()
        worst = max(worst, float(torch.nan_to_num(diff, nan=float("inf"))))
    return worst


def _judge_loop(ctx: GradingContext) -> Verdict:
    from grader.safeload import CheckpointError, load_state_dict

    prep = prepared(ctx)
    try:
        outcome = ctx.require(
            ctx.probe("train", {"model": "standin"}, session="loop", limits=prep.train_limits),
            "running your train.py (with the grader's stand-in model)",
        )
    except CheckStopped as stop:
        return stop.verdict
    evidence = printed_loss(outcome)
    path = outcome.files.get("bert_model.pt")
    if path is None:
        return Verdict.failed(
            "train.py finished but saved no bert_model.pt in the working directory: end with "
            "torch.save(model.state_dict(), 'bert_model.pt')."
        )
    try:
        state = load_state_dict(path, max_bytes=64 << 20)
    except CheckpointError as exc:
        return Verdict.failed(f"The bert_model.pt your train.py saved could not be used: {exc}")
    init = prep.once("standin:init", lambda: recompute.standin_init(prep.probe_config))
    if {k: list(state[k].shape) if k in state else None for k in init} != {
        k: list(v.shape) for k, v in init.items()
    }:
        return Verdict.failed(
            "The bert_model.pt your train.py saved is not model.state_dict() of the model it "
            "built (run with the grader's stand-in, its parameter names differ). Save exactly "
            "model.state_dict()."
        )
    diffs: dict[str, float] = {}
    for formulation in recompute.LOOP_FORMULATIONS:  # the next one only if this one differs
        diffs[formulation] = _max_diff(state, _trajectory(ctx, formulation))
        if diffs[formulation] <= LOOP_ATOL:
            break
    best = min(diffs, key=lambda f: diffs[f])
    details = {"max_diff": {f: round(d, 8) for f, d in diffs.items()}, "tolerance": LOOP_ATOL}
    if diffs[best] <= LOOP_ATOL:
        return Verdict(
            CheckStatus.PASSED,
            f"your loop reproduces the course loop with {FORMULATION_TEXT[best]} "
            f"(max difference {diffs[best]:.1e})",
            details={**details, "formulation": best},
            evidence=evidence,
        )
    frozen = sorted(k for k in init if torch.equal(state[k], init[k]))
    if frozen:
        heads = sorted({HEAD_OF.get(k.split(".")[0], "model") for k in frozen})
        what = " and ".join(f"the {h} head" if h in ("NSP", "MLM") else f"the {h}" for h in heads)
        return Verdict(
            CheckStatus.FAILED,
            (
                f"After one epoch of your loop, {what} never changed ({', '.join(frozen)} of the "
                "stand-in model): it gets no gradient. The loss must include both tasks: "
                "loss = loss_lm + loss_clsf, then loss.backward() and optimizer.step() every "
                "batch."
            ),
            score=0.0,
            details={**details, "untrained": frozen},
            evidence=evidence,
        )
    return Verdict(
        CheckStatus.FAILED,
        (
            "Run with the grader's stand-in model, your loop ends with parameters that differ "
            f"from the course loop's by up to {diffs[best]:.3g} (a correct loop: < {LOOP_ATOL:g})."
            " Check: optimizer.zero_grad() each batch, loss_lm on logits_lm.transpose(1, 2) "
            "against masked_tokens, loss_clsf on logits_clsf against isNext, backward and step "
            f"for every batch of one epoch over batches.pkl (here its first {prep.loop_batches} "
            "batches), Adam with lr=1e-3 as handed out."
        ),
        score=0.0,
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
    from grader.safeload import load_state_dict

    prep = prepared(ctx)
    outcome = ctx.require(
        ctx.probe("train", {"model": "own"}, limits=prep.train_limits),
        "running your train.py with your model.py",
    )
    path = outcome.files.get("bert_model.pt")
    if path is None:
        return Verdict.failed("train.py saved no bert_model.pt in the working directory.")
    final = load_state_dict(path, max_bytes=64 << 20)
    init = {k[len("init.") :]: v for k, v in outcome.tensors.items() if k.startswith("init.")}
    kit = prep.probe_kit
    n = 10

    def own_loss(state: dict[str, torch.Tensor]) -> float:
        inputs = {f"w.{k}": v.clone().contiguous() for k, v in state.items()}
        out = ctx.require(
            ctx.probe("eval_logits", {"source": "inputs", "limit": n}, inputs),
            "evaluating your model's loss",
        )
        try:
            losses = recompute.losses_from_logits(out.tensors, recompute.kit_targets(prep, kit), n)
        except ValueError as exc:
            stop = Verdict.failed(f"Your model's outputs cannot be scored: {exc}.")
            raise CheckStopped(stop) from exc
        return losses["loss"]

    before, after = own_loss(init), own_loss(final)
    evidence = printed_loss(outcome)
    if after < before - 1.0:
        return Verdict(
            CheckStatus.PASSED,
            f"loss {before:.2f} → {after:.2f} after {prep.n_train_batches} batches",
            evidence=evidence,
            details={"before": before, "after": after},
        )
    return Verdict(
        CheckStatus.FAILED,
        (
            f"The loss went from {before:.2f} to only {after:.2f} in {prep.n_train_batches} "
            "batches; a correct model and loop drop it by several points. Check the loop "
            "(zero_grad, backward, step) and the heads."
        ),
        evidence=evidence,
        details={"before": before, "after": after},
    )
