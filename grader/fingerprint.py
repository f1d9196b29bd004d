"""Content hashes of what a verdict depends on: the grader's own code and the reference tree.

A result is cached under these (with the rubric, the kit, the submission and the sandbox
backend), so a fixed check or an edited reference regrades everything on the next run.
"""

from __future__ import annotations

import functools
import hashlib
import os
import stat
from pathlib import Path

SKIP_DIRS = frozenset({"__pycache__", ".git", ".mypy_cache", ".pytest_cache", ".ruff_cache"})
SKIP_SUFFIXES = (".pyc", ".pyo")


def tree_hash(root: Path) -> str:
    """sha256 over (relative path, bytes) of every regular file under ``root`` (links skipped).

    Bytecode caches are left out: whether Python wrote them changes nothing a check does.
    """
    digest = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
        for name in sorted(filenames):
            if name.endswith(SKIP_SUFFIXES):
                continue
            path = Path(dirpath) / name
            st = os.lstat(path)
            if not stat.S_ISREG(st.st_mode):
                continue
            digest.update(path.relative_to(root).as_posix().encode() + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


@functools.cache
def grader_code_hash() -> str:
    """Hash of the imported ``grader`` package's files (checks, probes, sandbox, engine, ...)."""
    import grader

    return tree_hash(Path(grader.__file__).resolve().parent)
