"""What the trusted parent computes itself: heads, reference outputs, losses, loop trajectories.

Every point of ``bert_pretrain`` rests on a number from this module (or on a comparison of a
sandbox's raw output with one): the sandbox's own claims are never evidence. The reference
``model.py`` and the loop's stand-in run here, in the parent (``trusted_models``), never in a
sandbox next to student code.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from grader.assignments.bert_pretrain import inputs as probe_inputs
from grader.assignments.bert_pretrain.kit import Kit, eval_targets, train_subset
from grader.assignments.bert_pretrain.profiles import get_profile
from grader.assignments.bert_pretrain.trusted_models import load_model_module
from grader.timing import trusted_compute

if TYPE_CHECKING:
    from grader.assignments.bert_pretrain.prepared import Prepared

STANDIN_DIR = Path(__file__).resolve().parent / "standin"
STEP_LR = 0.5  # the tying step: large enough that tied and untied updates differ by ~1e-1
LOOP_FORMULATIONS = ("course", "real")  # allowed losses: the course's; MLM without padded targets
Tensors = dict[str, torch.Tensor]


# -- the heads, as the assignment specifies them (public: the handout's comments say as much) --
def _gelu(x: torch.Tensor) -> torch.Tensor:
    return x * 0.5 * (1.0 + torch.erf(x / math.sqrt(2.0)))


def _norm(w: Mapping[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    return F.layer_norm(x, x.shape[-1:], w["norm.weight"], w["norm.bias"])


@trusted_compute
def heads(w: Mapping[str, torch.Tensor], hidden: torch.Tensor, masked_pos: torch.Tensor) -> Tensors:
    """The NSP and MLM heads with weights ``w`` applied to ``hidden`` (and common slips of them).

    ``hidden`` is the last encoder layer's output; the slips name a likely bug in a message.
    """
    b = torch.arange(hidden.size(0))[:, None]
    gathered = hidden[b, masked_pos]

    def nsp(h: torch.Tensor, tanh: bool = True) -> torch.Tensor:
        z = F.linear(h, w["fc1.weight"], w["fc1.bias"])
        return F.linear(torch.tanh(z) if tanh else z, w["classifier.weight"], w["classifier.bias"])

    def mlm(order: str = "course", bias: bool = True) -> torch.Tensor:
        h = F.linear(gathered, w["fc2.weight"], w["fc2.bias"])
        h = _norm(w, _gelu(h)) if order == "course" else _gelu(_norm(w, h))
        out = F.linear(h, w["decoder.weight"])
        return out + w["decoder_bias"] if bias else out

    with torch.no_grad():
        return {
            "nsp_expected": nsp(hidden[:, 0]),
            "nsp_last_position": nsp(hidden[:, -1]),
            "nsp_no_tanh": nsp(hidden[:, 0], tanh=False),
            "mlm_expected": mlm(),
            "mlm_norm_first": mlm("swapped"),
            "mlm_no_bias": mlm(bias=False),
        }


# -- the reference, run in the parent ---------------------------------------------------------
def reference_module(prepared: Prepared, cfg: dict[str, int] | None = None) -> ModuleType:
    """The instructor's ``model.py`` for ``cfg`` (default: the probe profile), run in the parent."""
    if prepared.reference_dir is None:
        raise RuntimeError("the reference solution is not available here")
    return load_model_module(prepared.reference_dir / "model.py", cfg or prepared.probe_config)


def _capture_forward(model: torch.nn.Module, ids: torch.Tensor, seg: torch.Tensor,
                     pos: torch.Tensor) -> Tensors:
    captured: Tensors = {}

    def last_hook(_m: torch.nn.Module, _i: object, out: object) -> None:
        captured["hidden"] = (out[0] if isinstance(out, tuple) else out).detach()  # type: ignore[index]

    handle = model.layers[-1].register_forward_hook(last_hook)  # type: ignore[index]
    try:
        with torch.no_grad():
            logits_lm, logits_clsf = model(ids, seg, pos)
    finally:
        handle.remove()
    return {"logits_lm": logits_lm, "logits_clsf": logits_clsf, **captured}


def reference_model(prepared: Prepared, weights: Mapping[str, torch.Tensor],
                    cfg: dict[str, int] | None = None) -> torch.nn.Module:
    """A reference ``BERT()`` with ``weights`` loaded as the course's code would load them.

    Buffers (``.pe``) are the reference's own; the tied decoder ends with the values of the last
    of its two keys, ``decoder.weight``, exactly as ``load_state_dict`` gives them.
    """
    model = reference_module(prepared, cfg).BERT()
    model.load_state_dict({k: v for k, v in weights.items() if not k.endswith(".pe")},
                          strict=False)
    return model.eval()


@trusted_compute
def reference_forward(prepared: Prepared, weights: Mapping[str, torch.Tensor],
                      inp: Mapping[str, torch.Tensor]) -> Tensors:
    """Reference logits and last hidden state on the batch and its [PAD] / altered twins."""
    model = reference_model(prepared, weights)
    out: Tensors = {}
    for prefix in ("", "pad.", "alt."):
        got = _capture_forward(model, inp[f"{prefix}input_ids"], inp[f"{prefix}segment_ids"],
                               inp["masked_pos"])
        out.update({f"{prefix}{k}": v for k, v in got.items()})
    return out


@trusted_compute
def reference_encoder_layer(prepared: Prepared, weights: Mapping[str, torch.Tensor],
                            inp: Mapping[str, torch.Tensor]) -> Tensors:
    """The reference ``EncoderLayer`` on ``x`` with the [PAD]-key mask of ``input_ids``."""
    layer = reference_module(prepared).EncoderLayer()
    layer.load_state_dict(dict(weights))
    ids = inp["input_ids"]
    mask = ids.eq(0).unsqueeze(1).expand(ids.size(0), ids.size(1), ids.size(1))
    with torch.no_grad():
        enc_outputs, attn = layer(inp["x"], mask)
    return {"enc_outputs": enc_outputs, "attn": attn}


def step_inputs(cfg: dict[str, int], seed: int = 7) -> Tensors:
    """The tying step's batch and the upstream gradients that define its loss."""
    base = probe_inputs.forward_inputs(cfg["VOCAB_SIZE"], cfg["MAX_PRED"])
    gen = torch.Generator().manual_seed(seed)
    b, p = base["masked_pos"].shape
    return {
        "input_ids": base["input_ids"],
        "segment_ids": base["segment_ids"],
        "masked_pos": base["masked_pos"],
        "grad_lm": torch.randn(b, p, cfg["VOCAB_SIZE"], generator=gen),
        "grad_clsf": torch.randn(b, 2, generator=gen),
    }


@trusted_compute
def reference_step(prepared: Prepared, weights: Mapping[str, torch.Tensor],
                   inp: Mapping[str, torch.Tensor], tied: bool) -> Tensors:
    """The embedding and decoder after one SGD step of the reference (tied, or made untied)."""
    model = reference_model(prepared, weights)
    if not tied:
        model.decoder.weight = torch.nn.Parameter(weights["decoder.weight"].clone())
    logits_lm, logits_clsf = model(inp["input_ids"], inp["segment_ids"], inp["masked_pos"])
    loss = (logits_lm * inp["grad_lm"]).sum() + (logits_clsf * inp["grad_clsf"]).sum()
    loss.backward()
    with torch.no_grad():
        for param in model.parameters():
            if param.grad is not None:
                param -= STEP_LR * param.grad
    return {
        "embedding.tok_embed.weight": model.embedding.tok_embed.weight.detach().clone(),
        "decoder.weight": model.decoder.weight.detach().clone(),
    }


# -- losses on targets the sandbox never sees ---------------------------------------------------
def kit_eval_inputs(kit: Kit, limit: int | None = None) -> list[Tensors]:
    """The eval batches' inputs, as the sandbox sees them."""
    flat = load_file(str(kit.path(kit.eval_batches_file)))
    n = kit.n_eval_batches if limit is None else min(limit, kit.n_eval_batches)
    names = ("input_ids", "segment_ids", "masked_pos")
    return [{k: flat[f"b{i:03d}.{k}"].long() for k in names} for i in range(n)]


@trusted_compute
def losses_from_logits(logits: Mapping[str, torch.Tensor], targets: Mapping[str, torch.Tensor],
                       n: int) -> dict[str, float]:
    """Mean course losses of per-batch logits (``b{i:03d}.logits_lm`` / ``.logits_clsf``).

    ``loss`` is the course's ``loss_lm + loss_clsf`` (zero-padded MLM targets count, as in the
    course's train.py); ``loss_real`` leaves those padded targets out, the other allowed
    formulation. Raises ``ValueError`` when a batch's logits are missing or mis-shaped.
    """
    lm = lm_real = clsf = 0.0
    for i in range(n):
        key = f"b{i:03d}"
        tokens, is_next = targets[f"{key}.masked_tokens"].long(), targets[f"{key}.is_next"].long()
        got_lm, got_clsf = logits.get(f"{key}.logits_lm"), logits.get(f"{key}.logits_clsf")
        if got_lm is None or got_clsf is None:
            raise ValueError(f"no logits for eval batch {i}")
        if got_lm.dim() != 3 or got_lm.shape[:2] != tokens.shape:
            raise ValueError(f"logits_lm of eval batch {i} has shape {list(got_lm.shape)}")
        if list(got_clsf.shape) != [tokens.size(0), 2]:
            raise ValueError(f"logits_clsf of eval batch {i} has shape {list(got_clsf.shape)}")
        scores = got_lm.float().transpose(1, 2)
        lm += float(F.cross_entropy(scores, tokens))
        lm_real += float(F.cross_entropy(scores, tokens, ignore_index=0))
        clsf += float(F.cross_entropy(got_clsf.float(), is_next))
    lm, lm_real, clsf = lm / n, lm_real / n, clsf / n
    values = {"loss_lm": lm, "loss_lm_real": lm_real, "loss_clsf": clsf,
              "loss": lm + clsf, "loss_real": lm_real + clsf}
    if not all(math.isfinite(v) for v in values.values()):
        values = {k: (v if math.isfinite(v) else float("inf")) for k, v in values.items()}
    return values


@trusted_compute
def reference_eval_logits(prepared: Prepared, kit: Kit,
                          state: Mapping[str, torch.Tensor]) -> Tensors:
    """The reference forward's logits with ``state`` loaded, on ``kit``'s eval inputs."""
    cfg = {**get_profile(kit.profile).config_values(), "VOCAB_SIZE": kit.vocab_size}
    model = reference_model(prepared, state, cfg)
    out: Tensors = {}
    with torch.no_grad():
        for i, batch in enumerate(kit_eval_inputs(kit)):
            lm, clsf = model(batch["input_ids"], batch["segment_ids"], batch["masked_pos"])
            out[f"b{i:03d}.logits_lm"], out[f"b{i:03d}.logits_clsf"] = lm, clsf
    return out


def kit_targets(prepared: Prepared, kit: Kit) -> Tensors:
    """The kit's private eval targets, checked against their hash once per run."""
    return prepared.once(f"targets:{kit.hash}", lambda: eval_targets(kit))


# -- the loop's stand-in ------------------------------------------------------------------------
def standin_module(cfg: dict[str, int]) -> ModuleType:
    """The neutral stand-in ``model.py`` (the grader's own file), loaded in the parent."""
    return load_model_module(STANDIN_DIR / "model.py", cfg)


@trusted_compute
def standin_init(cfg: dict[str, int]) -> Tensors:
    """The stand-in's initial parameters (fixed by its own seeded generator)."""
    return {k: v.detach().clone() for k, v in standin_module(cfg).BERT().state_dict().items()}


@trusted_compute
def standin_trajectory(kit: Kit, cfg: dict[str, int], formulation: str, n: int) -> Tensors:
    """The stand-in's parameters after the course's loop over ``kit``'s first ``n`` batches.

    ``formulation``: ``"course"`` (loss_lm + loss_clsf with every MLM target) or ``"real"``
    (the MLM loss leaves zero-padded targets out). The same loop as the handout's train.py:
    Adam(lr=1e-3), zero_grad, forward, loss, backward, step for each batch, ``n_epochs`` times.
    """
    batches = train_subset(kit, n)
    model = standin_module(cfg).BERT()
    criterion = torch.nn.CrossEntropyLoss()
    lm_criterion = torch.nn.CrossEntropyLoss(ignore_index=0) if formulation == "real" else criterion
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    for _ in range(int(cfg.get("n_epochs", 1))):
        for batch in batches:
            ids, seg, tokens, pos, is_next = map(torch.LongTensor, zip(*batch))
            optimizer.zero_grad()
            logits_lm, logits_clsf = model(ids, seg, pos)
            loss = lm_criterion(logits_lm.transpose(1, 2), tokens) + criterion(logits_clsf, is_next)
            loss.backward()
            optimizer.step()
    return {k: v.detach().clone() for k, v in model.state_dict().items()}
