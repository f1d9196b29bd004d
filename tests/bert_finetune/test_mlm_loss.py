"""The parent's held-out MLM loss (``pretrain.mlm_loss``): its own masking follows BERT's recipe,
the checkpoint's own weights give no drop, a few real MLM steps give one, and weights that do not
fit the checkpoint are refused with the reason. Real tiny checkpoint, real transformers."""

from __future__ import annotations

import pytest
import torch

from grader.assignments.bert_finetune import data as D
from grader.assignments.bert_finetune import expected as E
from grader.assignments.bert_finetune import hfcache
from grader.assignments.bert_finetune import mlm as M
from tests.bert_finetune.helpers import tiny_cache


@pytest.fixture(scope="module")
def snap() -> str:
    return str(hfcache.snapshot_dir(tiny_cache()))


@pytest.fixture(scope="module")
def tok(snap: str):
    return E.tokenizer(snap)


@pytest.fixture(scope="module")
def ids(tok) -> torch.Tensor:
    parts = D.load_parts("")
    sample = D.interface_sample(parts)
    held = D.heldout_texts(parts, sample)
    assert len(held) == 32 and not set(held) & set(sample.train_texts + sample.unlabeled_texts)
    return E.masking_ids(tok, held, 128)


def test_parent_masking_scores_15_percent_of_each_text(ids: torch.Tensor, tok) -> None:
    masked, labels = M.parent_masking(ids, tok, seed=3)
    special = (ids == tok.cls_token_id) | (ids == tok.sep_token_id) | (ids == tok.pad_token_id)
    selected = labels != -100
    assert not (selected & special).any()
    assert torch.equal(labels[selected], ids[selected])
    assert torch.equal(masked[~selected], ids[~selected])
    assert bool((masked[selected] == tok.mask_token_id).all())
    for row in range(ids.shape[0]):
        real = int((~special[row]).sum())
        assert int(selected[row].sum()) == max(1, round(0.15 * real))
    other = M.parent_masking(ids, tok, seed=4)[1] != -100
    assert not torch.equal(other, selected)
    again = M.parent_masking(ids, tok, seed=3)
    assert torch.equal(again[0], masked) and torch.equal(again[1], labels)  # seeded


def test_the_checkpoint_itself_drops_nothing_and_training_does(snap: str, ids, tok) -> None:
    model = M.mlm_model(snap)
    own = {k: v.clone() for k, v in model.state_dict().items()}
    before, after, taken = M.loss_before_after(snap, own, ids, tok, seed=5)
    assert before == after and taken == len(own)
    assert 9.0 < before < 11.0  # about ln(30522): the tiny BERT is random
    # a few MLM steps of the parent's own on other texts (never the held-out ones)
    parts = D.load_parts("")
    train = E.masking_ids(tok, list(parts["train"].texts[:16]), 64)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    for step in range(4):
        masked, labels = M.parent_masking(train, tok, seed=100 + step)
        loss = model(input_ids=masked, attention_mask=(train != 0).long(), labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    trained = {k: v.detach().clone() for k, v in model.state_dict().items()}
    b2, a2, _ = M.loss_before_after(snap, trained, ids, tok, seed=5)
    assert b2 == before and a2 < before - 0.01


@pytest.mark.parametrize(("change", "says"), [
    ("rename", "none of its tensors"),
    ("shape", "has shape"),
    ("nan", "non-finite"),
])
def test_weights_that_do_not_fit_are_refused(snap: str, ids, tok, change: str, says: str) -> None:
    own = {k: v.clone() for k, v in M.mlm_model(snap).state_dict().items()}
    key = "bert.embeddings.word_embeddings.weight"
    if change == "rename":
        own = {f"model.{k}": v for k, v in own.items()}
    elif change == "shape":
        own[key] = own[key][:, :8]
    else:
        own[key][0, 0] = float("nan")
    with pytest.raises(ValueError, match=says):
        M.loss_before_after(snap, own, ids, tok, seed=5)
