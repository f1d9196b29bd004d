"""Regenerate the ``mlm_step`` mutant zoo from two independent correct solutions.

``MUTANTS`` are the reference with its solution markers removed and one realistic mistake put in;
``LOOP_MUTANTS`` start from ``ok_loops/mlm_step.py``, a correct solution written apart from the
reference. Each edit is a text replacement that must match exactly once. Run
``python tests/zoo/mlm_step/make_zoo.py`` after changing either base (``--check`` only compares),
then regrade and update ``expected.toml``, the one place of expected outcomes.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
ZOO = Path(__file__).resolve().parent
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
    "ref_no_random_token": [("    corrupted[to_random] = random_tokens[to_random]\n", "")],
    "ref_eps_1e12": [("LN_EPS = 1e-5\n", "LN_EPS = 1e-12\n")],
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


SEL = "    masked = torch.where(chosen & (r_how < 0.8), torch.full_like(ids, mask_id), ids)\n"
SWAP = "    swap = chosen & (r_how >= 0.8) & (r_how < 0.9)\n"
RET = "    return torch.where(swap, r_tok, masked), chosen\n"
FWD_SCORE = "        s = q[..., cols] @ k[..., cols].transpose(1, 2) / math.sqrt(dh)\n"
BWD_SCORE = "        gs = p * (gp - (gp * p).sum(-1, keepdim=True)) / math.sqrt(dh)\n"
EMB = "    g_emb.index_add_(0, inp.flatten(), gx.reshape(-1, d))\n"

# name -> edits applied to ok_loops/mlm_step.py (an independent correct solution)
LOOP_MUTANTS: dict[str, list[tuple[str, str]]] = {
    # -- correct variations ----------------------------------------------------------------
    "ok_float64_inside": [(
        "    _, g_logits, (inp, x, saved) = run_forward(\n",
        "    dtype = w_emb.dtype\n"
        "    w_emb, pos_embed, w_head = w_emb.double(), pos_embed.double(), w_head.double()\n"
        "    blocks_weights = [[w.double() for w in b] for b in blocks_weights]\n"
        "    _, g_logits, (inp, x, saved) = run_forward(\n",
    ), ("    return torch.cat(pieces)\n", "    return torch.cat(pieces).to(dtype)\n")],
    # -- masking -----------------------------------------------------------------------------
    "no_random_token": [(RET, "    return masked, chosen\n")],
    "random_writes_mask": [(SEL, SEL.replace("0.8", "0.9")), (RET, "    return masked, chosen\n")],
    "kept_masked": [(SEL, SEL.replace("(r_how < 0.8)", "((r_how < 0.8) | (r_how >= 0.9))"))],
    "mask_rate_020": [("MASK_RATE = 0.15\n", "MASK_RATE = 0.2\n")],
    "split_90_5_5": [(SEL, SEL.replace("0.8", "0.9")),
                     (SWAP, SWAP.replace("0.9", "0.95").replace("0.8", "0.9"))],
    "draws_swapped": [(
        "    r_sel = torch.rand(ids.shape[0], ids.shape[1], generator=g)\n"
        "    r_how = torch.rand(ids.shape[0], ids.shape[1], generator=g)\n",
        "    r_how = torch.rand(ids.shape[0], ids.shape[1], generator=g)\n"
        "    r_sel = torch.rand(ids.shape[0], ids.shape[1], generator=g)\n",
    )],
    "randint_excludes_last": [("torch.randint(0, vocab, ", "torch.randint(0, vocab - 1, ")],
    # -- forward -----------------------------------------------------------------------------
    "eps_1e12": [("EPS = 1e-5\n", "EPS = 1e-12\n")],
    "head_scale_d": [(FWD_SCORE, FWD_SCORE.replace("sqrt(dh)", "sqrt(d)")),
                     (BWD_SCORE, BWD_SCORE.replace("sqrt(dh)", "sqrt(h.shape[-1])"))],
    "heads_strided": [("        cols = slice(i * dh, (i + 1) * dh)\n"
                       "        s = q", "        cols = slice(i, None, heads)\n        s = q"),
                      ("        cols = slice(i * dh, (i + 1) * dh)\n        go",
                       "        cols = slice(i, None, len(probs))\n        go")],
    # -- loss --------------------------------------------------------------------------------
    "loss_all_positions": [
        ("    sel_logits = logits[chosen]\n    tgt = ids[chosen]\n",
         "    sel_logits = logits.reshape(-1, logits.shape[-1])\n    tgt = ids.reshape(-1)\n"),
        ("    g_logits = torch.zeros_like(logits)\n    g_logits[chosen] = g_sel / count\n",
         "    g_logits = (g_sel / count).reshape(logits.shape)\n")],
    "targets_corrupted": [("    tgt = ids[chosen]\n", "    tgt = inp[chosen]\n")],
    "loss_masked_only": [("    x = emb[inp] + pos\n",
                          "    chosen = chosen & (inp == mask_id)\n    x = emb[inp] + pos\n")],
    # -- backward ----------------------------------------------------------------------------
    "dlogits_not_averaged": [("    g_logits[chosen] = g_sel / count\n",
                              "    g_logits[chosen] = g_sel\n")],
    "ln_backward_no_variance": [("    g_xc = g_xc + g_var * 2.0 * xc / d\n", "")],
    "softmax_backward_no_sum": [(BWD_SCORE, "        gs = p * gp / math.sqrt(dh)\n")],
    "dk_not_transposed": [("        gk[..., cols] = gs.transpose(1, 2) @ q[..., cols]\n",
                           "        gk[..., cols] = gs @ q[..., cols]\n")],
    "gelu_backward_no_tanh_term": [(
        "    return g * (0.5 * (1.0 + th) + 0.5 * u * (1.0 - th * th) * dz)\n",
        "    return g * (0.5 * (1.0 + th) + 0.5 * u * dz)\n")],
    "no_attention_residual_grad": [("    gx = gx + ln_bwd(gh, st[\"ln1\"])\n",
                                    "    gx = ln_bwd(gh, st[\"ln1\"])\n")],
    "emb_grad_mean_nan": [(EMB, EMB + "    counts = torch.bincount(inp.flatten(), "
                           "minlength=w_emb.shape[0]).to(w_emb.dtype)\n"
                           "    g_emb = g_emb / counts[:, None]  # average over occurrences\n")],
    # -- update and output -------------------------------------------------------------------
    "head_ignores_lr": [("(w_head - lr * g_head)", "(w_head - g_head)")],
    "gradient_ascent": [("    pieces = [(w_emb - lr * g_emb).flatten(), (pos_embed - lr * g_pos)",
                         "    pieces = [(w_emb + lr * g_emb).flatten(), (pos_embed + lr * g_pos)"),
                        ("(w - lr * gw)", "(w + lr * gw)"),
                        ("(w_head - lr * g_head)", "(w_head + lr * g_head)")],
    "float64_output": [("    return torch.cat(pieces)\n",
                        "    return torch.cat(pieces).double()\n")],
    "raises_multi_head": [("    dh = d // heads\n    q, k, v = h @ wq",
                           "    assert heads == 1, \"several heads: not written yet\"\n"
                           "    dh = d // heads\n    q, k, v = h @ wq")],
    "syntax_error": [("def ln_fwd(x):\n", "def ln_fwd(x)\n")],
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


def wanted_files() -> dict[str, str]:
    """Every generated submission: folder name -> the text of its ``mlm_step.py``."""
    base = unmarked_reference()
    loops = (ZOO / "ok_loops" / "mlm_step.py").read_text(encoding="utf-8")
    wanted = {"reference": base, **{n: mutate(base, e, n) for n, e in MUTANTS.items()}}
    wanted.update({n: mutate(loops, e, n) for n, e in LOOP_MUTANTS.items()})
    return wanted


def main(argv: list[str]) -> int:
    """Write every mutant (``--check``: only report the ones that differ, exit 1 if any)."""
    stale = []
    for name, text in wanted_files().items():
        path = ZOO / name / "mlm_step.py"
        if argv[1:] == ["--check"]:
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    if stale:
        print(f"stale zoo submissions: {', '.join(stale)}")
        return 1
    print(f"zoo under {ZOO} is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
