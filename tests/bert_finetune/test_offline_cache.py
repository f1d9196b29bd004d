"""The offline caches: ``from_pretrained("bert-base-uncased")`` resolves to them with the hub off,
the tokenizer has no baked-in truncation/padding, and loading writes nothing into the cache."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from grader.assignments.bert_finetune import hfcache
from tests.bert_finetune.helpers import tiny_cache

LOAD = """
import json, sys
from transformers import AutoTokenizer, BertForSequenceClassification
tok = AutoTokenizer.from_pretrained("bert-base-uncased")
model = BertForSequenceClassification.from_pretrained("bert-base-uncased", num_labels=2)
fast = tok.backend_tokenizer.encode("great film " * 200)
print(json.dumps({"hidden": model.config.hidden_size, "vocab": len(tok),
                  "training": model.training, "raw_len": len(fast.ids),
                  "ids": tok("Hello WORLD")["input_ids"],
                  "max_len": tok.model_max_length}))
"""


def _tree(root: Path) -> list[tuple[str, int, float]]:
    return sorted((str(p), p.stat().st_size, p.stat().st_mtime) for p in root.rglob("*"))


def _load_in_subprocess(cache: Path, tmp_path: Path) -> dict:
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), **hfcache.offline_env(cache)}
    out = subprocess.run([sys.executable, "-c", LOAD], env=env, capture_output=True,
                         text=True, timeout=120, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_tiny_cache_resolves_offline_and_stays_unwritten(tmp_path: Path) -> None:
    cache = tiny_cache()
    before = _tree(cache)
    facts = _load_in_subprocess(cache, tmp_path)
    assert facts["hidden"] == hfcache.TINY_CONFIG["hidden_size"]
    assert facts["vocab"] == 30522
    assert facts["training"] is False  # from_pretrained returns eval mode (README says so)
    assert facts["ids"] == [101, 7592, 2088, 102]  # lower-cased WordPieces of bert-base-uncased
    assert facts["raw_len"] == 402  # no truncation to 128 baked in: 400 pieces + [CLS] [SEP]
    assert facts["max_len"] == 512
    assert _tree(cache) == before
    assert not list(tmp_path.rglob("*.json")), "nothing lands in HOME either"


@pytest.mark.slow
def test_real_cache_is_the_minilm_checkpoint(tmp_path: Path) -> None:
    facts = _load_in_subprocess(hfcache.model_cache("real"), tmp_path)
    assert facts["hidden"] == 384 and facts["vocab"] == 30522 and facts["raw_len"] == 402


def test_both_names_and_the_tokenizer_json_are_laid_out() -> None:
    cache = tiny_cache()
    for repo in hfcache.REPOS:
        base = cache / "hub" / f"models--{repo.replace('/', '--')}"
        snap = base / "snapshots" / (base / "refs" / "main").read_text()
        assert {p.name for p in snap.iterdir()} == {
            "config.json", "model.safetensors", "tokenizer.json", *hfcache.TOKENIZER_FILES}
        tok = json.loads((snap / "tokenizer.json").read_text(encoding="utf-8"))
        assert tok["truncation"] is None and tok["padding"] is None
    source = json.loads((hfcache.source_model_dir() / "tokenizer.json").read_text())
    assert source["truncation"]["max_length"] == 128  # what the packaged files bake in


def test_a_second_build_reuses_the_first(tmp_path: Path) -> None:
    first = hfcache.model_cache("tiny", cache_dir=tmp_path)
    stamp = (first / ".complete").stat().st_mtime_ns
    assert hfcache.model_cache("tiny", cache_dir=tmp_path) == first
    assert (first / ".complete").stat().st_mtime_ns == stamp
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".hf-tiny.")
                and p.is_dir()], "no temporary folder left behind"
