"""The held-out MLM loss the parent computes to see whether ``pretrain()`` really trained.

The student's ``pretrain`` runs in the sandbox on the tiny offline BERT (saved with its MLM head,
see ``hfcache``) and sends back the weights it ended with. The parent loads them over the
checkpoint's own, masks held-out texts the sandbox never saw with its own seeded generator
(15 % of each text's real tokens, all [MASK]), and compares the masked-token cross-entropy
with that of the checkpoint itself. Nothing here runs student or reference code.
"""

from __future__ import annotations

from typing import Any

import torch

from grader.timing import trusted_compute

MASK_P = 0.15  # share of each text's real tokens the loss is scored on
WEIGHT_PREFIXES = ("bert.", "cls.predictions.")  # what BertForMaskedLM's state_dict holds


def parent_masking(ids: torch.Tensor, tok: Any, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(masked_ids, labels)`` for scoring: in every row, ``round(0.15 * real tokens)`` (at
    least one) real tokens drawn by the parent's own generator become [MASK] and are the only
    labels. (An evaluation mask, all [MASK]: not the 80/10/10 training recipe students write.)"""
    gen = torch.Generator().manual_seed(seed)
    special = (ids == tok.cls_token_id) | (ids == tok.sep_token_id) | (ids == tok.pad_token_id)
    real = ~special
    draw = torch.rand(ids.shape, generator=gen).masked_fill(special, 2.0)  # specials rank last
    rank = draw.argsort(dim=1).argsort(dim=1)
    quota = (real.sum(dim=1).double() * MASK_P).round().clamp(min=1).long()
    chosen = (rank < quota[:, None]) & real
    return ids.masked_fill(chosen, tok.mask_token_id), ids.masked_fill(~chosen, -100)


def weight_problem(state: dict[str, torch.Tensor], reference: dict[str, torch.Tensor]) -> str:
    """Why ``state`` cannot be loaded over the checkpoint's MLM model ("" when it can)."""
    known = [k for k in state if k in reference]
    if not known:
        return ("none of its tensors is named like a BertForMaskedLM parameter "
                "(bert.embeddings..., bert.encoder..., cls.predictions...)")
    for key in known:
        if tuple(state[key].shape) != tuple(reference[key].shape):
            return (f"{key} has shape {list(state[key].shape)}, the checkpoint's "
                    f"{list(reference[key].shape)}")
        if not torch.is_floating_point(state[key]) or not bool(torch.isfinite(state[key]).all()):
            return f"{key} holds non-finite or non-float values"
    return ""


def mlm_model(snapshot: str) -> torch.nn.Module:
    """The checkpoint's ``BertForMaskedLM`` (encoder and MLM head), in eval mode."""
    from transformers import BertForMaskedLM
    from transformers.utils import logging

    logging.set_verbosity_error()  # the pooler and NSP head of the checkpoint are unused here
    logging.disable_progress_bar()  # no "Loading weights" bar on the instructor's terminal
    return BertForMaskedLM.from_pretrained(snapshot).eval()


@torch.no_grad()
def heldout_loss(model: torch.nn.Module, ids: torch.Tensor, tok: Any, seed: int) -> float:
    """Mean cross-entropy over the masked positions of ``ids`` (masked by the parent)."""
    masked, labels = parent_masking(ids, tok, seed)
    attention = (ids != tok.pad_token_id).long()
    out = model(input_ids=masked, token_type_ids=torch.zeros_like(ids),
                attention_mask=attention, labels=labels)
    return float(out.loss)


@trusted_compute
def loss_before_after(snapshot: str, state: dict[str, torch.Tensor], ids: torch.Tensor,
                      tok: Any, seed: int) -> tuple[float, float, int]:
    """(loss of the checkpoint, loss with the student's weights loaded over it, tensors taken).

    Raises ``ValueError`` with the reason when the weights do not fit the checkpoint."""
    model = mlm_model(snapshot)
    before = heldout_loss(model, ids, tok, seed)
    own = model.state_dict()
    problem = weight_problem(state, own)
    if problem:
        raise ValueError(problem)
    taken = {k: v.to(own[k].dtype) for k, v in state.items() if k in own}
    model.load_state_dict(taken, strict=False)  # in place: the tied decoder follows
    return before, heldout_loss(model, ids, tok, seed), len(taken)
