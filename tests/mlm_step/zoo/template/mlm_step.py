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
    ### START YOUR CODE ###
    # gen = torch.Generator().manual_seed(seed); draw select, corrupt, random_tokens in that order
    # (shapes (N, T); randint(0, vocab_size, ...)). selected = select < 0.15. Start from a clone
    # of token_ids; where selected & (corrupt < 0.8) put mask_token_id; where selected &
    # (0.8 <= corrupt < 0.9) put the random token; leave the rest.
    raise NotImplementedError('TODO mask_tokens: this part is not written yet. Replace this raise with your code between START YOUR CODE and END YOUR CODE (see the hints above in mlm_step.py)')
    ### END YOUR CODE ###
    return corrupted, selected


def layer_norm(x):
    """LayerNorm over the last dim, no affine parameters. Return ``(y, cache)`` for the backward."""
    ### START YOUR CODE ###
    # mean and *biased* variance (divide by d) over the last dim; y = (x - mean) / sqrt(var + eps)
    # with eps = LN_EPS. Keep what the backward needs (y and 1 / sqrt(var + eps)) in the cache.
    raise NotImplementedError('TODO layer_norm: this part is not written yet. Replace this raise with your code between START YOUR CODE and END YOUR CODE (see the hints above in mlm_step.py)')
    ### END YOUR CODE ###
    return y, cache


def layer_norm_backward(dy, cache):
    """Gradient of the loss w.r.t. the LayerNorm input, given ``dy`` w.r.t. its output."""
    ### START YOUR CODE ###
    # Derive it: x reaches y directly and through the mean and the variance. The result needs
    # only rstd, y and two means over the last dim (of dy and of dy * y).
    raise NotImplementedError('TODO layer_norm_backward: this part is not written yet. Replace this raise with your code between START YOUR CODE and END YOUR CODE (see the hints above in mlm_step.py)')
    ### END YOUR CODE ###
    return dx


def gelu(u):
    """GELU, tanh approximation."""
    ### START YOUR CODE ###
    # 0.5 * u * (1 + tanh(GELU_C * (u + 0.044715 * u**3)))
    raise NotImplementedError('TODO gelu: this part is not written yet. Replace this raise with your code between START YOUR CODE and END YOUR CODE (see the hints above in mlm_step.py)')
    ### END YOUR CODE ###
    return out


def gelu_backward(dout, u):
    """Gradient w.r.t. the GELU input ``u``, given ``dout`` w.r.t. its output."""
    ### START YOUR CODE ###
    # Differentiate the tanh form with the product and chain rules
    # (d tanh(z) / dz = 1 - tanh(z)^2); multiply the local derivative by dout.
    raise NotImplementedError('TODO gelu_backward: this part is not written yet. Replace this raise with your code between START YOUR CODE and END YOUR CODE (see the hints above in mlm_step.py)')
    ### END YOUR CODE ###
    return du


def softmax_rows(z):
    """Softmax over the last dim, numerically stable (subtract the row max first)."""
    ### START YOUR CODE ###
    # e = exp(z - max(z, last dim)); return e / e.sum(last dim).
    raise NotImplementedError('TODO softmax_rows: this part is not written yet. Replace this raise with your code between START YOUR CODE and END YOUR CODE (see the hints above in mlm_step.py)')
    ### END YOUR CODE ###
    return p


def softmax_rows_backward(dp, p):
    """Gradient w.r.t. the softmax input, given ``dp`` w.r.t. its output ``p``."""
    ### START YOUR CODE ###
    # The Jacobian of a softmax row is diag(p) - p p^T; apply it to dp without building it.
    raise NotImplementedError('TODO softmax_rows_backward: this part is not written yet. Replace this raise with your code between START YOUR CODE and END YOUR CODE (see the hints above in mlm_step.py)')
    ### END YOUR CODE ###
    return dz


def attention(h, w_q, w_k, w_v, num_heads):
    """Multi-head self-attention without the output projection.

    ``h`` is (N, T, d); returns the concatenated heads (N, T, d) and a cache for the backward.
    """
    ### START YOUR CODE ###
    # Q, K, V = h @ w_q, h @ w_k, h @ w_v, reshaped to (N, T, H, d_head) and transposed to
    # (N, H, T, d_head). scores = Q K^T / sqrt(d_head); P = softmax_rows(scores) (no mask);
    # out = P V, transposed back and reshaped to (N, T, d).
    raise NotImplementedError('TODO attention: this part is not written yet. Replace this raise with your code between START YOUR CODE and END YOUR CODE (see the hints above in mlm_step.py)')
    ### END YOUR CODE ###
    return out, cache


def attention_backward(dout, cache, w_q, w_k, w_v):
    """Backward of ``attention``: return ``(dh, dw_q, dw_k, dw_v)``."""
    ### START YOUR CODE ###
    # Split dout into heads like the forward; dV = P^T dout_h; dP = dout_h V^T;
    # dS = softmax_rows_backward(dP, P) * scale; dQ = dS K; dK = dS^T Q. Merge the heads back to
    # (N, T, d); dw_q = sum over (N, T) of h^T dQ (same for k, v);
    # dh = dQ w_q^T + dK w_k^T + dV w_v^T.
    raise NotImplementedError('TODO attention_backward: this part is not written yet. Replace this raise with your code between START YOUR CODE and END YOUR CODE (see the hints above in mlm_step.py)')
    ### END YOUR CODE ###
    return dh, dw_q, dw_k, dw_v


def cross_entropy(logits, targets):
    """Mean cross-entropy of ``logits`` (M, V) against ``targets`` (M,): ``(loss, dlogits)``."""
    ### START YOUR CODE ###
    # log-softmax by hand (subtract the row max, then log of the sum of exp); the loss is the mean
    # over the M rows of -logprob[target]; dlogits = (softmax - one_hot(target)) / M.
    raise NotImplementedError('TODO cross_entropy: this part is not written yet. Replace this raise with your code between START YOUR CODE and END YOUR CODE (see the hints above in mlm_step.py)')
    ### END YOUR CODE ###
    return loss, dlogits


def forward(token_ids, w_emb, pos_embed, blocks_weights, w_head, mask_token_id, num_heads, seed):
    """The forward pass and the loss; return ``(loss, dlogits, cache)`` for the backward."""
    ### START YOUR CODE ###
    # corrupted, selected = mask_tokens(...); x = w_emb[corrupted] + pos_embed; for each block:
    # the attention sub-layer (layer_norm, attention, @ w_o, residual), then the FFN sub-layer
    # (layer_norm, @ w_mlp1, gelu, @ w_mlp2, residual), keeping what the backward needs.
    # logits = x @ w_head; loss and dlogits from cross_entropy on the selected positions only
    # (logits[selected], token_ids[selected]).
    raise NotImplementedError('TODO forward: this part is not written yet. Replace this raise with your code between START YOUR CODE and END YOUR CODE (see the hints above in mlm_step.py)')
    ### END YOUR CODE ###
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
    ### START YOUR CODE ###
    # dw_head from the final x and dlogits; dx = dlogits @ w_head^T. Then for each block in
    # reverse: the FFN (dw_mlp2, gelu_backward, dw_mlp1, layer_norm_backward, add the residual
    # gradient), then the attention (dw_o, attention_backward, layer_norm_backward, residual).
    # Finally dw_emb: zeros, index_add_ of dx rows onto the corrupted ids; dpos_embed = dx.sum(0).
    raise NotImplementedError('TODO backward: this part is not written yet. Replace this raise with your code between START YOUR CODE and END YOUR CODE (see the hints above in mlm_step.py)')
    ### END YOUR CODE ###

    ### START YOUR CODE ###
    # w_new = w - lr * dw for w_emb, pos_embed, every block matrix and w_head (new tensors: do not
    # modify the inputs). Return torch.cat of them all flattened, in the documented order.
    raise NotImplementedError('TODO update: this part is not written yet. Replace this raise with your code between START YOUR CODE and END YOUR CODE (see the hints above in mlm_step.py)')
    ### END YOUR CODE ###
    return out
