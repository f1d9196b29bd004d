"""What the student's functions should return, recomputed in the trusted parent.

Uses only transformers, torch and the tokenizer files of the offline cache (never the reference
solution): the WordPiece ids of ``vectorize_ex``, the words ``head_tail`` keeps, the linear
warm-up/decay factors, the gradient one accumulated optimizer step should use (and after
clipping), and one Adam/AdamW step with the no-decay rule for biases and LayerNorm weights.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Any

import torch

LABEL_IDS = {"neg": 0, "pos": 1}
CLIP_EPS = 1e-6  # torch.nn.utils.clip_grad_norm_ divides by (norm + 1e-6)

MICRO_CONFIG: dict[str, Any] = {
    "vocab_size": 64,
    "hidden_size": 16,
    "num_hidden_layers": 1,
    "num_attention_heads": 2,
    "intermediate_size": 32,
    "max_position_embeddings": 32,
    "type_vocab_size": 2,
    "hidden_dropout_prob": 0.0,
    "attention_probs_dropout_prob": 0.0,
    "num_labels": 2,
    "pad_token_id": 0,
}


@cache
def tokenizer(snapshot: str) -> Any:
    """The tokenizer of the cache's snapshot folder, loaded from that path (no hub lookup)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoTokenizer
    from transformers.utils import logging

    logging.set_verbosity_error()  # "longer than 512" on purpose: the long review case
    return AutoTokenizer.from_pretrained(snapshot)


def vectorized(tok: Any, text: str, label: str | None, seq_len: int) -> dict[str, Any]:
    """The four fields ``vectorize_ex`` must return for one case."""
    pieces = tok.tokenize(text)[: seq_len - 2]
    ids = [tok.cls_token_id, *tok.convert_tokens_to_ids(pieces), tok.sep_token_id]
    pad = seq_len - len(ids)
    return {
        "ids": ids + [tok.pad_token_id] * pad,
        "seg": [0] * seq_len,
        "mask": [1] * len(ids) + [0] * pad,
        "label": -1 if label is None else LABEL_IDS[label],
        "real": len(ids),
    }


def head_tail_words(text: str, head: int, tail: int) -> list[str]:
    """The words ``head_tail(text, head, tail)`` must keep."""
    words = text.split()
    kept = set(range(min(head, len(words)))) | set(range(max(len(words) - tail, 0), len(words)))
    return [w for i, w in enumerate(words) if i in kept]


def schedule_factor(step: int, warmup: int, total: int) -> float:
    """Linear warm-up from 0 over ``warmup`` steps, then linear decay to 0 at ``total``."""
    if step < warmup:
        return step / max(1, warmup)
    return max(0.0, (total - step) / max(1, total - warmup))


def micro_model(state: dict[str, torch.Tensor] | None = None) -> torch.nn.Module:
    """The small BERT classifier of the unit probes (dropout off), with ``state`` loaded."""
    from transformers import BertConfig, BertForSequenceClassification

    model = BertForSequenceClassification(BertConfig(**MICRO_CONFIG))
    if state is not None:
        model.load_state_dict(state)
    return model


def micro_state(seed: int, *, scale: float = 0.0) -> dict[str, torch.Tensor]:
    """Seeded weights of the micro model: N(0, 0.02) like BERT's initializer, LayerNorm weights
    1, biases 0; ``scale`` > 0 replaces every float tensor by N(0, scale) values (LayerNorm
    weights and biases included, so that weight decay on them shows). Drawn from a private
    generator, never torch's global one: other grading threads of the run draw from that."""
    gen = torch.Generator().manual_seed(seed if scale <= 0 else seed + 1)
    state = {}
    for k, v in micro_model().state_dict().items():
        if not v.is_floating_point():
            state[k] = v.detach().clone()
        elif scale > 0:
            state[k] = torch.randn(v.shape, generator=gen) * scale
        elif k.endswith("LayerNorm.weight"):
            state[k] = torch.ones_like(v)
        elif k.endswith("bias"):
            state[k] = torch.zeros_like(v)
        else:
            state[k] = torch.randn(v.shape, generator=gen) * 0.02
    return state


def micro_batches(seed: int, n_micro: int, batch: int, length: int) -> dict[str, torch.Tensor]:
    """``n_micro`` micro-batches of ``batch`` examples: ids, segments, mask, labels."""
    gen = torch.Generator().manual_seed(seed)
    vocab = MICRO_CONFIG["vocab_size"]
    ids = torch.randint(5, vocab, (n_micro, batch, length), generator=gen)
    real = torch.randint(length // 2, length + 1, (n_micro, batch), generator=gen)
    mask = (torch.arange(length) < real[..., None]).long()
    ids = ids * mask
    labels = torch.randint(0, 2, (n_micro, batch), generator=gen)
    return {"ids": ids, "seg": torch.zeros_like(ids), "mask": mask, "labels": labels}


def window_gradient(state: dict[str, torch.Tensor], batches: dict[str, torch.Tensor],
                    window: range) -> torch.Tensor:
    """The gradient of the mean cross-entropy over every example of the micro-batches in
    ``window``, flattened in ``named_parameters`` order (float64 accumulation of float32)."""
    model = micro_model(state)
    model.train()
    pick = list(window)
    out = model(input_ids=batches["ids"][pick].flatten(0, 1),
                token_type_ids=batches["seg"][pick].flatten(0, 1),
                attention_mask=batches["mask"][pick].flatten(0, 1),
                labels=batches["labels"][pick].flatten(0, 1))
    out.loss.backward()
    return torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1)
                      for _, p in model.named_parameters()])


def step_gradients(state: dict[str, torch.Tensor], batches: dict[str, torch.Tensor],
                   accum: int, clip: float | None) -> torch.Tensor:
    """The gradient every optimizer step of an accumulating epoch must use, after clipping."""
    n = batches["ids"].shape[0]
    rows = []
    for start in range(0, n, accum):
        g = window_gradient(state, batches, range(start, min(start + accum, n)))
        if start + accum > n:
            g = g * ((n - start) / accum)  # a leftover step: the same scaling, fewer terms
        if clip is not None:
            g = g * min(1.0, clip / (float(g.norm()) + CLIP_EPS))
        rows.append(g)
    return torch.stack(rows)


def decays(name: str) -> bool:
    """Whether the task applies weight decay to the parameter called ``name``."""
    return "bias" not in name and "LayerNorm" not in name


def optimizer_step(state: dict[str, torch.Tensor], grads: list[dict[str, torch.Tensor]],
                   name: str, lr: float, weight_decay: float, *,
                   rule: str = "task") -> dict[str, torch.Tensor]:
    """The weights after ``len(grads)`` steps of torch's Adam/AdamW with the given decay rule.

    ``rule``: ``task`` (no decay on biases/LayerNorm), ``all`` (decay everywhere) or ``none``.
    """
    model = micro_model(state)
    named = dict(model.named_parameters())
    if rule == "task":
        groups = [{"params": [p for n, p in named.items() if decays(n)],
                   "weight_decay": weight_decay},
                  {"params": [p for n, p in named.items() if not decays(n)],
                   "weight_decay": 0.0}]
    else:
        groups = [{"params": list(named.values()),
                   "weight_decay": weight_decay if rule == "all" else 0.0}]
    cls = torch.optim.AdamW if name == "adamw" else torch.optim.Adam
    opt = cls(groups, lr=lr)
    for step in grads:
        for n, p in named.items():
            p.grad = step[n].clone()
        opt.step()
    return {n: p.detach().clone() for n, p in named.items()}


def optimizer_grads(seed: int, steps: int) -> list[dict[str, torch.Tensor]]:
    """Seeded gradients for the optimizer probe: |g| in [0.5, 1.5], half the entries zero (there
    only weight decay moves a weight, so L2 and decoupled decay differ plainly)."""
    gen = torch.Generator().manual_seed(seed)
    shapes = {n: p.shape for n, p in micro_model().named_parameters()}
    out = []
    for _ in range(steps):
        step = {}
        for n, shape in shapes.items():
            mag = 0.5 + torch.rand(shape, generator=gen)
            sign = torch.where(torch.rand(shape, generator=gen) < 0.5, -1.0, 1.0)
            keep = torch.rand(shape, generator=gen) < 0.5
            step[n] = mag * sign * keep
        out.append(step)
    return out


def masking_ids(tok: Any, texts: list[str], seq_len: int) -> torch.Tensor:
    """Real reviews as padded id rows ([CLS] ... [SEP] [PAD] ...) for the masking probe."""
    rows = [vectorized(tok, t, None, seq_len)["ids"] for t in texts]
    return torch.tensor(rows)


def snapshot_path(cache_dir: Path) -> str:
    """The snapshot folder of ``bert-base-uncased`` in a built cache, as a string."""
    from grader.assignments.bert_finetune.hfcache import snapshot_dir

    return str(snapshot_dir(cache_dir))
