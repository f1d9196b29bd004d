"""BERT fine-tuning for movie-review sentiment (FILIMDB): ``classifier.py``.

The course's ``evaluate.py`` (and the grader) call, in one process:

    params = pretrain([train_texts, unlabeled_texts])        # optional; a flat list works too
    params = train(train_texts, train_labels, pretrain_params=params)
    labels = classify(texts, params)                        # one "pos" / "neg" per text

Written against transformers 5.x. The model is loaded by name (``bert-base-uncased``): on the
grading machines that name resolves, offline, to a local checkpoint with BERT's architecture and
vocabulary. Never hard-code the hidden size: use ``model.config.hidden_size``.

The pieces the grader calls one by one are ``vectorize_ex``, ``head_tail``, ``make_optimizer``,
``make_scheduler``, ``train_epoch`` and ``mask_tokens``; keep their names and signatures.
"""

from __future__ import annotations

import math
import os
import random
from functools import lru_cache

import torch
from transformers import AutoTokenizer, BertForMaskedLM, BertForSequenceClassification

MODEL_NAME = "bert-base-uncased"
LABELS = ("neg", "pos")  # label id 0 = neg, 1 = pos

# Everything train() / pretrain() use; change values here, not inside the functions.
HPARAMS = {
    "seq_len": 128,          # tokens per example, [CLS] and [SEP] included
    "batch_size": 8,         # examples per micro-batch (what fits in memory)
    "accum_steps": 2,        # micro-batches per optimizer step: effective batch 16
    "lr": 1e-4,
    "epochs": 2,
    "warmup": 0.1,           # fraction of the optimizer steps spent warming up
    "optimizer": "adamw",    # "adam" (L2 penalty in the gradient) or "adamw" (decoupled)
    "weight_decay": 0.01,    # never on biases and LayerNorm weights
    "clip": 1.0,             # max global gradient norm; None: no clipping
    "head_words": None,      # keep the first k words of every review (None: all) ...
    "tail_words": None,      # ... and/or the last k words (research part)
    "dev_fraction": 0.1,     # held out of the training texts for the learning curves
    "curves_path": None,     # e.g. "curves.png": save the two learning-curve plots there
    "seed": 0,
    # further MLM pretraining (pretrain())
    "pretrain_steps": 40,
    "pretrain_seq_len": 128,
    "pretrain_batch_size": 16,
    "pretrain_lr": 1e-4,
    "pretrain_max_texts": 640,
}
# precheck and the grader's interface tier run your code on a tiny random BERT and set
# NLPGRADE_QUICK=1: these values then replace HPARAMS' so that those runs take seconds.
QUICK = {"epochs": 2, "pretrain_steps": 8, "pretrain_batch_size": 8, "pretrain_seq_len": 64}
if os.environ.get("NLPGRADE_QUICK") == "1":
    HPARAMS.update(QUICK)


@lru_cache(maxsize=1)
def get_tokenizer():
    """The uncased WordPiece tokenizer of ``MODEL_NAME`` (loaded once)."""
    return AutoTokenizer.from_pretrained(MODEL_NAME)


def vectorize_ex(text, label, seq_len):
    """Return ``(input_ids, segment_ids, input_mask, label_id)`` for one review.

    ``input_ids``: ``[CLS]`` + the WordPiece ids of ``text`` (cut so that the whole sequence
    fits) + ``[SEP]``, padded with ``[PAD]`` (id 0) to exactly ``seq_len``; ``segment_ids``: all
    0; ``input_mask``: 1 on real tokens ([CLS] and [SEP] included), 0 on padding; ``label_id``:
    ``neg`` -> 0, ``pos`` -> 1, ``None`` -> -1 (unlabelled). Three lists of ``seq_len`` ints and
    an int.
    """
    tokenizer = get_tokenizer()
    tokens = tokenizer.tokenize(text)[: max(seq_len - 2, 0)]
    tokens = [tokenizer.cls_token, *tokens, tokenizer.sep_token]
    input_ids = tokenizer.convert_tokens_to_ids(tokens)
    input_mask = [1] * len(input_ids)
    padding = seq_len - len(input_ids)
    input_ids = input_ids + [tokenizer.pad_token_id] * padding
    input_mask = input_mask + [0] * padding
    segment_ids = [0] * seq_len
    label_id = -1 if label is None else LABELS.index(label)
    return input_ids, segment_ids, input_mask, label_id


def head_tail(text, head, tail):
    """Keep the first ``head`` and the last ``tail`` whitespace-separated words of ``text``.

    A review of at most ``head + tail`` words is kept whole. Returns the kept words joined by
    single spaces (``head`` or ``tail`` may be 0).
    """
    words = text.split()
    if len(words) <= head + tail:
        return " ".join(words)
    return " ".join(words[:head] + words[len(words) - tail:])


def prepare_text(text):
    """``text`` after the head/tail truncation of ``HPARAMS`` (unchanged when both are None)."""
    head, tail = HPARAMS["head_words"], HPARAMS["tail_words"]
    if head is None and tail is None:
        return text
    return head_tail(text, head or 0, tail or 0)


def make_batches(texts, labels, seq_len, batch_size, shuffle=False, seed=0):
    """Micro-batches ``(input_ids, segment_ids, input_mask, label_ids)`` of LongTensors."""
    rows = [vectorize_ex(prepare_text(t), None if labels is None else labels[i], seq_len)
            for i, t in enumerate(texts)]
    order = list(range(len(rows)))
    if shuffle:
        random.Random(seed).shuffle(order)
    batches = []
    for start in range(0, len(order), batch_size):
        chunk = [rows[i] for i in order[start:start + batch_size]]
        batches.append(tuple(torch.tensor([row[k] for row in chunk]) for k in range(4)))
    return batches


def make_optimizer(model, name, lr, weight_decay):
    """``torch.optim.Adam`` (``name == "adam"``) or ``AdamW`` (``"adamw"``) over ``model``.

    Two parameter groups: weight decay ``weight_decay`` on every weight except biases and
    LayerNorm weights, which get none. Adam adds the penalty to the gradient (L2); AdamW decays
    the weights directly (decoupled). Everything else (betas, eps) stays at torch's defaults.
    """
    decay, no_decay = [], []
    for pname, param in model.named_parameters():
        if not param.requires_grad:
            continue
        (no_decay if "bias" in pname or "LayerNorm" in pname else decay).append(param)
    groups = [{"params": decay, "weight_decay": weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    if name == "adam":
        return torch.optim.Adam(groups, lr=lr)
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=lr)
    raise ValueError(f"unknown optimizer {name!r}: use 'adam' or 'adamw'")


def make_scheduler(optimizer, warmup_steps, total_steps):
    """A ``LambdaLR``: the lr rises linearly from 0 to its peak over ``warmup_steps`` optimizer
    steps, then falls linearly to 0 at ``total_steps``. Call ``scheduler.step()`` once per
    optimizer step."""
    def factor(step):
        if step < warmup_steps:
            return step / max(1, warmup_steps)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def train_epoch(model, batches, optimizer, scheduler, accum_steps=1, clip=None):
    """One pass over ``batches`` (micro-batches from ``make_batches``); returns mean loss and
    accuracy over the examples.

    The gradients of ``accum_steps`` micro-batches are accumulated into one optimizer step, so
    that the step uses the gradient of the mean loss over all of their examples (micro-batches
    of equal size). Before each step the global gradient norm is clipped to ``clip`` (unless
    None); after it the scheduler steps once and the gradients are reset. Leftover micro-batches
    at the end make one last, smaller step.
    """
    model.train()
    total_loss, correct, seen = 0.0, 0, 0
    optimizer.zero_grad()
    pending = 0
    for i, (input_ids, segment_ids, input_mask, label_ids) in enumerate(batches, 1):
        out = model(input_ids=input_ids, token_type_ids=segment_ids,
                    attention_mask=input_mask, labels=label_ids)
        (out.loss / accum_steps).backward()
        pending += 1
        total_loss += out.loss.item() * len(label_ids)
        correct += (out.logits.argmax(-1) == label_ids).sum().item()
        seen += len(label_ids)
        if i % accum_steps == 0:
            optimizer_step(model, optimizer, scheduler, clip)
            pending = 0
    if pending:
        optimizer_step(model, optimizer, scheduler, clip)
    return {"loss": total_loss / max(seen, 1), "acc": correct / max(seen, 1)}


def optimizer_step(model, optimizer, scheduler, clip):
    """Clip the global gradient norm to ``clip`` (unless None), step the optimizer and then the
    scheduler, and reset the gradients."""
    if clip is not None:
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad()


@torch.no_grad()
def evaluate(model, batches):
    """Mean loss and accuracy of ``model`` (in eval mode) on labelled ``batches``."""
    model.eval()
    total_loss, correct, seen = 0.0, 0, 0
    for input_ids, segment_ids, input_mask, label_ids in batches:
        out = model(input_ids=input_ids, token_type_ids=segment_ids,
                    attention_mask=input_mask, labels=label_ids)
        total_loss += out.loss.item() * len(label_ids)
        correct += (out.logits.argmax(-1) == label_ids).sum().item()
        seen += len(label_ids)
    return {"loss": total_loss / max(seen, 1), "acc": correct / max(seen, 1)}


def plot_curves(history, path):
    """Two plots side by side: train and dev loss per epoch; train and dev accuracy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = range(1, len(history["train_loss"]) + 1)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(epochs, history["train_loss"], "o-", label="train")
    left.plot(epochs, history["dev_loss"], "o-", label="dev")
    left.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
    right.plot(epochs, history["train_acc"], "o-", label="train")
    right.plot(epochs, history["dev_acc"], "o-", label="dev")
    right.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    for ax in (left, right):
        ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def load_classifier(pretrain_params=None):
    """``BertForSequenceClassification`` (2 labels) from ``MODEL_NAME``, with the encoder of
    ``pretrain()`` when given."""
    model = BertForSequenceClassification.from_pretrained(MODEL_NAME, num_labels=len(LABELS))
    if pretrain_params is not None:
        encoder = {k.removeprefix("bert."): v for k, v in pretrain_params["mlm_state"].items()
                   if k.startswith("bert.")}
        model.bert.load_state_dict(encoder, strict=False)  # the MLM model has no pooler
    return model


def train(texts, labels, pretrain_params=None):
    """Fine-tune on ``texts``/``labels`` (``pos``/``neg``); return the params ``classify`` needs.

    ``params["history"]`` holds the learning curves: ``train_loss``, ``dev_loss``, ``train_acc``,
    ``dev_acc``, one value per epoch (dev = ``dev_fraction`` of the texts, held out).
    """
    hp = dict(HPARAMS)
    torch.manual_seed(hp["seed"])
    order = list(range(len(texts)))
    random.Random(hp["seed"]).shuffle(order)
    n_dev = int(len(texts) * hp["dev_fraction"]) if len(texts) >= 10 else 0
    dev_idx, train_idx = order[:n_dev], order[n_dev:]
    train_texts = [texts[i] for i in train_idx]
    train_labels = [labels[i] for i in train_idx]
    dev_batches = make_batches([texts[i] for i in dev_idx], [labels[i] for i in dev_idx],
                               hp["seq_len"], hp["batch_size"])

    model = load_classifier(pretrain_params)
    micro = math.ceil(len(train_texts) / hp["batch_size"])
    total_steps = math.ceil(micro / hp["accum_steps"]) * hp["epochs"]
    optimizer = make_optimizer(model, hp["optimizer"], hp["lr"], hp["weight_decay"])
    scheduler = make_scheduler(optimizer, int(hp["warmup"] * total_steps), total_steps)
    history = {"train_loss": [], "dev_loss": [], "train_acc": [], "dev_acc": []}
    for epoch in range(hp["epochs"]):
        batches = make_batches(train_texts, train_labels, hp["seq_len"], hp["batch_size"],
                               shuffle=True, seed=hp["seed"] + epoch)
        fit = train_epoch(model, batches, optimizer, scheduler, hp["accum_steps"], hp["clip"])
        dev = evaluate(model, dev_batches) if dev_batches else {"loss": math.nan, "acc": math.nan}
        history["train_loss"].append(fit["loss"])
        history["train_acc"].append(fit["acc"])
        history["dev_loss"].append(dev["loss"])
        history["dev_acc"].append(dev["acc"])
    if hp["curves_path"]:
        plot_curves(history, hp["curves_path"])
    return {"model": model, "history": history, "hparams": hp}


@torch.no_grad()
def classify(texts, params):
    """One label (``pos`` or ``neg``) per text, from the model ``train`` returned."""
    model = params["model"]
    model.eval()
    hp = params["hparams"]
    out = []
    for input_ids, segment_ids, input_mask, _ in make_batches(texts, None, hp["seq_len"],
                                                             hp["batch_size"] * 4):
        logits = model(input_ids=input_ids, token_type_ids=segment_ids,
                       attention_mask=input_mask).logits
        out.extend(LABELS[i] for i in logits.argmax(-1).tolist())
    return out


def mask_tokens(input_ids, generator):
    """BERT's masking for MLM: returns ``(masked_ids, mlm_labels)``, both like ``input_ids``.

    Each real token ([CLS], [SEP] and [PAD] never) is selected with probability 0.15; a
    selected token becomes [MASK] with probability 0.8, a random vocabulary id with 0.1, and
    stays itself with 0.1. ``mlm_labels`` is the original id at selected positions, -100
    elsewhere. All randomness comes from ``generator`` (a ``torch.Generator``).
    """
    tokenizer = get_tokenizer()
    special = torch.zeros_like(input_ids, dtype=torch.bool)
    for sid in (tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id):
        special |= input_ids == sid
    selected = (torch.rand(input_ids.shape, generator=generator) < 0.15) & ~special
    corrupt = torch.rand(input_ids.shape, generator=generator)
    random_ids = torch.randint(len(tokenizer), input_ids.shape, generator=generator)
    masked = input_ids.clone()
    masked[selected & (corrupt < 0.8)] = tokenizer.mask_token_id
    to_random = selected & (corrupt >= 0.8) & (corrupt < 0.9)
    masked[to_random] = random_ids[to_random]
    labels = torch.where(selected, input_ids, torch.full_like(input_ids, -100))
    return masked, labels


def pretrain(texts):
    """Further MLM pretraining of ``MODEL_NAME`` on the task's texts (no labels).

    ``texts`` is a list of lists of texts (``[train_texts, unlabeled_texts]``) or a flat list.
    Returns ``{"mlm_state": state_dict of the BertForMaskedLM, "mlm_loss": per-step losses}``;
    ``train(..., pretrain_params=...)`` starts from its encoder.
    """
    hp = HPARAMS
    if texts and isinstance(texts[0], (list, tuple)):
        texts = [t for part in texts for t in part]
    texts = list(texts)[: hp["pretrain_max_texts"]]
    torch.manual_seed(hp["seed"])
    generator = torch.Generator().manual_seed(hp["seed"])
    model = BertForMaskedLM.from_pretrained(MODEL_NAME)
    model.train()
    batches = make_batches(texts, None, hp["pretrain_seq_len"], hp["pretrain_batch_size"],
                           shuffle=True, seed=hp["seed"])
    optimizer = make_optimizer(model, "adamw", hp["pretrain_lr"], hp["weight_decay"])
    steps = hp["pretrain_steps"]
    scheduler = make_scheduler(optimizer, int(hp["warmup"] * steps), steps)
    losses = []
    for step in range(steps):
        input_ids, segment_ids, input_mask, _ = batches[step % len(batches)]
        masked, mlm_labels = mask_tokens(input_ids, generator)
        out = model(input_ids=masked, token_type_ids=segment_ids, attention_mask=input_mask,
                    labels=mlm_labels)
        out.loss.backward()
        optimizer.zero_grad()
        losses.append(out.loss.item())
    return {"mlm_state": model.state_dict(), "mlm_loss": losses}
