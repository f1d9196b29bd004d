"""The opt-in quality tier (``grade --tier quality``; on a cluster it asks for GPU=1 workers).

The student's own ``train`` runs on the first ``quality_train`` training reviews with the real
offline checkpoint (the MiniLM stand-in), then ``classify`` labels the ``test`` and ``test-b``
texts, sent without their labels; the parent scores them. The bar is the rubric's
``quality_min_accuracy``; the message also gives a frozen-feature baseline the parent computes
itself (mean-pooled checkpoint features + logistic regression on the same training reviews).
Seed noise is large (the reference's test accuracy is 0.694-0.796 over seeds 0/1/2 at 2 epochs on
320 filimdb-mini reviews, the baseline's 0.710: ``bench/calibrate_quality.py``), so one run
decides only pass/fail against a bar well under it (0.6), never a ranking.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import torch

from grader.assignments.bert_finetune.checks import registry
from grader.checks import Verdict
from grader.sandbox import Limits

if TYPE_CHECKING:
    from grader.assignments.bert_finetune.prepared import Prepared
    from grader.context import GradingContext

EVAL_PARTS = ("test", "test-b")


def quality_data(prep: Prepared, n_train: int, n_eval: int) -> dict[str, Any]:
    """Training texts/labels and, per scored part, texts (sent) and labels (kept here)."""
    parts = prep.parts
    train = parts["train"]
    assert train.labels is not None
    out: dict[str, Any] = {"train_texts": list(train.texts[:n_train]),
                           "train_labels": list(train.labels[:n_train]), "eval": {}}
    for name in EVAL_PARTS:
        part = parts.get(name)
        if part is not None and part.labels is not None:
            out["eval"][name] = (list(part.texts[:n_eval]), list(part.labels[:n_eval]))
    return out


@torch.no_grad()
def _features(snapshot: str, texts: list[str], seq_len: int = 128) -> torch.Tensor:
    from transformers import AutoTokenizer, BertModel
    from transformers.utils import logging

    logging.disable_progress_bar()  # no "Loading weights" bar on the instructor's terminal
    tok = AutoTokenizer.from_pretrained(snapshot)
    model = BertModel.from_pretrained(snapshot).eval()
    rows = []
    for start in range(0, len(texts), 32):
        enc = tok(texts[start:start + 32], truncation=True, max_length=seq_len,
                  padding=True, return_tensors="pt")
        hidden = model(**enc).last_hidden_state
        mask = enc["attention_mask"].unsqueeze(-1).float()
        rows.append((hidden * mask).sum(1) / mask.sum(1))
    return torch.cat(rows)


def frozen_baseline(snapshot: str, data: dict[str, Any]) -> dict[str, float]:
    """Accuracy per part of a logistic regression on frozen mean-pooled features (parent)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    x = _features(snapshot, data["train_texts"])
    y = torch.tensor([1.0 if lab == "pos" else 0.0 for lab in data["train_labels"]])
    mean, std = x.mean(0), x.std(0) + 1e-6
    x = (x - mean) / std
    w = torch.zeros(x.shape[1], requires_grad=True)
    b = torch.zeros(1, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=200, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(x @ w + b, y)
        loss = loss + 1e-2 * (w * w).sum() / len(y)
        loss.backward()
        return loss

    opt.step(closure)
    out = {}
    for name, (texts, labels) in data["eval"].items():
        pred = ((_features(snapshot, texts) - mean) / std) @ w.detach() + b.detach() > 0
        out[name] = float(sum(bool(p) == (lab == "pos") for p, lab in zip(pred, labels))
                          / len(labels))
    return out


@registry.check("quality.accuracy", "Quality: test accuracy of your train + classify",
                tier="quality")
def quality_accuracy(ctx: GradingContext) -> Verdict:
    """Accuracy on ``test`` (scored against ``quality_min_accuracy``) and ``test-b`` (reported)
    of the student's ``train`` on the real checkpoint, from labels the sandbox never sees."""
    prep: Prepared = ctx.prepared
    data = quality_data(prep, int(ctx.setting("quality_train", 320)),
                        int(ctx.setting("quality_eval", 500)))
    if "test" not in data["eval"]:
        return Verdict.skipped("The data folder has no labelled test part.")
    names = list(data["eval"])
    texts = [t for n in names for t in data["eval"][n][0]]
    params = {"train_texts": data["train_texts"], "train_labels": data["train_labels"],
              "eval_texts": texts, "pretrain": False, "unlabeled_texts": []}
    cpu = float(ctx.setting("quality_cpu_s", 900.0))
    outcome = ctx.probe("interface", params, session="quality",
                        limits=Limits(cpu_s=cpu, memory_mb=8192))
    out = ctx.require(outcome, f"running train on {len(data['train_texts'])} reviews and "
                               f"classify on {len(texts)} with the real checkpoint")
    labels = out.data.get("labels") or []
    if out.data.get("n_labels") != len(texts) or any(v not in ("pos", "neg") for v in labels):
        return Verdict.failed(f"classify returned {out.data.get('n_labels')} labels for "
                              f"{len(texts)} texts, or labels other than 'pos'/'neg'.")
    acc, start = {}, 0
    for name in names:
        want = data["eval"][name][1]
        got = labels[start:start + len(want)]
        acc[name] = sum(a == b for a, b in zip(got, want)) / len(want)
        start += len(want)
    key = ("quality.baseline", prep.data_dir, len(data["train_texts"]))
    if key not in ctx.shared.values:
        ctx.shared.values[key] = frozen_baseline(str(prep.real_snapshot()), data)
    base = ctx.shared.values[key]
    bar = float(ctx.setting("quality_min_accuracy", 0.6))
    facts = "; ".join(f"{n}: {acc[n]:.3f} (frozen-feature baseline {base.get(n, float('nan')):.3f})"
                      for n in names)
    msg = (f"Accuracy {facts}; train took {out.data.get('train_cpu_s')} CPU s. The bar on test "
           f"is {bar:.2f}.")
    if acc["test"] >= bar:
        return Verdict.passed(msg, accuracy=acc, baseline=base)
    return Verdict.failed(msg + " Look at the learning curves: a run that stays at one class "
                          "(0.5) did not learn (too few optimizer steps, a too small or too "
                          "large lr, no warm-up).", score=0.0, accuracy=acc, baseline=base)
