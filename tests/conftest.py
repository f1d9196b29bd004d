"""Suite-wide isolation: no test reads or writes the real ``~/.cache`` (or anything in ``$HOME``).

``HOME`` points at a private folder for the whole session, so a subprocess that drops
``NLPGRADE_CACHE`` falls back to that folder's cache, never the user's; ``NLPGRADE_CACHE`` is
kept when set (a shared kit cache saves rebuilds), else it is a private folder as well. At the
end the suite fails if the real ``~/.cache/nlpgrade`` changed anyway.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

REAL_CACHE = Path(os.path.expanduser("~")) / ".cache" / "nlpgrade"
_private: Path | None = None
_before: list[tuple[str, int, float]] | None = None


def _snapshot(root: Path) -> list[tuple[str, int, float]]:
    """(path, size, mtime) of everything under ``root`` (empty when absent)."""
    out: list[tuple[str, int, float]] = []
    if root.exists():
        for dirpath, dirnames, filenames in os.walk(root):
            for name in [*dirnames, *filenames]:
                st = os.lstat(os.path.join(dirpath, name))
                out.append((os.path.join(dirpath, name), st.st_size, st.st_mtime))
    return sorted(out)


def pytest_configure(config: pytest.Config) -> None:
    """Private HOME (and cache, unless one is set) before any test or fixture runs."""
    global _private, _before
    if hasattr(config, "workerinput"):
        return
    _before = _snapshot(REAL_CACHE)
    _private = Path(tempfile.mkdtemp(prefix="nlpgrade-tests-"))
    (_private / "home").mkdir()
    os.environ["HOME"] = str(_private / "home")
    if not os.environ.get("NLPGRADE_CACHE"):
        os.environ["NLPGRADE_CACHE"] = str(_private / "cache")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if the real cache changed; remove the private folders."""
    if _before is not None and _snapshot(REAL_CACHE) != _before:
        print(f"\nA test wrote into the real {REAL_CACHE}: tests must use a private cache.")
        session.exitstatus = 1
    if _private is not None:
        shutil.rmtree(_private, ignore_errors=True)
