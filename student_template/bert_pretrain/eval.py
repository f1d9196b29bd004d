"""Evaluate a trained mini BERT: NSP accuracy and masked-token (MLM) accuracy.

Usage: python eval.py MODEL_FILE [BATCHES_FILE]

BATCHES_FILE is ``eval_batches.safetensors`` (from the grading kit) or a ``batches.pkl``;
by default the first of the two that exists in the current folder.
"""

import os
import pickle
import sys

import torch
import torch.nn as nn
from config import *
from model import BERT

FIELDS = ["input_ids", "segment_ids", "masked_tokens", "masked_pos", "is_next"]


def load_batches(path):
    """A list of (input_ids, segment_ids, masked_tokens, masked_pos, isNext) LongTensor tuples."""
    if path.endswith(".safetensors"):
        from safetensors.torch import load_file

        tensors = load_file(path)
        n = len({name.split(".")[0] for name in tensors})
        return [tuple(tensors[f"b{i:03d}.{field}"].long() for field in FIELDS) for i in range(n)]
    with open(path, "rb") as f:
        return [tuple(map(torch.LongTensor, zip(*batch))) for batch in pickle.load(f)]


def evaluate(model, batches):
    """Returns (mean loss, NSP accuracy, MLM accuracy over the real masked tokens)."""
    criterion = nn.CrossEntropyLoss()
    model.eval()
    total_loss, nsp_correct, nsp_total, mlm_correct, mlm_total = 0.0, 0, 0, 0, 0
    with torch.no_grad():
        for input_ids, segment_ids, masked_tokens, masked_pos, isNext in batches:
            logits_lm, logits_clsf = model(input_ids, segment_ids, masked_pos)
            loss_lm = criterion(logits_lm.transpose(1, 2), masked_tokens)
            total_loss += (loss_lm + criterion(logits_clsf, isNext)).item()
            nsp_correct += (logits_clsf.argmax(-1) == isNext).sum().item()
            nsp_total += isNext.numel()
            real = masked_tokens != 0  # zero-padded slots are not masked tokens
            mlm_correct += ((logits_lm.argmax(-1) == masked_tokens) & real).sum().item()
            mlm_total += real.sum().item()
    return total_loss / len(batches), nsp_correct / nsp_total, mlm_correct / max(mlm_total, 1)


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: python eval.py MODEL_FILE [BATCHES_FILE]")
    model_file = sys.argv[1]
    if len(sys.argv) > 2:
        batches_file = sys.argv[2]
    else:
        found = [p for p in ["eval_batches.safetensors", "batches.pkl"] if os.path.exists(p)]
        if not found:
            sys.exit("no eval_batches.safetensors or batches.pkl in this folder")
        batches_file = found[0]
    model = BERT()
    model.load_state_dict(torch.load(model_file, map_location="cpu", weights_only=True))
    loss, nsp_acc, mlm_acc = evaluate(model, load_batches(batches_file))
    print(f"{batches_file}: loss {loss:.4f}, NSP accuracy {nsp_acc:.4f}, "
          f"MLM accuracy {mlm_acc:.4f}")


if __name__ == "__main__":
    main()
