"""Worker-side probes for CS310 A6 (runs inside the sandbox, next to the student's code).

Each probe imports the student's ``model.py`` afresh, runs it on inputs the trusted parent sent,
and emits raw tensors and facts. Nothing here judges: pass/fail is decided by ``checks.py`` in the
parent. Imports are limited to the standard library, torch, safetensors and ``nlpgrade_worker``.
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


def _randomize(model: torch.nn.Module, seed: int) -> None:
    """Give every parameter a seeded random value (biases, LayerNorm gains and decoder_bias too):
    a parameter left at its initial 0 or 1 hides the bugs that involve it. Tied weights stay tied.
    """
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            noise = torch.randn(param.shape, generator=gen)
            leaf = name.rsplit(".", 1)[-1]
            if leaf == "weight" and "norm" in name:
                param.copy_(1.0 + 0.2 * noise)
            elif leaf == "bias" or name == "decoder_bias":
                param.copy_(0.2 * noise)
            elif "embed" in name:
                param.copy_(0.5 * noise)
            else:
                param.copy_(noise / max(1, param.shape[-1]) ** 0.5)


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


def _mlm_head(model: Any, gathered: torch.Tensor, order: str, bias: bool) -> torch.Tensor:
    h = model.fc2(gathered)
    h = model.norm(model.activ2(h)) if order == "course" else model.activ2(model.norm(h))
    out = model.decoder(h)
    return out + model.decoder_bias if bias else out


@probe("bert_forward")
def bert_forward(ctx: ProbeContext) -> None:
    """Run ``BERT.forward`` on the batch and its [PAD]-extended and last-token-changed twins.

    Besides the logits it emits what the student's own heads give on the captured last hidden
    state, so the parent can check the gather and the NSP head without a reference.
    """
    model_mod = ctx.import_student("model")
    model = model_mod.BERT()
    if ctx.params.get("randomize"):
        _randomize(model, int(ctx.params["randomize"]))
    load_report = _load(model, _weights(ctx))
    model.eval()
    inp = ctx.inputs
    facts: dict[str, Any] = {"load": load_report, "derived_errors": {}}
    out: dict[str, torch.Tensor] = {}
    result, cap = _forward(model, inp["input_ids"], inp["segment_ids"], inp["masked_pos"])
    if not isinstance(result, tuple) or len(result) != 2:
        facts["returned"] = type(result).__name__
        ctx.emit(facts)
        return
    facts["returned"] = "tuple"
    out["logits_lm"], out["logits_clsf"] = result[0].detach(), result[1].detach()
    out.update(cap)
    hidden = cap.get("hidden")
    if hidden is not None:
        b = torch.arange(hidden.size(0))[:, None]
        gathered = hidden[b, inp["masked_pos"]]
        with torch.no_grad():
            for name, fn in {
                "nsp_expected": lambda: model.classifier(model.activ1(model.fc1(hidden[:, 0]))),
                "nsp_last_position": lambda: model.classifier(
                    model.activ1(model.fc1(hidden[:, -1]))
                ),
                "nsp_no_tanh": lambda: model.classifier(model.fc1(hidden[:, 0])),
                "mlm_expected": lambda: _mlm_head(model, gathered, "course", True),
                "mlm_norm_first": lambda: _mlm_head(model, gathered, "swapped", True),
                "mlm_no_bias": lambda: _mlm_head(model, gathered, "course", False),
            }.items():
                try:
                    out[name] = fn().detach()
                except Exception as exc:
                    facts["derived_errors"][name] = _error_text(exc)
    for variant in ("pad", "alt"):
        if f"{variant}.input_ids" not in inp:
            continue
        try:
            res, cap_v = _forward(
                model, inp[f"{variant}.input_ids"], inp[f"{variant}.segment_ids"], inp["masked_pos"]
            )
            out[f"{variant}.logits_lm"] = res[0].detach()
            out[f"{variant}.logits_clsf"] = res[1].detach()
            for key, value in cap_v.items():
                out[f"{variant}.{key}"] = value
        except Exception as exc:
            facts["derived_errors"][variant] = _error_text(exc)
    ctx.emit(facts, out)


def _course_loss(model: Any, batches: list[dict[str, torch.Tensor]]) -> dict[str, list[float]]:
    criterion = torch.nn.CrossEntropyLoss()
    real_only = torch.nn.CrossEntropyLoss(ignore_index=0)  # zero-padded targets left out
    lm, lm_real, clsf = [], [], []
    with torch.no_grad():
        for batch in batches:
            logits_lm, logits_clsf = model(
                batch["input_ids"], batch["segment_ids"], batch["masked_pos"]
            )
            lm.append(float(criterion(logits_lm.transpose(1, 2), batch["masked_tokens"])))
            lm_real.append(float(real_only(logits_lm.transpose(1, 2), batch["masked_tokens"])))
            clsf.append(float(criterion(logits_clsf, batch["is_next"])))
    return {"loss_lm": lm, "loss_lm_real": lm_real, "loss_clsf": clsf}


def _eval_batches(kit: Path, limit: int | None) -> list[dict[str, torch.Tensor]]:
    from safetensors.torch import load_file

    flat = load_file(str(kit / "eval_batches.safetensors"))
    count = len({k.split(".")[0] for k in flat})
    count = count if limit is None else min(count, limit)
    names = ("input_ids", "segment_ids", "masked_tokens", "masked_pos", "is_next")
    return [{n: flat[f"b{i:03d}.{n}"].long() for n in names} for i in range(count)]


@probe("eval_loss")
def eval_loss(ctx: ProbeContext) -> None:
    """The course's ``loss_lm + loss_clsf`` of a checkpoint on the kit's fixed eval batches.

    ``params["source"]``: ``"inputs"`` (weights sent by the parent, the trusted path) or ``"file"``
    (``bert_model.pt`` from the submission, opened with ``weights_only=True`` in here).
    """
    model_mod = ctx.import_student("model")
    model = model_mod.BERT()
    if ctx.params.get("source", "inputs") == "file":
        state = torch.load(ctx.submission / "bert_model.pt", map_location="cpu", weights_only=True)
        report = _load(model, {k: v for k, v in state.items() if isinstance(v, torch.Tensor)})
    else:
        report = _load(model, _weights(ctx))
    model.eval()
    losses = _course_loss(model, _eval_batches(ctx.kit, ctx.params.get("limit")))
    ctx.emit({"load": report, **losses})


@probe("train")
def train(ctx: ProbeContext) -> None:
    """Run the submission's ``train.py`` for the kit's epoch; export the checkpoint it saves.

    With ``params["model"] == "reference"`` the reference ``model.py`` (mounted at
    ``/reference_model``) is imported instead of the student's, to judge the loop alone. The
    model's initial parameters are captured when ``BERT()`` is built, to see what training moved.
    """
    if ctx.params.get("model") == "reference":
        ctx.import_student("config")  # puts the kit first on sys.path for `from config import *`
        spec = importlib.util.spec_from_file_location(
            "model", ctx.extra("/reference_model") / "model.py"
        )
        model_mod = importlib.util.module_from_spec(spec)
        sys.modules["model"] = model_mod  # train.py's `from model import ...` gets this one
        spec.loader.exec_module(model_mod)
    else:
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
