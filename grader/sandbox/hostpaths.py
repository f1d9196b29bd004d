"""Host paths the worker needs: the interpreter (through its symlinks), stdlib, site-packages."""

from __future__ import annotations

import os
import site
import sys
from pathlib import Path

WORKER_SRC = Path(__file__).resolve().parent.parent / "worker"


def interpreter() -> str:
    """Absolute path of the interpreter to run (the venv's, not its symlink target)."""
    return os.path.abspath(sys.executable)


def _symlink_hops(path: str) -> list[str]:
    """Every directory a chain of symlinks from ``path`` passes through."""
    dirs: list[str] = []
    seen: set[str] = set()
    cur = os.path.abspath(path)
    while cur not in seen:
        seen.add(cur)
        dirs.append(os.path.dirname(cur))
        if not os.path.islink(cur):
            break
        cur = os.path.join(os.path.dirname(cur), os.readlink(cur))
        cur = os.path.normpath(cur)
    return dirs


def python_roots() -> list[str]:
    """Directories to mount read-only so the interpreter, stdlib and packages work."""
    cands = [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix]
    cands += list(site.getsitepackages())
    cands += _symlink_hops(sys.executable)
    out: list[str] = []
    for c in cands:
        for p in (os.path.abspath(c), os.path.realpath(c)):
            if os.path.isdir(p) and p not in out:
                out.append(p)
    return out


def installed_grader_dirs() -> list[str]:
    """An installed copy of the grader package in site-packages (to hide in the sandbox)."""
    found: list[str] = []
    for sp in site.getsitepackages():
        cand = os.path.join(sp, "grader")
        if os.path.isdir(cand) and not os.path.islink(cand):
            found.append(os.path.realpath(cand))
    return found
