"""An independent correct solution (written from the assignment text, not from the reference).

Heads in a Python loop, masking with torch.where, log-sum-exp cross-entropy, the layer-norm
backward written term by term; every intermediate kept in a dict per block.
"""

import math

import torch

EPS = 1e-5
MASK_RATE = 0.15
K = math.sqrt(2.0 / math.pi)


def corrupt_inputs(ids, vocab, mask_id, seed):
    g = torch.Generator().manual_seed(seed)
    r_sel = torch.rand(ids.shape[0], ids.shape[1], generator=g)
    r_how = torch.rand(ids.shape[0], ids.shape[1], generator=g)
    r_tok = torch.randint(0, vocab, (ids.shape[0], ids.shape[1]), generator=g)
    chosen = r_sel < MASK_RATE
    masked = torch.where(chosen & (r_how < 0.9), torch.full_like(ids, mask_id), ids)
    swap = chosen & (r_how >= 0.8) & (r_how < 0.9)
    return masked, chosen


def ln_fwd(x):
    d = x.shape[-1]
    mu = x.sum(-1, keepdim=True) / d
    xc = x - mu
    var = (xc ** 2).sum(-1, keepdim=True) / d
    inv = (var + EPS) ** -0.5
    return xc * inv, (xc, inv)


def ln_bwd(g, saved):
    xc, inv = saved
    d = xc.shape[-1]
    # y = xc * inv; dy/dx through xc (centring) and through inv (variance)
    g_xc = g * inv
    g_inv = (g * xc).sum(-1, keepdim=True)
    g_var = -0.5 * g_inv * inv ** 3
    g_xc = g_xc + g_var * 2.0 * xc / d
    return g_xc - g_xc.sum(-1, keepdim=True) / d


def gelu_fwd(u):
    z = K * (u + 0.044715 * u * u * u)
    th = torch.tanh(z)
    return 0.5 * u * (1.0 + th), th


def gelu_bwd(g, u, th):
    dz = K * (1.0 + 3.0 * 0.044715 * u * u)
    return g * (0.5 * (1.0 + th) + 0.5 * u * (1.0 - th * th) * dz)


def stable_softmax(s):
    s = s - s.amax(-1, keepdim=True)
    e = s.exp()
    return e / e.sum(-1, keepdim=True)


def mha_fwd(h, wq, wk, wv, heads):
    d = h.shape[-1]
    dh = d // heads
    q, k, v = h @ wq, h @ wk, h @ wv
    outs, probs = [], []
    for i in range(heads):
        cols = slice(i * dh, (i + 1) * dh)
        s = q[..., cols] @ k[..., cols].transpose(1, 2) / math.sqrt(dh)
        p = stable_softmax(s)
        probs.append(p)
        outs.append(p @ v[..., cols])
    return torch.cat(outs, dim=-1), (h, q, k, v, probs, dh)


def mha_bwd(g, saved, wq, wk, wv):
    h, q, k, v, probs, dh = saved
    gq, gk, gv = torch.zeros_like(q), torch.zeros_like(k), torch.zeros_like(v)
    for i, p in enumerate(probs):
        cols = slice(i * dh, (i + 1) * dh)
        go = g[..., cols]
        gv[..., cols] = p.transpose(1, 2) @ go
        gp = go @ v[..., cols].transpose(1, 2)
        gs = p * (gp - (gp * p).sum(-1, keepdim=True)) / math.sqrt(dh)
        gq[..., cols] = gs @ k[..., cols]
        gk[..., cols] = gs.transpose(1, 2) @ q[..., cols]
    flat = h.reshape(-1, h.shape[-1])
    d = h.shape[-1]
    grads = [flat.T @ t.reshape(-1, d) for t in (gq, gk, gv)]
    gh = gq @ wq.T + gk @ wk.T + gv @ wv.T
    return gh, grads


def run_forward(ids, emb, pos, blocks, head, mask_id, heads, seed):
    inp, chosen = corrupt_inputs(ids, emb.shape[0], mask_id, seed)
    x = emb[inp] + pos
    saved = []
    for wq, wk, wv, wo, w1, w2 in blocks:
        st = {}
        st["h1"], st["ln1"] = ln_fwd(x)
        st["a"], st["att"] = mha_fwd(st["h1"], wq, wk, wv, heads)
        x = x + st["a"] @ wo
        st["h2"], st["ln2"] = ln_fwd(x)
        st["u"] = st["h2"] @ w1
        st["g"], st["th"] = gelu_fwd(st["u"])
        x = x + st["g"] @ w2
        saved.append(st)
    logits = x @ head
    sel_logits = logits[chosen]
    tgt = ids[chosen]
    mx = sel_logits.amax(-1, keepdim=True)
    lse = mx + (sel_logits - mx).exp().sum(-1, keepdim=True).log()
    logp = sel_logits - lse
    count = sel_logits.shape[0]
    loss = -logp.gather(1, tgt[:, None]).sum() / count
    g_sel = logp.exp()
    g_sel[torch.arange(count), tgt] -= 1.0
    g_logits = torch.zeros_like(logits)
    g_logits[chosen] = g_sel / count
    return loss, g_logits, (inp, x, saved)


def mlm_loss(token_ids, w_emb, pos_embed, blocks_weights, w_head, mask_token_id, num_heads, seed):
    return run_forward(token_ids, w_emb, pos_embed, blocks_weights, w_head, mask_token_id,
                       num_heads, seed)[0]


def train_mlm_pretraining_step(token_ids, w_emb, pos_embed, blocks_weights, w_head,
                               mask_token_id, num_heads, lr, seed):
    _, g_logits, (inp, x, saved) = run_forward(
        token_ids, w_emb, pos_embed, blocks_weights, w_head, mask_token_id, num_heads, seed)
    d = w_emb.shape[1]
    g_head = torch.einsum("ntd,ntv->dv", x, g_logits)
    gx = g_logits @ w_head.T
    grads_blocks = [None] * len(blocks_weights)
    for b in range(len(blocks_weights) - 1, -1, -1):
        wq, wk, wv, wo, w1, w2 = blocks_weights[b]
        st = saved[b]
        g_w2 = torch.einsum("ntf,ntd->fd", st["g"], gx)
        gu = gelu_bwd(gx @ w2.T, st["u"], st["th"])
        g_w1 = torch.einsum("ntd,ntf->df", st["h2"], gu)
        gx = gx + ln_bwd(gu @ w1.T, st["ln2"])
        g_wo = torch.einsum("ntd,nte->de", st["a"], gx)
        gh, (g_wq, g_wk, g_wv) = mha_bwd(gx @ wo.T, st["att"], wq, wk, wv)
        gx = gx + ln_bwd(gh, st["ln1"])
        grads_blocks[b] = (g_wq, g_wk, g_wv, g_wo, g_w1, g_w2)
    g_emb = torch.zeros_like(w_emb)
    g_emb.index_add_(0, inp.flatten(), gx.reshape(-1, d))
    g_pos = gx.sum(0)
    pieces = [(w_emb - lr * g_emb).flatten(), (pos_embed - lr * g_pos).flatten()]
    for ws, gs in zip(blocks_weights, grads_blocks):
        pieces += [(w - lr * gw).flatten() for w, gw in zip(ws, gs)]
    pieces.append((w_head - lr * g_head).flatten())
    return torch.cat(pieces)
