"""Content-addressed bytes: the client reads files keyed by sha256, a worker stages them privately.

No shared filesystem is assumed. The client sends each distinct file once (keyed by its hash); the
worker checks every byte string against its key before writing it into a private folder of its own
(the parent folder is 0700; the staged tree is readable so a sandbox can bind it read-only).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

BLOB_PREFIX = "nlpgrade-blob-"


class BlobError(RuntimeError):
    """A file's bytes do not match their hash, or a name would escape its folder."""


def sha256_bytes(data: bytes) -> str:
    """The hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def blob_key(sha: str) -> str:
    """The Dask key under which the bytes with hash ``sha`` travel (same bytes, same key)."""
    return BLOB_PREFIX + sha


def read_verified(path: Path, sha: str) -> bytes:
    """The bytes of ``path``, checked against the hash the intake recorded (staging unchanged)."""
    data = path.read_bytes()
    if sha256_bytes(data) != sha:
        raise BlobError(f"{path} changed after intake (hash differs); run grade again")
    return data


def tree_files(root: Path) -> dict[str, str]:
    """Every regular file under ``root`` as posix relative path -> sha256 (links skipped)."""
    found: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        if path.is_symlink() or not path.is_file() or "__pycache__" in path.parts:
            continue
        found[path.relative_to(root).as_posix()] = sha256_bytes(path.read_bytes())
    return found


def tree_hash(files: Mapping[str, str]) -> str:
    """One hash for a whole table of relative path -> sha256."""
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + files[name].encode() + b"\n")
    return digest.hexdigest()


def _safe_relative(name: str) -> PurePosixPath:
    rel = PurePosixPath(name)
    if not name or rel.is_absolute() or any(p in ("", ".", "..") for p in rel.parts):
        raise BlobError(f"refusing to stage a file named {name!r}")
    return rel


def private_root() -> Path:
    """A fresh folder only this worker's user can enter (``mkdtemp`` gives mode 0700)."""
    return Path(tempfile.mkdtemp(prefix="nlpgrade-dask-"))


def stage(files: Mapping[str, str], blobs: Mapping[str, bytes], dest: Path) -> Path:
    """Write ``files`` (relative path -> sha256) from ``blobs`` (sha256 -> bytes) into ``dest``.

    Every byte string is checked against its hash first; ``dest`` must not exist yet. Folders are
    0755 and files 0644 so a sandbox's unprivileged user can read the read-only bind.
    """
    for sha, data in blobs.items():
        if sha256_bytes(data) != sha:
            raise BlobError(f"bytes received under hash {sha[:12]}… do not match it")
    tmp = dest.with_name(dest.name + ".part")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    for name, sha in files.items():
        if sha not in blobs:
            raise BlobError(f"no bytes were sent for {name!r}")
        target = tmp.joinpath(*_safe_relative(name).parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "xb") as out:
            out.write(blobs[sha])
        os.chmod(target, 0o644)
    for folder in [tmp, *(p for p in tmp.rglob("*") if p.is_dir())]:
        os.chmod(folder, 0o755)
    tmp.rename(dest)
    return dest
