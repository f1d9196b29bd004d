"""Worker-side probes for CS310 A6 (runs inside the sandbox, next to the student's code).

Each probe imports the student's ``model.py`` afresh, runs it on inputs and weights the trusted
parent sent, and emits raw tensors. Nothing here judges, and nothing emitted here is taken on
trust: the parent recomputes what it scores (heads, the reference, losses on targets it keeps).
Imports are limited to the standard library, torch, safetensors and ``nlpgrade_worker``.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import torch
from nlpgrade_worker import ProbeContext, probe

WEIGHT_PREFIX = "w."


def _weights(ctx: ProbeContext) -> dict[str, torch.Tensor]:
    return {
        k[len(WEIGHT_PREFIX) :]: v for k, v in ctx.inputs.items() if k.startswith(WEIGHT_PREFIX)
    }


def _load(module: torch.nn.Module, weights: dict[str, torch.Tensor]) -> dict[str, list[str]]:
    """Load ``weights`` non-strictly; report keys that did not fit."""
    if not weights:
        return {"missing": [], "unexpected": []}
    result = module.load_state_dict(weights, strict=False)
    return {"missing": list(result.missing_keys), "unexpected": list(result.unexpected_keys)}


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]


@probe("inspect")
def inspect(ctx: ProbeContext) -> None:
    """Build ``BERT()`` and report its state_dict layout, config values and weight tying."""
    config = ctx.import_student("config")
    facts: dict[str, Any] = {
        "config": {
            name: getattr(config, name, None)
            for name in (
                "MAX_LEN",
                "MAX_PRED",
                "VOCAB_SIZE",
                "BATCH_SIZE",
                "n_layers",
                "n_heads",
                "d_model",
                "d_ff",
                "d_k",
                "d_v",
                "n_segments",
            )
        }
    }
    model_mod = ctx.import_student("model")
    model = model_mod.BERT()
    state = model.state_dict()
    facts["state_dict"] = {k: list(v.shape) for k, v in state.items()}
    facts["parameters"] = [name for name, _ in model.named_parameters()]
    facts["n_parameters"] = sum(p.numel() for p in model.parameters())
    tying: dict[str, Any] = {}
    try:
        dec = model.decoder.weight
        emb = model.embedding.tok_embed.weight
        tying["is_same_object"] = dec is emb
        tying["same_storage"] = dec.data_ptr() == emb.data_ptr()
        with torch.no_grad():
            before = float(dec[7, 3])
            emb[7, 3] += 1.25
            tying["embedding_change_seen_in_decoder"] = float(dec[7, 3]) != before
            emb[7, 3] -= 1.25
            dec[9, 2] += 1.25
            tying["decoder_change_seen_in_embedding"] = float(emb[9, 2]) == float(dec[9, 2])
            dec[9, 2] -= 1.25
    except Exception as exc:  # the student renamed or removed something: report it, judge later
        tying["error"] = _error_text(exc)
    facts["tying"] = tying
    ctx.emit(facts)


@probe("encoder_layer")
def encoder_layer(ctx: ProbeContext) -> None:
    """Run one ``EncoderLayer`` on ``x`` with a [PAD]-key mask built from ``input_ids``."""
    model_mod = ctx.import_student("model")
    layer = model_mod.EncoderLayer()
    load_report = _load(layer, _weights(ctx))
    ids = ctx.inputs["input_ids"]
    # The framework's pad mask, built here so that this probe judges EncoderLayer alone.
    mask = ids.eq(0).unsqueeze(1).expand(ids.size(0), ids.size(1), ids.size(1))
    with torch.no_grad():
        result = layer(ctx.inputs["x"], mask)
    if not isinstance(result, tuple) or len(result) != 2:
        ctx.emit({"returned": type(result).__name__, "load": load_report})
        return
    enc_outputs, attn = result
    ctx.emit(
        {"returned": "tuple", "load": load_report},
        {"enc_outputs": enc_outputs.detach(), "attn": attn.detach()},
    )


def _forward(
    model: torch.nn.Module,
    ids: torch.Tensor,
    seg: torch.Tensor,
    pos: torch.Tensor,
) -> tuple[Any, dict[str, torch.Tensor]]:
    """Call ``model``; capture the last encoder layer's output and the first one's attention."""
    captured: dict[str, torch.Tensor] = {}

    def last_hook(_m: torch.nn.Module, _i: Any, out: Any) -> None:
        captured["hidden"] = (out[0] if isinstance(out, tuple) else out).detach()

    def first_hook(_m: torch.nn.Module, _i: Any, out: Any) -> None:
        if isinstance(out, tuple) and len(out) > 1 and isinstance(out[1], torch.Tensor):
            captured["attn0"] = out[1].detach()

    handles = [
        model.layers[-1].register_forward_hook(last_hook),
        model.layers[0].register_forward_hook(first_hook),
    ]
    try:
        with torch.no_grad():
            result = model(ids, seg, pos)
    finally:
        for handle in handles:
            handle.remove()
    return result, captured


@probe("bert_forward")
def bert_forward(ctx: ProbeContext) -> None:
    """Run ``BERT.forward`` with the parent's weights on the batch and its twins.

    The twins are the [PAD]-extended batch and the batch whose last real token differs. Only raw
    outputs are emitted (logits, the last encoder layer's output, layer 0's attention): the parent
    applies the heads itself and judges. ``params["repeat"]`` only tells two runs apart.
    """
    model_mod = ctx.import_student("model")
    model = model_mod.BERT()
    load_report = _load(model, _weights(ctx))
    model.eval()
    inp = ctx.inputs
    facts: dict[str, Any] = {"load": load_report, "errors": {}}
    out: dict[str, torch.Tensor] = {}
    for variant in ("base", "pad", "alt"):
        prefix = "" if variant == "base" else f"{variant}."
        if f"{prefix}input_ids" not in inp:
            continue
        try:
            res, cap = _forward(
                model, inp[f"{prefix}input_ids"], inp[f"{prefix}segment_ids"], inp["masked_pos"]
            )
        except Exception as exc:
            if variant == "base":
                raise
            facts["errors"][variant] = _error_text(exc)
            continue
        if variant == "base":
            if not isinstance(res, tuple) or len(res) != 2:
                facts["returned"] = type(res).__name__
                ctx.emit(facts)
                return
            facts["returned"] = "tuple"
        out[f"{prefix}logits_lm"] = res[0].detach()
        out[f"{prefix}logits_clsf"] = res[1].detach()
        for key, value in cap.items():
            out[f"{prefix}{key}"] = value
    ctx.emit(facts, out)


@probe("train_step")
def train_step(ctx: ProbeContext) -> None:
    """One SGD step from the parent's weights on a loss the parent defines; emit the result.

    loss = sum(logits_lm * grad_lm) + sum(logits_clsf * grad_clsf), so the upstream gradients
    are the parent's. A tied decoder gets one update (the sum of both uses); an untied one does
    not, which the parent sees by recomputing the step with the reference.
    """
    model_mod = ctx.import_student("model")
    model = model_mod.BERT()
    load_report = _load(model, _weights(ctx))
    model.train(False)
    inp = ctx.inputs
    logits_lm, logits_clsf = model(inp["input_ids"], inp["segment_ids"], inp["masked_pos"])
    loss = (logits_lm * inp["grad_lm"]).sum() + (logits_clsf * inp["grad_clsf"]).sum()
    loss.backward()
    lr = float(ctx.params["lr"])
    with torch.no_grad():
        for param in model.parameters():
            if param.grad is not None:
                param -= lr * param.grad
    state = model.state_dict()
    names = ("embedding.tok_embed.weight", "decoder.weight")
    ctx.emit(
        {"load": load_report, "present": [n for n in names if n in state]},
        {f"after.{n}": state[n].detach().clone() for n in names if n in state},
    )


def _eval_inputs(kit: Path, limit: int | None) -> list[dict[str, torch.Tensor]]:
    from safetensors.torch import load_file

    flat = load_file(str(kit / "eval_batches.safetensors"))
    count = len({k.split(".")[0] for k in flat})
    count = count if limit is None else min(count, limit)
    names = ("input_ids", "segment_ids", "masked_pos")
    return [{n: flat[f"b{i:03d}.{n}"].long() for n in names} for i in range(count)]


@probe("eval_logits")
def eval_logits(ctx: ProbeContext) -> None:
    """The student's model's logits on the kit's eval inputs (their targets are not in here).

    ``params["source"]``: ``"file"`` (the submission's ``bert_model.pt``, opened with
    ``weights_only=True`` in here) or ``"inputs"`` (weights sent by the parent).
    """
    model_mod = ctx.import_student("model")
    model = model_mod.BERT()
    if ctx.params.get("source", "inputs") == "file":
        state = torch.load(ctx.submission / "bert_model.pt", map_location="cpu", weights_only=True)
        tensors = state if isinstance(state, dict) else {}
        report = _load(model, {k: v for k, v in tensors.items() if isinstance(v, torch.Tensor)})
    else:
        report = _load(model, _weights(ctx))
    model.eval()
    out: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        for i, batch in enumerate(_eval_inputs(ctx.kit, ctx.params.get("limit"))):
            logits_lm, logits_clsf = model(
                batch["input_ids"], batch["segment_ids"], batch["masked_pos"]
            )
            out[f"b{i:03d}.logits_lm"] = logits_lm.detach().float()
            out[f"b{i:03d}.logits_clsf"] = logits_clsf.detach().float()
    ctx.emit({"load": report, "batches": len(out) // 2}, out)


@probe("train")
def train(ctx: ProbeContext) -> None:
    """Run the submission's ``train.py`` for the kit's epoch; export the checkpoint it saves.

    With ``params["model"] == "standin"`` the grader's neutral stand-in (mounted at ``/standin``)
    is the ``model`` module train.py imports, to judge the loop alone; otherwise the student's
    own ``model.py`` (precheck's short run), whose initial parameters are captured.
    """
    if ctx.params.get("model") == "standin":
        ctx.import_student("config")  # puts the kit first on sys.path for `from config import *`
        spec = importlib.util.spec_from_file_location(
            "model", ctx.extra("/standin") / "model.py"
        )
        model_mod = importlib.util.module_from_spec(spec)
        sys.modules["model"] = model_mod  # train.py's `from model import ...` gets this one
        spec.loader.exec_module(model_mod)
        ctx.run_script("train.py")
        ctx.export_file("bert_model.pt")
        return
    model_mod = ctx.import_student("model")
    original_init = model_mod.BERT.__init__
    initial: dict[str, torch.Tensor] = {}

    def recording_init(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        if not initial:
            initial.update({k: v.detach().clone() for k, v in self.state_dict().items()})

    model_mod.BERT.__init__ = recording_init
    ctx.run_script("train.py")
    ctx.emit({"initial_keys": sorted(initial)}, {f"init.{k}": v for k, v in initial.items()})
    ctx.export_file("bert_model.pt")


@probe("import")
def import_modules(ctx: ProbeContext) -> None:
    """Import the named student modules and list the public names they define."""
    names: set[str] = set()
    for module_name in ctx.params.get("modules", ["model"]):
        module = ctx.import_student(module_name)
        names.update(n for n in vars(module) if not n.startswith("_"))
    ctx.emit({"names": sorted(names)})
