"""Assignment kits and profiles of ``bert_pretrain``: contents, idempotence, hash stability,
seeded batch reproducibility and the batch format."""

from __future__ import annotations

import json
import pickle
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors import safe_open

from grader.assignments.bert_pretrain import kit as kit_mod
from grader.assignments.bert_pretrain.kit import (
    DEFAULT_CORPUS,
    FRAMEWORK_DIR,
    Kit,
    build_kit,
    default_cache_dir,
    framework_modules,
    load_kit,
)
from grader.assignments.bert_pretrain.profiles import PROFILES, Profile, get_profile, render_config

KIT_FILES = {
    "config.py", "vocab.py", "batchify.py", "vocab.txt", "batches.pkl", "full_batches.pkl",
    "eval_batches.safetensors", "kit.json",
}


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("kits")


@pytest.fixture(scope="module")
def small_kit(cache: Path) -> Kit:
    return build_kit("small", cache_dir=cache)


def test_kit_contents(small_kit: Kit) -> None:
    assert {p.name for p in small_kit.dir.iterdir()} == KIT_FILES
    manifest = json.loads(small_kit.path("kit.json").read_text())
    assert manifest["profile"] == "small" and small_kit.profile == "small"
    assert manifest["vocab_size"] == small_kit.vocab_size == len(
        small_kit.path("vocab.txt").read_text(encoding="utf-8").splitlines())
    assert set(manifest["files"]) == KIT_FILES - {"kit.json"}
    with small_kit.path("batches.pkl").open("rb") as f:
        train = pickle.load(f)
    with small_kit.path("full_batches.pkl").open("rb") as f:
        full = pickle.load(f)
    assert len(train) == small_kit.n_train_batches == get_profile("small").train_batches
    assert len(full) == small_kit.n_full_batches >= get_profile("small").full_epoch_min_batches
    assert train == full[: len(train)]  # the train subset is the start of the full epoch
    assert 20 <= small_kit.n_eval_batches <= 50


def test_eval_batches_layout(small_kit: Kit) -> None:
    """The mounted kit holds the eval INPUTS only; the targets live in the parent-only folder."""
    with safe_open(str(small_kit.path(small_kit.eval_batches_file)), "pt") as f:
        names = set(f.keys())
        assert len(names) == 3 * small_kit.n_eval_batches
        for name in names:
            assert re.fullmatch(r"b\d{3}\.(input_ids|segment_ids|masked_pos)", name)
        ids, pos = f.get_tensor("b000.input_ids"), f.get_tensor("b000.masked_pos")
    assert ids.shape[0] == 6 and pos.shape == (6, 5)
    assert small_kit.private_dir.parent == small_kit.dir.parent
    assert not small_kit.private_dir.is_relative_to(small_kit.dir)
    targets = kit_mod.eval_targets(small_kit)
    assert set(targets) == {f"b{i:03d}.{n}" for i in range(small_kit.n_eval_batches)
                            for n in ("masked_tokens", "is_next")}
    assert targets["b000.masked_tokens"].shape == (6, 5)
    assert int(targets["b000.is_next"].sum()) == 3
    assert not any("masked_tokens" in p.read_bytes().decode("latin-1")
                   for p in small_kit.dir.iterdir() if p.suffix == ".safetensors")


def test_tampered_eval_targets_are_refused_and_rebuilt(tmp_path: Path) -> None:
    kit = build_kit("small", cache_dir=tmp_path)
    target = kit.private_dir / kit_mod.TARGETS_FILE
    good = target.read_bytes()
    bad = bytearray(good)
    bad[-1] ^= 0xFF  # one label byte changed
    target.write_bytes(bytes(bad))
    with pytest.raises(ValueError, match="missing or corrupt"):
        kit_mod.eval_targets(kit)
    again = build_kit("small", cache_dir=tmp_path)  # notices and rebuilds both halves
    assert (again.private_dir / kit_mod.TARGETS_FILE).read_bytes() == good
    assert kit_mod.eval_targets(again)["b000.is_next"].shape == (6,)


def test_kit_config_has_profile_values(small_kit: Kit) -> None:
    text = small_kit.path("config.py").read_text()
    assert "from vocab import load_vocab" in text
    assert 'word_to_id, id_to_word = load_vocab("vocab.txt")' in text
    assert "VOCAB_SIZE = len(word_to_id)" in text
    for line in ("d_model = 64", "n_layers = 2", "n_heads = 4", "d_ff = 256", "d_k = d_v = 16",
                 "MAX_LEN = 128", "MAX_PRED = 5", "BATCH_SIZE = 6", "n_epochs = 1"):
        assert re.search(rf"^{re.escape(line)}\b", text, re.M), line
    run = subprocess.run(
        [sys.executable, "-c", "from config import *; print(VOCAB_SIZE, d_model, d_k, d_v)"],
        cwd=small_kit.dir, capture_output=True, text=True, timeout=60)
    assert run.stdout.split() == [str(small_kit.vocab_size), "64", "16", "16"], run.stderr


def test_build_is_idempotent(small_kit: Kit, cache: Path) -> None:
    before = small_kit.path("kit.json").stat().st_mtime_ns
    again = build_kit("small", cache_dir=cache)
    assert again == small_kit
    assert small_kit.path("kit.json").stat().st_mtime_ns == before
    assert not [p for p in cache.iterdir() if p.name.startswith(".") and p.is_dir()]  # no temp
    # folders left (the build lock file stays: removing it would race with a waiting builder)


def test_build_with_bytecode_writing_on_holds_only_listed_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As on a user's machine (Python writes __pycache__): the kit still holds only its files."""
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    kit = build_kit("small", cache_dir=tmp_path)
    listed = set(json.loads(kit.path("kit.json").read_text())["files"]) | {"kit.json"}
    assert {p.name for p in kit.dir.iterdir()} == listed
    assert sys.dont_write_bytecode is False  # restored after the framework import


def test_hash_is_stable_across_builds(small_kit: Kit, tmp_path: Path) -> None:
    other = build_kit("small", cache_dir=tmp_path)
    assert other.dir != small_kit.dir
    assert other.hash == small_kit.hash
    for name in KIT_FILES:
        assert other.path(name).read_bytes() == small_kit.path(name).read_bytes(), name


def test_profiles_give_different_kits(small_kit: Kit, cache: Path) -> None:
    official = build_kit("official", cache_dir=cache)
    assert official.dir != small_kit.dir and official.hash != small_kit.hash
    assert "d_model = 768" in official.path("config.py").read_text()
    assert official.path("batches.pkl").read_bytes() == small_kit.path("batches.pkl").read_bytes()


def test_corrupt_kit_is_rebuilt(tmp_path: Path) -> None:
    kit = build_kit("small", cache_dir=tmp_path)
    kit.path("vocab.txt").write_text("tampered\t0\n")
    with pytest.raises(ValueError, match="corrupt"):
        load_kit(kit.dir)
    rebuilt = build_kit("small", cache_dir=tmp_path)
    assert rebuilt.hash == kit.hash
    assert load_kit(rebuilt.dir) == rebuilt


def test_cache_dir_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NLPGRADE_CACHE", str(tmp_path))
    assert default_cache_dir() == tmp_path / "kits"
    monkeypatch.delenv("NLPGRADE_CACHE")
    assert default_cache_dir() == Path.home() / ".cache" / "nlpgrade" / "kits"


def test_custom_corpus_and_vocab(tmp_path: Path, small_kit: Kit) -> None:
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("".join(DEFAULT_CORPUS.read_text(encoding="utf-8").splitlines(True)[:300]),
                      encoding="utf-8")
    kit = build_kit("small", corpus=corpus, vocab=small_kit.path("vocab.txt"),
                    cache_dir=tmp_path / "c")
    assert kit.vocab_size == small_kit.vocab_size
    assert kit.path("vocab.txt").read_bytes() == small_kit.path("vocab.txt").read_bytes()
    manifest = json.loads(kit.path("kit.json").read_text())
    assert manifest["full_epoch_passes"] > 1 and manifest["vocab_given"] is True


def test_profiles() -> None:
    assert set(PROFILES) >= {"official", "small"}
    official = get_profile("official").config_values()
    assert official == {"MAX_LEN": 128, "MAX_PRED": 5, "BATCH_SIZE": 6, "n_epochs": 1,
                        "n_layers": 6, "n_heads": 12, "d_model": 768, "d_ff": 3072, "d_k": 64,
                        "d_v": 64, "n_segments": 2}
    with pytest.raises(KeyError, match="known profiles: official, small"):
        get_profile("huge")
    with pytest.raises(ValueError):
        Profile(name="x", n_layers=1, n_heads=1, d_model=8, d_ff=8, d_k=4, d_v=8,
                train_batches=1, full_epoch_min_batches=1, eval_batches=1)


def test_render_config_requires_every_name() -> None:
    text = kit_mod.framework_text("config.py")
    assert "GENERATED" not in text
    with pytest.raises(ValueError, match="n_segments"):
        render_config(text.replace("n_segments = 2", "n_segments_ = 2"), get_profile("small"))


# --- batchify: seeded reproducibility and the batch format -------------------------------------


def run_batchify_main(workdir: Path, seed: int) -> bytes:
    """Run the framework batchify.main (course entry point) on a corpus excerpt in ``workdir``."""
    workdir.mkdir()
    lines = DEFAULT_CORPUS.read_text(encoding="utf-8").splitlines(True)[:240]
    (workdir / "data_clean.txt").write_text("".join(lines), encoding="utf-8")
    for name in ("vocab.py", "batchify.py"):
        shutil.copy(FRAMEWORK_DIR / name, workdir / name)
    code = f"import batchify; batchify.main(seed={seed})"
    run = subprocess.run([sys.executable, "-c", code], cwd=workdir, capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert (workdir / "vocab.txt").exists()
    return (workdir / "batches.pkl").read_bytes()


def test_batches_same_seed_same_bytes(tmp_path: Path) -> None:
    first = run_batchify_main(tmp_path / "a", seed=0)
    assert first == run_batchify_main(tmp_path / "b", seed=0)
    assert first != run_batchify_main(tmp_path / "c", seed=1)


def test_batch_format(small_kit: Kit) -> None:
    with framework_modules(small_kit.dir) as mods:
        word_to_id, _ = mods["vocab"].load_vocab(str(small_kit.path("vocab.txt")))
        sentences = mods["vocab"].load_sentences(str(DEFAULT_CORPUS), word_to_id)
        batches = mods["batchify"].make_batches(sentences[:120], 6, word_to_id, seed=3)
    assert len(batches) == 20
    v = len(word_to_id)
    for batch in batches:
        assert len(batch) == 6
        assert sum(ex[4] for ex in batch) == 3  # half IsNext
        longest = max(len(ex[0]) - ex[0].count(0) for ex in batch)
        for input_ids, segment_ids, masked_tokens, masked_pos, is_next in batch:
            assert isinstance(is_next, bool)
            assert len(input_ids) == len(segment_ids) == longest  # dynamic padding
            n = len(input_ids) - input_ids.count(0)
            assert input_ids[0] == 2 and input_ids[n - 1] == 3
            first_sep = input_ids.index(3)
            assert segment_ids == [1] * (first_sep + 1) + [2] * (n - first_sep - 1) + [0] * (
                len(input_ids) - n)
            n_pred = min(5, max(1, round(n * 0.15)))
            assert len(masked_tokens) == len(masked_pos) == 5
            assert masked_tokens[n_pred:] == [0] * (5 - n_pred)
            assert masked_pos[n_pred:] == [0] * (5 - n_pred)
            assert len(set(masked_pos[:n_pred])) == n_pred
            for pos, token in zip(masked_pos[:n_pred], masked_tokens[:n_pred]):
                assert 0 < pos < n and pos not in (first_sep, n - 1)
                assert token > 4 or token == 1  # an original character (or [UNK])
                assert input_ids[pos] in (4, token) or 4 <= input_ids[pos] < v
