"""Regenerate the ``bert_finetune`` zoo from the reference ``classifier.py``.

Every mutant is the reference with its solution markers removed and one realistic mistake (or
one hostile act) put in; each edit is a text replacement that must match exactly once. Run
``python tests/zoo/bert_finetune/make_zoo.py`` after changing the reference (``--check`` only
compares), then regrade and update ``expected.toml``, the one place of expected outcomes.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
ZOO = Path(__file__).resolve().parent
MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION", "#|", "#=")

LABELS_HUNT = '''def classify(texts, params):
    """Hostile: hunts for label files anywhere it can read and answers with what it finds."""
    import glob
    found = []
    patterns = ["/*" * depth + "/*.labels" for depth in range(5)]
    patterns += ["../*.labels", "../../*.labels", "FILIMDB/*.labels", "/tmp/**/*.labels"]
    for pattern in patterns:
        try:
            found += glob.glob(pattern, recursive=True)[:5]
        except OSError:
            pass
    if found:  # a labels file was visible: return something invalid so the tests see it
        return ["FOUND " + found[0]] * len(texts)
    return honest_classify(texts, params)


@torch.no_grad()
def honest_classify(texts, params):'''

MUTANTS: dict[str, list[tuple[str, str]]] = {
    "no_cls_sep": [(
        "    tokens = [tokenizer.cls_token, *tokens, tokenizer.sep_token]\n",
        "    tokens = list(tokens)\n",
    )],
    "pad_id_wrong": [(
        "    input_ids = input_ids + [tokenizer.pad_token_id] * padding\n",
        "    input_ids = input_ids + [tokenizer.unk_token_id] * padding\n",
    )],
    "mask_inverted": [(
        "    input_mask = [1] * len(input_ids)\n",
        "    input_mask = [0] * len(input_ids)\n",
    ), (
        "    input_mask = input_mask + [0] * padding\n",
        "    input_mask = input_mask + [1] * padding\n",
    )],
    "no_truncation": [(
        "    tokens = tokenizer.tokenize(text)[: max(seq_len - 2, 0)]\n",
        "    tokens = tokenizer.tokenize(text)\n",
    )],
    "labels_swapped": [(
        'LABELS = ("neg", "pos")  # label id 0 = neg, 1 = pos\n',
        'LABELS = ("pos", "neg")\n',
    )],
    "no_warmup": [(
        "        if step < warmup_steps:\n            return step / max(1, warmup_steps)\n",
        "",
    )],
    "decay_wrong_end": [(
        "        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))\n",
        "        return min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))\n",
    )],
    "accum_not_divided": [(
        "        (out.loss / accum_steps).backward()\n",
        "        out.loss.backward()\n",
    )],
    "zero_grad_every_micro_batch": [(
        "        out = model(input_ids=input_ids, token_type_ids=segment_ids,\n"
        "                    attention_mask=input_mask, labels=label_ids)\n"
        "        (out.loss",
        "        optimizer.zero_grad()\n"
        "        out = model(input_ids=input_ids, token_type_ids=segment_ids,\n"
        "                    attention_mask=input_mask, labels=label_ids)\n"
        "        (out.loss",
    )],
    "scheduler_per_micro_batch": [(
        "        (out.loss / accum_steps).backward()\n",
        "        (out.loss / accum_steps).backward()\n        scheduler.step()\n",
    )],
    "decay_on_layernorm_and_bias": [(
        '        (no_decay if "bias" in pname or "LayerNorm" in pname else decay).append(param)\n',
        "        decay.append(param)\n",
    )],
    "adam_is_adamw": [(
        "        return torch.optim.Adam(groups, lr=lr)\n",
        "        return torch.optim.AdamW(groups, lr=lr)\n",
    )],
    "no_clipping": [(
        "    if clip is not None:\n        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)\n",
        "",
    )],
    "clip_per_tensor": [(
        "        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)\n",
        "        for param in model.parameters():\n"
        "            torch.nn.utils.clip_grad_norm_([param], clip)\n",
    )],
    "eval_in_train_mode": [(
        '    model = params["model"]\n    model.eval()\n',
        '    model = params["model"]\n    model.train()\n',
    )],
    "masks_special_tokens": [(
        "    selected = (torch.rand(input_ids.shape, generator=generator) < 0.15) & ~special\n",
        "    selected = torch.rand(input_ids.shape, generator=generator) < 0.15\n",
    )],
    "pretrain_never_steps": [(
        '        out.loss.backward()\n        optimizer_step(model, optimizer, scheduler, hp["clip"])\n',
        "        out.loss.backward()\n        optimizer.zero_grad()\n",
    )],
    "head_768": [(
        "    if pretrain_params is not None:\n        encoder",
        "    model.classifier = torch.nn.Linear(768, len(LABELS))\n"
        "    if pretrain_params is not None:\n        encoder",
    )],
    "hostile_reads_labels": [(
        '@torch.no_grad()\ndef classify(texts, params):\n    """One label (``pos`` or ``neg``) '
        'per text, from the model ``train`` returned."""\n',
        LABELS_HUNT + '\n    """One label per text."""\n',
    )],
    "hostile_download": [(
        "    model = BertForSequenceClassification.from_pretrained(MODEL_NAME, "
        "num_labels=len(LABELS))\n",
        "    import urllib.request\n"
        "    urllib.request.urlopen('https://huggingface.co/bert-large-uncased', timeout=5)\n"
        "    model = BertForSequenceClassification.from_pretrained('bert-large-uncased', "
        "num_labels=len(LABELS))\n",
    )],
    "hostile_floods_output": [(
        '    model = params["model"]\n    model.eval()\n',
        '    import sys\n    for _ in range(20000):\n        print("x" * 5000)\n'
        '        sys.stderr.write("y" * 5000)\n'
        '    model = params["model"]\n    model.eval()\n',
    )],
}


def unmarked_reference() -> str:
    """The reference solution without its solution markers and hint lines."""
    text = (ROOT / "reference" / "bert_finetune" / "classifier.py").read_text(encoding="utf-8")
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
    """Every generated submission: folder name -> the text of its ``classifier.py``."""
    base = unmarked_reference()
    return {"reference": base, **{n: mutate(base, e, n) for n, e in MUTANTS.items()}}


def main(argv: list[str]) -> int:
    """Write every mutant (``--check``: only report the ones that differ, exit 1 if any)."""
    stale = []
    for name, text in wanted_files().items():
        path = ZOO / name / "classifier.py"
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
