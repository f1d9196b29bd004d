"""Regenerate the ``mlm_step`` mutant zoo from the reference solution.

Each mutant is the reference with its solution markers removed and one realistic mistake put in
(a text replacement that must match exactly once). Run ``python tests/mlm_step/make_zoo.py``
after changing ``reference/mlm_step/mlm_step.py``, then re-check ``zoo/expected.toml``.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ZOO = Path(__file__).resolve().parent / "zoo"
MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION", "#|", "#=")

AUTOGRAD_STEP = '''    leaves = [w_emb, pos_embed, *[w for b in blocks_weights for w in b], w_head]
    leaves = [w.detach().clone().requires_grad_(True) for w in leaves]
    nb = len(blocks_weights)
    blocks = [leaves[2 + 6 * i: 8 + 6 * i] for i in range(nb)]
    loss = mlm_loss(token_ids, leaves[0], leaves[1], blocks, leaves[-1], mask_token_id, num_heads,
                    seed)
    {call}
    return torch.cat([(w - lr * w.grad).detach().reshape(-1) for w in leaves])
'''
STEP_HEAD = (
    '    """One SGD step of MLM pre-training: the updated parameters, flattened and '
    'concatenated."""\n'
)

# name -> list of (old, new) replacements applied to the unmarked reference
MUTANTS: dict[str, list[tuple[str, str]]] = {
    "unbiased_variance": [(
        "    var = (centred * centred).mean(dim=-1, keepdim=True)\n",
        "    var = x.var(dim=-1, unbiased=True, keepdim=True)\n",
    )],
    "erf_gelu": [(
        "    out = 0.5 * u * (1.0 + torch.tanh(GELU_C * (u + 0.044715 * u**3)))\n",
        "    out = 0.5 * u * (1.0 + torch.erf(u / math.sqrt(2.0)))\n",
    ), (
        "    t = torch.tanh(GELU_C * (u + 0.044715 * u**3))\n"
        "    local = 0.5 * (1.0 + t) + 0.5 * u * (1.0 - t * t) * GELU_C * "
        "(1.0 + 3 * 0.044715 * u * u)\n",
        "    local = 0.5 * (1.0 + torch.erf(u / math.sqrt(2.0)))\n"
        "    local = local + u * torch.exp(-0.5 * u * u) / math.sqrt(2.0 * math.pi)\n",
    )],
    "no_sqrt_scaling": [(
        "    scale = 1.0 / math.sqrt(dh)\n", "    scale = 1.0\n",
    )],
    "causal_mask": [(
        "    p = softmax_rows((q @ k.transpose(-1, -2)) * scale)\n",
        "    scores = (q @ k.transpose(-1, -2)) * scale\n"
        "    future = torch.triu(torch.ones(t, t, dtype=torch.bool), diagonal=1)\n"
        "    p = softmax_rows(scores.masked_fill(future, float(\"-inf\")))\n",
    )],
    "grad_to_original_ids": [(
        "index_add_(0, corrupted.reshape(-1), dx.reshape(-1, d))",
        "index_add_(0, token_ids.reshape(-1), dx.reshape(-1, d))",
    )],
    "dpos_mean": [("    dpos_embed = dx.sum(0)\n", "    dpos_embed = dx.mean(0)\n")],
    "per_row_mean": [(
        "def cross_entropy(logits, targets):\n", "def cross_entropy(logits, targets, weights):\n",
    ), (
        "    loss = -logprobs[rows, targets].mean()\n",
        "    loss = -(logprobs[rows, targets] * weights).sum()\n",
    ), (
        "    dlogits = dlogits / m\n", "    dlogits = dlogits * weights[:, None]\n",
    ), (
        "    loss, dlogits_sel = cross_entropy(logits[selected], token_ids[selected])\n",
        "    row_counts = selected.sum(dim=1)\n"
        "    rows_used = int((row_counts > 0).sum())\n"
        "    per_pos = row_counts.unsqueeze(1).expand_as(selected)[selected].to(x.dtype)\n"
        "    weights = 1.0 / (per_pos * rows_used)  # mean per row, then mean over the rows\n"
        "    loss, dlogits_sel = cross_entropy(logits[selected], token_ids[selected], weights)\n",
    )],
    "uses_backward": [
        ("    dlogits = torch.exp(logprobs)\n", "    dlogits = torch.exp(logprobs.detach())\n"),
        (STEP_HEAD, STEP_HEAD + AUTOGRAD_STEP.format(call="loss.backward()")),
    ],
    "dynamic_backward": [
        ("    dlogits = torch.exp(logprobs)\n", "    dlogits = torch.exp(logprobs.detach())\n"),
        (STEP_HEAD, STEP_HEAD + AUTOGRAD_STEP.format(call='getattr(loss, "back" + "ward")()')),
    ],
    "builtin_softmax": [(
        "    e = torch.exp(z - z.max(dim=-1, keepdim=True).values)\n"
        "    p = e / e.sum(dim=-1, keepdim=True)\n",
        "    p = torch.softmax(z, dim=-1)\n",
    )],
    "inplace_update": [(
        "    parts = [w_emb - lr * dw_emb, pos_embed - lr * dpos_embed]\n"
        "    for weights, grads in zip(blocks_weights, block_grads):\n"
        "        parts.extend(w - lr * gw for w, gw in zip(weights, grads))\n"
        "    parts.append(w_head - lr * dw_head)\n",
        "    parts = [w_emb.sub_(lr * dw_emb), pos_embed.sub_(lr * dpos_embed)]\n"
        "    for weights, grads in zip(blocks_weights, block_grads):\n"
        "        parts.extend(w.sub_(lr * gw) for w, gw in zip(weights, grads))\n"
        "    parts.append(w_head.sub_(lr * dw_head))\n",
    )],
}


def unmarked_reference() -> str:
    """The reference solution without its solution markers and hint lines."""
    text = (ROOT / "reference" / "mlm_step" / "mlm_step.py").read_text(encoding="utf-8")
    keep = [ln for ln in text.splitlines(keepends=True) if not ln.strip().startswith(MARKERS)]
    return "".join(keep)


def mutate(source: str, edits: list[tuple[str, str]], name: str) -> str:
    """Apply ``edits``; each ``old`` must occur exactly once."""
    for old, new in edits:
        count = source.count(old)
        if count != 1:
            raise SystemExit(f"{name}: expected one match, found {count}: {old[:60]!r}")
        source = source.replace(old, new)
    return source


def main() -> int:
    """Write every mutant (and the unmarked reference as ``reference``)."""
    base = unmarked_reference()
    wanted = {"reference": base, **{n: mutate(base, e, n) for n, e in MUTANTS.items()}}
    wanted["template"] = (ROOT / "student_template" / "mlm_step" / "mlm_step.py").read_text()
    for name, text in wanted.items():
        folder = ZOO / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "mlm_step.py").write_text(text, encoding="utf-8")
    print(f"wrote {len(wanted)} submissions under {ZOO}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
