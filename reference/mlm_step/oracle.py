"""The grader's float64 autograd oracle for ``mlm_step`` (instructor-only, never shipped).

Independent of the hand-written reference: it uses torch's own layer norm, GELU, softmax and
cross-entropy and lets autograd do the backward pass, all in float64. Loaded by the grader from
``reference/mlm_step/oracle.py`` in the trusted parent process only when the reference is present.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

PART_ORDER = ("w_q", "w_k", "w_v", "w_o", "w_mlp1", "w_mlp2")


@dataclass
class OracleResult:
    """The exact (float64) outcome of one step."""

    loss: float
    num_selected: int
    grads: dict[str, torch.Tensor]  # "w_emb", "pos_embed", "blocks.0.w_q", ..., "w_head"
    updated: torch.Tensor  # flattened updated parameters, float64, in the documented order


def corrupt(
    token_ids: torch.Tensor, vocab_size: int, mask_token_id: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The assignment's masking: ``(corrupted ids, selected mask)``."""
    n, t = token_ids.shape
    gen = torch.Generator().manual_seed(seed)
    select = torch.rand(n, t, generator=gen)
    corrupt_draw = torch.rand(n, t, generator=gen)
    random_tokens = torch.randint(0, vocab_size, (n, t), generator=gen)
    selected = select < 0.15
    out = token_ids.clone()
    masked = selected & (corrupt_draw < 0.8)
    randomised = selected & (corrupt_draw >= 0.8) & (corrupt_draw < 0.9)
    out[masked] = mask_token_id
    out[randomised] = random_tokens[randomised]
    return out, selected


def _mha(h: torch.Tensor, w_q, w_k, w_v, num_heads: int) -> torch.Tensor:
    n, t, d = h.shape
    dh = d // num_heads

    def split(m: torch.Tensor) -> torch.Tensor:
        return m.reshape(n, t, num_heads, dh).transpose(1, 2)

    q, k, v = split(h @ w_q), split(h @ w_k), split(h @ w_v)
    p = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(dh), dim=-1)
    return (p @ v).transpose(1, 2).reshape(n, t, d)


def oracle_loss(
    token_ids: torch.Tensor,
    w_emb: torch.Tensor,
    pos_embed: torch.Tensor,
    blocks: list[list[torch.Tensor]],
    w_head: torch.Tensor,
    mask_token_id: int,
    num_heads: int,
    seed: int,
) -> tuple[torch.Tensor, int]:
    """The differentiable loss (in the inputs' dtype) and the number of selected positions."""
    corrupted, selected = corrupt(token_ids, w_emb.shape[0], mask_token_id, seed)
    d = w_emb.shape[1]
    x = w_emb[corrupted] + pos_embed
    for w_q, w_k, w_v, w_o, w_mlp1, w_mlp2 in blocks:
        x = x + _mha(F.layer_norm(x, (d,), eps=1e-5), w_q, w_k, w_v, num_heads) @ w_o
        x = x + F.gelu(F.layer_norm(x, (d,), eps=1e-5) @ w_mlp1, approximate="tanh") @ w_mlp2
    logits = x @ w_head
    loss = F.cross_entropy(logits[selected], token_ids[selected], reduction="mean")
    return loss, int(selected.sum())


def oracle_step(
    token_ids: torch.Tensor,
    w_emb: torch.Tensor,
    pos_embed: torch.Tensor,
    blocks: list[list[torch.Tensor]],
    w_head: torch.Tensor,
    mask_token_id: int,
    num_heads: int,
    lr: float,
    seed: int,
) -> OracleResult:
    """One exact SGD step in float64 (inputs of any float dtype are promoted first)."""
    leaves = {
        "w_emb": w_emb.detach().double().clone().requires_grad_(True),
        "pos_embed": pos_embed.detach().double().clone().requires_grad_(True),
    }
    for i, block in enumerate(blocks):
        for name, w in zip(PART_ORDER, block):
            leaves[f"blocks.{i}.{name}"] = w.detach().double().clone().requires_grad_(True)
    leaves["w_head"] = w_head.detach().double().clone().requires_grad_(True)
    block_leaves = [[leaves[f"blocks.{i}.{n}"] for n in PART_ORDER] for i in range(len(blocks))]
    loss, m = oracle_loss(
        token_ids, leaves["w_emb"], leaves["pos_embed"], block_leaves, leaves["w_head"],
        mask_token_id, num_heads, seed,
    )
    names = list(leaves)
    grads = torch.autograd.grad(loss, [leaves[n] for n in names])
    grad_map = {n: g.detach() for n, g in zip(names, grads)}
    updated = torch.cat([(leaves[n].detach() - lr * grad_map[n]).reshape(-1) for n in names])
    return OracleResult(float(loss.detach()), m, grad_map, updated)
