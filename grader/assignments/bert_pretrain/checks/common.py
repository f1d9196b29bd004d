"""What every ``bert_pretrain`` check shares: the registry, tolerances and the memoised probes."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from grader.assignments.bert_pretrain import inputs as probe_inputs
from grader.checks import CheckRegistry, CheckStopped, Verdict

if TYPE_CHECKING:
    from grader.assignments.bert_pretrain.prepared import Prepared
    from grader.context import GradingContext
    from grader.sandbox import ProbeOutcome

registry = CheckRegistry()
check = registry.check

ATOL = 1e-4  # float32 outputs of the same ops in another order differ by ~1e-6 here; bugs by >1e-2
RTOL = 1e-4
RUNS = 2  # the property forward runs twice: a model must give the same outputs both times


def prepared(ctx: GradingContext) -> Prepared:
    """The run's shared state (kits, layouts)."""
    return ctx.prepared


def tol(ctx: GradingContext) -> dict[str, float]:
    """The rubric's comparison tolerances."""
    return {"atol": float(ctx.setting("atol", ATOL)), "rtol": float(ctx.setting("rtol", RTOL))}


def config(ctx: GradingContext) -> dict[str, int]:
    """The probe profile's config values (with VOCAB_SIZE)."""
    return prepared(ctx).probe_config


def weights(ctx: GradingContext) -> dict[str, torch.Tensor]:
    """The parent's randomised weights for the framework layout (no parameter at 0 or 1)."""
    prep = prepared(ctx)
    return prep.once("weights", lambda: probe_inputs.random_weights(prep.probe_shapes))


def reference_forward(ctx: GradingContext) -> dict[str, torch.Tensor]:
    """The reference's outputs on the property batches with the same weights (in the parent)."""
    from grader.assignments.bert_pretrain import recompute

    prep = prepared(ctx)
    return prep.once(
        "reference_forward",
        lambda: recompute.reference_forward(prep, weights(ctx), forward_inputs(ctx)),
    )


def has_reference(ctx: GradingContext) -> bool:
    """Whether the reference can be used (instructor grading, CI)."""
    return ctx.with_reference and prepared(ctx).reference_dir is not None


def clean(text: object, limit: int = 80) -> str:
    """A string the sandbox controls (a key name, a type name), escaped and length-capped."""
    shown = ascii(str(text))[1:-1]
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


def forward_inputs(ctx: GradingContext) -> dict[str, torch.Tensor]:
    """The property batch and its [PAD]-extended and altered twins."""
    cfg = config(ctx)
    return probe_inputs.forward_inputs(cfg["VOCAB_SIZE"], cfg["MAX_PRED"])


def forward(ctx: GradingContext, run: int = 0) -> ProbeOutcome:
    """``bert_forward`` with the parent's weights (run ``run`` of ``RUNS``; memoised)."""
    inp = forward_inputs(ctx) | {f"w.{k}": v for k, v in weights(ctx).items()}
    return ctx.probe("bert_forward", {"repeat": run}, inp)


def forward_tensors(ctx: GradingContext, run: int = 0) -> dict[str, torch.Tensor]:
    """The raw outputs of one property run, or the check stops with what went wrong."""
    outcome = ctx.require(forward(ctx, run), "running BERT.forward on a small batch")
    if outcome.data.get("returned") != "tuple":
        raise CheckStopped(
            Verdict.failed(
                f"BERT.forward returned a {outcome.data.get('returned')}; it must return the tuple "
                "(logits_lm, logits_clsf). Check the `return` at the end of BERT.forward."
            )
        )
    return outcome.tensors


def all_runs(ctx: GradingContext) -> list[dict[str, torch.Tensor]]:
    """Every property run's raw outputs (a property must hold in each)."""
    return [forward_tensors(ctx, run) for run in range(RUNS)]


def load_note(outcome: ProbeOutcome) -> str:
    """What did not fit when the parent's weights were loaded into the student's model."""
    load = outcome.data.get("load", {})
    load = load if isinstance(load, dict) else {}
    bits = []
    # load_state_dict's "unexpected" are framework weights the student's model has no place for;
    # its "missing" are the student's own parameters the framework does not know (left as built).
    if load.get("unexpected"):
        names = sorted(clean(k) for k in load["unexpected"])[:4]
        bits.append(f"your model has no {', '.join(names)}")
    own = [clean(k) for k in load.get("missing", []) if not str(k).endswith(".pe")]
    if own:  # buffers (.pe) are not sent
        bits.append(f"it has parameters the framework does not: {', '.join(sorted(own)[:4])}")
    return (" Note: " + "; ".join(bits) + ".") if bits else ""
