"""The held-out MLM loss the parent computes to see whether ``pretrain()`` really trained.

The student's ``pretrain`` runs in the sandbox on the tiny offline BERT (saved with its MLM head,
see ``hfcache``) and sends back the weights it ended with. The parent loads them over the
checkpoint's own, masks held-out texts the sandbox never saw with its own seeded generator
(BERT's 15 % with 80/10/10), and compares the masked-token cross-entropy with that of the
checkpoint itself. Nothing here runs student or reference code.
"""

from __future__ import annotations

from typing import Any

import torch

from grader.timing import trusted_compute

MASK_P, MASK_TOKEN_P, RANDOM_P = 0.15, 0.8, 0.1
WEIGHT_PREFIXES = ("bert.", "cls.predictions.")  # what BertForMaskedLM's state_dict holds


def parent_masking(ids: torch.Tensor, tok: Any, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(masked_ids, labels)`` by BERT's recipe, from the parent's own generator."""
    gen = torch.Generator().manual_seed(seed)
    special = (ids == tok.cls_token_id) | (ids == tok.sep_token_id) | (ids == tok.pad_token_id)
    selected = (torch.rand(ids.shape, generator=gen) < MASK_P) & ~special
    corrupt = torch.rand(ids.shape, generator=gen)
    random_ids = torch.randint(len(tok), ids.shape, generator=gen)
    masked = ids.clone()
    masked[selected & (corrupt < MASK_TOKEN_P)] = tok.mask_token_id
    to_random = selected & (corrupt >= MASK_TOKEN_P) & (corrupt < MASK_TOKEN_P + RANDOM_P)
    masked[to_random] = random_ids[to_random]
    return masked, torch.where(selected, ids, torch.full_like(ids, -100))


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
