"""One BERT-style masked-language-model (MLM) training step, with the backward pass by hand.

You write ``train_mlm_pretraining_step`` (one SGD step) and ``mlm_loss`` (the loss of that same
step, before the update) without autograd: every gradient is derived and coded by you.

The step, for ``token_ids`` of shape (N, T), vocabulary size V = ``w_emb.shape[0]`` and model
width d = ``w_emb.shape[1]``:

1. Masking. ``gen = torch.Generator().manual_seed(seed)``; then, in this order,
   ``select = torch.rand(N, T, generator=gen)``, ``corrupt = torch.rand(N, T, generator=gen)``,
   ``random_tokens = torch.randint(0, V, (N, T), generator=gen)`` (all three are drawn even when
   unused). A position is selected where ``select < 0.15``. A selected position's input becomes
   ``mask_token_id`` where ``corrupt < 0.8``, the random token where ``0.8 <= corrupt < 0.9``, and
   stays the original token otherwise (it is still selected, and still predicted).
2. Forward: bidirectional (no attention mask), pre-LayerNorm, no biases::

       x = w_emb[corrupted] + pos_embed                      # (N, T, d)
       for w_q, w_k, w_v, w_o, w_mlp1, w_mlp2 in blocks_weights:
           x = x + MHA(LN(x)) @ w_o
           x = x + GELU(LN(x) @ w_mlp1) @ w_mlp2
       logits = x @ w_head                                   # (N, T, V)

   LN: no affine parameters, eps = 1e-5, biased variance (divide by d).
   GELU: the tanh approximation 0.5 u (1 + tanh(sqrt(2/pi) (u + 0.044715 u^3))).
   MHA: Q = h @ w_q, K = h @ w_k, V = h @ w_v; head i uses the contiguous columns
   [i * d_head, (i + 1) * d_head) with d_head = d // num_heads; softmax(Q K^T / sqrt(d_head)) V
   per head; the heads' outputs are concatenated back in the same column order.
3. Loss: the mean cross-entropy over the M selected positions of the whole batch (one mean over
   all M, not a mean per row).
4. Backward by hand: through the head, the blocks in reverse order (in each block the FFN first,
   then the attention), and the embeddings: ``dw_emb`` is scattered onto the *corrupted* ids with
   ``index_add_``, and ``dpos_embed = dx.sum(0)``.
5. SGD on all four inputs from the gradients computed before any update (``w - lr * dw``).
   Return ``torch.cat`` of the updated ``w_emb``, ``pos_embed``, every block matrix (block 0's
   w_q, w_k, w_v, w_o, w_mlp1, w_mlp2, then block 1's, ...) and ``w_head``, each flattened:
   a 1-D tensor of length V*d + T*d + num_blocks*6*d*d + d*V, in the inputs' dtype.

Rules: do not modify the input tensors or lists. Do not use ``loss.backward()``,
``torch.autograd``, ``torch.func``, ``torch.distributions``, or the built-in layer norm, GELU,
softmax, log-softmax, cross-entropy, scaled-dot-product attention or ``nn.MultiheadAttention``
(they are detected, and cost the rule-compliance points). Plain tensor maths (``@``, ``exp``,
``log``, ``tanh``, ``sum``, ``max``, indexing, ``index_add_``) is what you need.
Create new tensors with ``torch.zeros_like`` or ``dtype=x.dtype``: the pre-check runs your code
in float64 as well.
"""

import math

import torch

MASK_PROB = 0.15
LN_EPS = 1e-5
GELU_C = math.sqrt(2.0 / math.pi)


def mask_tokens(token_ids, vocab_size, mask_token_id, seed):
    """Return ``(corrupted, selected)``: the corrupted input ids (N, T) and the bool mask (N, T)."""
    n, t = token_ids.shape
    gen = torch.Generator().manual_seed(seed)
    select = torch.rand(n, t, generator=gen)
    corrupt = torch.rand(n, t, generator=gen)
    random_tokens = torch.randint(0, vocab_size, (n, t), generator=gen)
    selected = select < MASK_PROB
    corrupted = token_ids.clone()
    to_mask = selected & (corrupt < 0.8)
    to_random = selected & (corrupt >= 0.8) & (corrupt < 0.9)
    corrupted[to_mask] = mask_token_id
    corrupted[to_random] = random_tokens[to_random]
    return corrupted, selected


def layer_norm(x):
    """LayerNorm over the last dim, no affine parameters. Return ``(y, cache)`` for the backward."""
    mean = x.mean(dim=-1, keepdim=True)
    centred = x - mean
    var = (centred * centred).mean(dim=-1, keepdim=True)
    rstd = 1.0 / torch.sqrt(var + LN_EPS)
    y = centred * rstd
    cache = (y, rstd)
    return y, cache


def layer_norm_backward(dy, cache):
    """Gradient of the loss w.r.t. the LayerNorm input, given ``dy`` w.r.t. its output."""
    y, rstd = cache
    dx = rstd * (dy - dy.mean(dim=-1, keepdim=True) - y * (dy * y).mean(dim=-1, keepdim=True))
    return dx


def gelu(u):
    """GELU, tanh approximation."""
    out = 0.5 * u * (1.0 + torch.tanh(GELU_C * (u + 0.044715 * u**3)))
    return out


def gelu_backward(dout, u):
    """Gradient w.r.t. the GELU input ``u``, given ``dout`` w.r.t. its output."""
    t = torch.tanh(GELU_C * (u + 0.044715 * u**3))
    local = 0.5 * (1.0 + t) + 0.5 * u * (1.0 - t * t) * GELU_C * (1.0 + 3 * 0.044715 * u * u)
    du = dout * local
    return du


def softmax_rows(z):
    """Softmax over the last dim, numerically stable (subtract the row max first)."""
    e = torch.exp(z - z.max(dim=-1, keepdim=True).values)
    p = e / e.sum(dim=-1, keepdim=True)
    return p


def softmax_rows_backward(dp, p):
    """Gradient w.r.t. the softmax input, given ``dp`` w.r.t. its output ``p``."""
    dz = p * (dp - (dp * p).sum(dim=-1, keepdim=True))
    return dz


def attention(h, w_q, w_k, w_v, num_heads):
    """Multi-head self-attention without the output projection.

    ``h`` is (N, T, d); returns the concatenated heads (N, T, d) and a cache for the backward.
    """
    n, t, d = h.shape
    dh = d // num_heads

    def split(m):
        return m.reshape(n, t, num_heads, dh).transpose(1, 2)

    q, k, v = split(h @ w_q), split(h @ w_k), split(h @ w_v)
    scale = 1.0
    p = softmax_rows((q @ k.transpose(-1, -2)) * scale)
    out = (p @ v).transpose(1, 2).reshape(n, t, d)
    cache = (h, q, k, v, p, scale)
    return out, cache


def attention_backward(dout, cache, w_q, w_k, w_v):
    """Backward of ``attention``: return ``(dh, dw_q, dw_k, dw_v)``."""
    h, q, k, v, p, scale = cache
    n, t, d = h.shape
    heads, dh_ = q.shape[1], q.shape[3]

    def merge(m):
        return m.transpose(1, 2).reshape(n, t, d)

    dout_h = dout.reshape(n, t, heads, dh_).transpose(1, 2)
    dv = p.transpose(-1, -2) @ dout_h
    dp = dout_h @ v.transpose(-1, -2)
    ds = softmax_rows_backward(dp, p) * scale
    dq = ds @ k
    dk = ds.transpose(-1, -2) @ q
    dq, dk, dv = merge(dq), merge(dk), merge(dv)
    h2 = h.reshape(-1, d)
    dw_q = h2.T @ dq.reshape(-1, d)
    dw_k = h2.T @ dk.reshape(-1, d)
    dw_v = h2.T @ dv.reshape(-1, d)
    dh = dq @ w_q.T + dk @ w_k.T + dv @ w_v.T
    return dh, dw_q, dw_k, dw_v


def cross_entropy(logits, targets):
    """Mean cross-entropy of ``logits`` (M, V) against ``targets`` (M,): ``(loss, dlogits)``."""
    m = logits.shape[0]
    shifted = logits - logits.max(dim=-1, keepdim=True).values
    logprobs = shifted - torch.log(torch.exp(shifted).sum(dim=-1, keepdim=True))
    rows = torch.arange(m)
    loss = -logprobs[rows, targets].mean()
    dlogits = torch.exp(logprobs)
    dlogits[rows, targets] -= 1.0
    dlogits = dlogits / m
    return loss, dlogits


def forward(token_ids, w_emb, pos_embed, blocks_weights, w_head, mask_token_id, num_heads, seed):
    """The forward pass and the loss; return ``(loss, dlogits, cache)`` for the backward."""
    corrupted, selected = mask_tokens(token_ids, w_emb.shape[0], mask_token_id, seed)
    x = w_emb[corrupted] + pos_embed
    caches = []
    for w_q, w_k, w_v, w_o, w_mlp1, w_mlp2 in blocks_weights:
        h, ln1 = layer_norm(x)
        att, att_cache = attention(h, w_q, w_k, w_v, num_heads)
        x = x + att @ w_o
        h2, ln2 = layer_norm(x)
        u = h2 @ w_mlp1
        g = gelu(u)
        x = x + g @ w_mlp2
        caches.append((ln1, att_cache, att, ln2, h2, u, g))
    logits = x @ w_head
    loss, dlogits_sel = cross_entropy(logits[selected], token_ids[selected])
    dlogits = torch.zeros_like(logits)
    dlogits[selected] = dlogits_sel
    cache = (corrupted, x, caches)
    return loss, dlogits, cache


def mlm_loss(token_ids, w_emb, pos_embed, blocks_weights, w_head, mask_token_id, num_heads, seed):
    """The MLM loss (a 0-dim tensor) of the step, before any update (same arguments minus lr)."""
    loss, _, _ = forward(
        token_ids, w_emb, pos_embed, blocks_weights, w_head, mask_token_id, num_heads, seed
    )
    return loss


def train_mlm_pretraining_step(
    token_ids, w_emb, pos_embed, blocks_weights, w_head, mask_token_id, num_heads, lr, seed
):
    """One SGD step of MLM pre-training: the updated parameters, flattened and concatenated."""
    _loss, dlogits, cache = forward(
        token_ids, w_emb, pos_embed, blocks_weights, w_head, mask_token_id, num_heads, seed
    )
    corrupted, x, caches = cache
    d = w_emb.shape[1]
    dw_head = x.reshape(-1, d).T @ dlogits.reshape(-1, w_head.shape[1])
    dx = dlogits @ w_head.T
    block_grads = []
    for (w_q, w_k, w_v, w_o, w_mlp1, w_mlp2), (ln1, att_cache, att, ln2, h2, u, g) in zip(
        reversed(blocks_weights), reversed(caches)
    ):
        dw_mlp2 = g.reshape(-1, d).T @ dx.reshape(-1, d)
        du = gelu_backward(dx @ w_mlp2.T, u)
        dw_mlp1 = h2.reshape(-1, d).T @ du.reshape(-1, d)
        dx = dx + layer_norm_backward(du @ w_mlp1.T, ln2)
        dw_o = att.reshape(-1, d).T @ dx.reshape(-1, d)
        dh, dw_q, dw_k, dw_v = attention_backward(dx @ w_o.T, att_cache, w_q, w_k, w_v)
        dx = dx + layer_norm_backward(dh, ln1)
        block_grads.append([dw_q, dw_k, dw_v, dw_o, dw_mlp1, dw_mlp2])
    block_grads.reverse()
    dw_emb = torch.zeros_like(w_emb).index_add_(0, corrupted.reshape(-1), dx.reshape(-1, d))
    dpos_embed = dx.sum(0)

    parts = [w_emb - lr * dw_emb, pos_embed - lr * dpos_embed]
    for weights, grads in zip(blocks_weights, block_grads):
        parts.extend(w - lr * gw for w, gw in zip(weights, grads))
    parts.append(w_head - lr * dw_head)
    out = torch.cat([p.reshape(-1) for p in parts])
    return out
