"""Assignment kits for ``bert_pretrain``: everything a grading run needs besides the submission.

A kit is a folder::

    config.py                  framework config.py with the profile's dimensions
    vocab.py, batchify.py      framework files (student code imports them)
    vocab.txt                  vocabulary built from the corpus (or the one given)
    batches.pkl                fixed train subset: a grading run trains one epoch on it
    full_batches.pkl           one full epoch (several seeded passes if the corpus is small)
    eval_batches.safetensors   inputs of the fixed eval batches (own seed): ``b{i:03d}.<field>``
                               for input_ids, segment_ids, masked_pos only
    kit.json                   manifest: profile, sizes, seeds, corpus sha256, file hashes

and, next to it, a parent-only folder ``<kit>.private`` (never mounted into a sandbox)::

    eval_targets.safetensors   the eval batches' targets: ``b{i:03d}.masked_tokens`` / ``.is_next``
    private.json               its sha256, checked before every use

Kits are content-addressed under a cache folder (``$NLPGRADE_CACHE/kits`` or
``~/.cache/nlpgrade/kits``): the folder name is a hash of everything that goes into the build,
so building twice returns the same folder without rebuilding, and a build is atomic (written to
a temporary folder, then renamed).

The batch files are built by the framework's own ``batchify.py`` (shipped in ``framework/``),
imported here in the trusted process; no student code is involved.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import json
import os
import pickle
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import torch
from pydantic import BaseModel, ConfigDict
from safetensors.torch import save_file

from grader.assignments.bert_pretrain.profiles import Profile, get_profile, render_config
from grader.atomic import build_lock
from grader.cachedir import cache_root

KIT_FORMAT = 2  # bump when the kit layout or batch recipe changes: old caches are not reused
PACKAGE_DIR = Path(__file__).resolve().parent
FRAMEWORK_DIR = PACKAGE_DIR / "framework"
DEFAULT_CORPUS = PACKAGE_DIR / "data" / "tang_song_verse.txt"
FRAMEWORK_FILES = ("config.py", "vocab.py", "batchify.py")
FULL_SEED = 0  # pass p of the full epoch uses seed FULL_SEED + p
EVAL_SEED = 100_000  # eval pass p uses seed EVAL_SEED + p
EVAL_OFFSET = 3  # eval slices start 3 sentences later: other pairings than in training
EVAL_FIELDS = ("input_ids", "segment_ids", "masked_tokens", "masked_pos", "is_next")
EVAL_INPUTS = ("input_ids", "segment_ids", "masked_pos")  # what the sandbox may see
EVAL_TARGETS = ("masked_tokens", "is_next")  # parent-only: a loss on them cannot be forged
PRIVATE_SUFFIX = ".private"
TARGETS_FILE = "eval_targets.safetensors"
PICKLE_PROTOCOL = 4


class Kit(BaseModel):
    """A built kit; every file name is relative to ``dir``."""

    model_config = ConfigDict(frozen=True)

    dir: Path
    profile: str
    hash: str
    vocab_size: int
    n_train_batches: int
    n_full_batches: int
    n_eval_batches: int
    corpus_sha256: str
    config_file: str = "config.py"
    vocab_file: str = "vocab.txt"
    train_batches_file: str = "batches.pkl"
    full_batches_file: str = "full_batches.pkl"
    eval_batches_file: str = "eval_batches.safetensors"
    manifest_file: str = "kit.json"
    framework_files: tuple[str, ...] = FRAMEWORK_FILES

    def path(self, name: str) -> Path:
        """Absolute path of one kit file."""
        return self.dir / name

    @property
    def private_dir(self) -> Path:
        """The parent-only folder next to the kit (eval targets); never mounted."""
        return self.dir.with_name(self.dir.name + PRIVATE_SUFFIX)

    def get_profile(self) -> Profile:
        """The kit's profile."""
        return get_profile(self.profile)


def default_cache_dir() -> Path:
    """``$NLPGRADE_CACHE/kits`` if set, else ``~/.cache/nlpgrade/kits``."""
    return cache_root() / "kits"


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def framework_text(name: str) -> str:
    """A framework file's text without the "GENERATED" header the templating adds."""
    lines = (FRAMEWORK_DIR / name).read_text(encoding="utf-8").splitlines(keepends=True)
    while lines and (lines[0].startswith("# GENERATED") or lines[0].startswith("# Do not edit")):
        lines.pop(0)
    return "".join(lines)


@contextlib.contextmanager
def framework_modules(folder: Path) -> Iterator[dict[str, ModuleType]]:
    """Import ``vocab`` and ``batchify`` from ``folder`` (course style: top-level names).

    ``sys.path`` and ``sys.modules`` are restored afterwards, so these modules never leak into
    (or pick up) another import of the same names.
    """
    names = ("vocab", "batchify")
    saved = {n: sys.modules.pop(n) for n in names if n in sys.modules}
    sys.path.insert(0, str(folder))
    bytecode = sys.dont_write_bytecode
    sys.dont_write_bytecode = True  # a kit folder holds exactly the files its manifest lists
    try:
        yield {n: importlib.import_module(n) for n in names}
    finally:
        sys.dont_write_bytecode = bytecode
        sys.path.remove(str(folder))
        for n in names:
            sys.modules.pop(n, None)
        sys.modules.update(saved)


def _build_key(profile: Profile, corpus_sha: str, vocab_sha: str | None) -> str:
    spec = {
        "format": KIT_FORMAT,
        "profile": profile.model_dump(),
        "corpus": corpus_sha,
        "vocab": vocab_sha,
        "framework": {n: hashlib.sha256(framework_text(n).encode()).hexdigest()
                      for n in FRAMEWORK_FILES},
        "seeds": [FULL_SEED, EVAL_SEED, EVAL_OFFSET],
    }
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


def _passes(batchify: ModuleType, sentences: list[list[int]], word_to_id: dict[str, int],
            profile: Profile, seed: int, offset: int, at_least: int) -> tuple[list, int]:
    """Seeded passes over the corpus until ``at_least`` batches; returns (batches, passes)."""
    batches: list = []
    n_pass = 0
    while len(batches) < at_least:
        got = batchify.make_batches(
            sentences, profile.BATCH_SIZE, word_to_id, seed=seed + n_pass,
            max_len=profile.MAX_LEN, max_pred=profile.MAX_PRED,
            offset=(offset + n_pass) % profile.BATCH_SIZE,
        )
        if not got:
            raise ValueError("the corpus yields no batch: it needs more (or shorter) sentences")
        batches.extend(got)
        n_pass += 1
    return batches, n_pass


def _eval_tensors(batches: list, fields: tuple[str, ...]) -> dict[str, torch.Tensor]:
    tensors: dict[str, torch.Tensor] = {}
    for i, batch in enumerate(batches):
        for field, column in zip(EVAL_FIELDS, zip(*batch)):
            if field in fields:
                tensors[f"b{i:03d}.{field}"] = torch.tensor(list(column), dtype=torch.int64)
    return tensors


def _write_private(private: Path, evals: list) -> None:
    save_file(_eval_tensors(evals, EVAL_TARGETS), str(private / TARGETS_FILE))
    digest = sha256_file(private / TARGETS_FILE)
    (private / "private.json").write_text(json.dumps({TARGETS_FILE: digest}) + "\n")


def _private_ok(private: Path) -> bool:
    try:
        want = json.loads((private / "private.json").read_text())[TARGETS_FILE]
        return sha256_file(private / TARGETS_FILE) == want
    except (OSError, KeyError, ValueError, TypeError):
        return False


def eval_targets(kit: Kit) -> dict[str, torch.Tensor]:
    """The eval targets of ``kit`` (parent only), after checking them against their hash."""
    from safetensors.torch import load_file

    if not _private_ok(kit.private_dir):
        raise ValueError(f"the eval targets of kit {kit.dir.name} are missing or corrupt")
    return load_file(str(kit.private_dir / TARGETS_FILE))


def _content_hash(folder: Path, names: list[str]) -> tuple[str, dict[str, str]]:
    """Hash of the listed files (each must be a regular file, not a link or a folder)."""
    files: dict[str, str] = {}
    for n in sorted(names):
        path = folder / n
        if path.is_symlink() or not path.is_file():
            raise ValueError(f"kit {folder}: {n} is not a regular file")
        files[n] = sha256_file(path)
    digest = hashlib.sha256("".join(f"{n}\0{h}\n" for n, h in files.items()).encode())
    return digest.hexdigest(), files


def _write_kit(out: Path, private: Path, profile: Profile, corpus: Path, vocab: Path | None,
               corpus_sha: str) -> None:
    """Build every kit file into the empty folders ``out`` (mounted) and ``private``."""
    for name in ("vocab.py", "batchify.py"):
        (out / name).write_text(framework_text(name), encoding="utf-8")
    (out / "config.py").write_text(render_config(framework_text("config.py"), profile),
                                   encoding="utf-8")
    with framework_modules(out) as mods:
        vocab_mod, batchify = mods["vocab"], mods["batchify"]
        if vocab is None:
            word_to_id, _, sentences = vocab_mod.build_vocab(str(corpus), vocab_mod.tokenizer)
        else:
            word_to_id, _ = vocab_mod.load_vocab(str(vocab))
            sentences = vocab_mod.load_sentences(str(corpus), word_to_id)
        vocab_mod.save_vocab(word_to_id, str(out / "vocab.txt"))
        full, full_passes = _passes(batchify, sentences, word_to_id, profile, FULL_SEED, 0,
                                    profile.full_epoch_min_batches)
        evals, eval_passes = _passes(batchify, sentences, word_to_id, profile, EVAL_SEED,
                                     EVAL_OFFSET, profile.eval_batches)
    evals = evals[: profile.eval_batches]
    train = full[: profile.train_batches]
    with (out / "batches.pkl").open("wb") as f:
        pickle.dump(train, f, protocol=PICKLE_PROTOCOL)
    with (out / "full_batches.pkl").open("wb") as f:
        pickle.dump(full, f, protocol=PICKLE_PROTOCOL)
    save_file(_eval_tensors(evals, EVAL_INPUTS), str(out / "eval_batches.safetensors"))
    _write_private(private, evals)
    data_files = sorted(p.name for p in out.iterdir() if p.is_file() and not p.is_symlink())
    for path in out.iterdir():
        if path.name not in data_files:
            shutil.rmtree(path, ignore_errors=True)  # nothing but the listed files in a kit
    for name in data_files:
        (out / name).chmod(0o644)
    kit_hash, file_hashes = _content_hash(out, data_files)
    manifest = {
        "kit_format": KIT_FORMAT,
        "profile": profile.name,
        "config": profile.config_values(),
        "vocab_size": len(word_to_id),
        "vocab_given": vocab is not None,
        "corpus_sha256": corpus_sha,
        "corpus_sentences": len(sentences),
        "n_train_batches": len(train),
        "n_full_batches": len(full),
        "full_epoch_passes": full_passes,
        "n_eval_batches": len(evals),
        "eval_passes": eval_passes,
        "seeds": {"full": FULL_SEED, "eval": EVAL_SEED, "eval_offset": EVAL_OFFSET},
        "hash": kit_hash,
        "files": file_hashes,
    }
    (out / "kit.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n",
                                  encoding="utf-8")


def train_subset(kit: Kit, n: int) -> list:
    """The first ``n`` batches of the kit's fixed train subset (``batches.pkl``)."""
    with kit.path(kit.train_batches_file).open("rb") as f:  # built by the parent, hash-checked
        return pickle.load(f)[:n]


def make_loop_kit(kit: Kit, n: int) -> Path:
    """A fresh temporary folder like ``kit`` whose ``batches.pkl`` holds its first ``n`` batches.

    The training-loop check runs train.py on it: a loop bug shows within a few steps, and the
    parent recomputes the same ``n`` steps. Only the files train.py needs are in it.
    """
    out = Path(tempfile.mkdtemp(prefix="nlpgrade-loopkit-"))
    for name in (*FRAMEWORK_FILES, kit.vocab_file):
        shutil.copyfile(kit.path(name), out / name)
    with (out / "batches.pkl").open("wb") as f:
        pickle.dump(train_subset(kit, n), f, protocol=PICKLE_PROTOCOL)
    for path in out.iterdir():
        path.chmod(0o644)
    out.chmod(0o755)
    return out


def load_kit(folder: Path, *, verify: bool = True) -> Kit:
    """Read a kit folder's manifest; with ``verify``, check every file's sha256."""
    manifest = json.loads((folder / "kit.json").read_text(encoding="utf-8"))
    if verify:
        kit_hash, files = _content_hash(folder, list(manifest["files"]))
        if files != manifest["files"] or kit_hash != manifest["hash"]:
            raise ValueError(f"kit {folder} is corrupt: file hashes differ from kit.json")
    return Kit(
        dir=folder,
        profile=manifest["profile"],
        hash=manifest["hash"],
        vocab_size=manifest["vocab_size"],
        n_train_batches=manifest["n_train_batches"],
        n_full_batches=manifest["n_full_batches"],
        n_eval_batches=manifest["n_eval_batches"],
        corpus_sha256=manifest["corpus_sha256"],
    )


def build_kit(profile: str, *, corpus: Path | None = None, vocab: Path | None = None,
              cache_dir: Path | None = None) -> Kit:
    """Build (or reuse) the kit of ``profile`` for ``corpus`` (default: the bundled verse).

    ``vocab``: use this ``vocab.txt`` instead of building one from the corpus.
    ``cache_dir``: where kits live (default :func:`default_cache_dir`).
    """
    prof = get_profile(profile)
    corpus = Path(corpus) if corpus is not None else DEFAULT_CORPUS
    corpus_sha = sha256_file(corpus)
    vocab_sha = sha256_file(Path(vocab)) if vocab is not None else None
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    target = cache / f"{prof.name}-{_build_key(prof, corpus_sha, vocab_sha)[:24]}"
    private = target.with_name(target.name + PRIVATE_SUFFIX)
    kit = _load_existing(target)
    if kit is not None and _private_ok(private):
        return kit
    cache.mkdir(parents=True, exist_ok=True)
    with build_lock(cache / f".{target.name}.lock"):
        kit = _load_existing(target)  # a concurrent run may have built it meanwhile
        if kit is not None and _private_ok(private):
            return kit
        shutil.rmtree(target, ignore_errors=True)  # incomplete (no or bad targets): rebuild
        shutil.rmtree(private, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=cache))
        tmp.chmod(0o755)  # readable by a sandbox running as another user
        tmp_private = Path(tempfile.mkdtemp(prefix=f".{target.name}.p.", dir=cache))  # 0700
        try:
            _write_kit(tmp, tmp_private, prof, corpus,
                       Path(vocab) if vocab is not None else None, corpus_sha)
            # The private half first: a kit folder that exists always has its targets.
            for src, dst in ((tmp_private, private), (tmp, target)):
                try:
                    src.rename(dst)
                except OSError:
                    if not dst.exists():  # not a concurrent builder's identical copy
                        raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.rmtree(tmp_private, ignore_errors=True)
    return load_kit(target)


def _load_existing(target: Path) -> Kit | None:
    """The complete kit at ``target``, or None; a corrupt one is moved aside and removed."""
    if not (target / "kit.json").exists():
        return None
    try:
        return load_kit(target)
    except (ValueError, KeyError, OSError, json.JSONDecodeError):
        trash = target.with_name(f".{target.name}.corrupt-{os.getpid()}-{id(target):x}")
        with contextlib.suppress(OSError):  # rename first: no reader ever sees a half-removed kit
            target.rename(trash)
            shutil.rmtree(trash, ignore_errors=True)
        return None


