"""The grader's cache folder (``$NLPGRADE_CACHE``, else ``~/.cache/nlpgrade``) and its sub-folders.

Kits, calibrations and other derived data live here, never at a fixed path in a shared folder
(``/tmp``): another user of the host could pre-create such a path or read what is in it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


def cache_root() -> Path:
    """``$NLPGRADE_CACHE`` if set, else ``~/.cache/nlpgrade`` (made owner-only when created)."""
    base = os.environ.get("NLPGRADE_CACHE")
    root = Path(base) if base else Path.home() / ".cache" / "nlpgrade"
    if not root.exists():
        root.parent.mkdir(parents=True, exist_ok=True)
        root.mkdir(mode=0o700, exist_ok=True)  # calibrations derive from the reference
    return root


def owned_dir(path: Path, mode: int = 0o700) -> Path:
    """Create ``path`` (and parents) if needed, with ``mode``; refuse it unless it is our own.

    A link, a file, or a folder of another user at that place raises ``PermissionError``.
    """
    path.mkdir(parents=True, exist_ok=True, mode=mode)
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
        raise PermissionError(f"{path} is not a folder of this user: refusing to use it")
    if stat.S_IMODE(st.st_mode) != mode:
        os.chmod(path, mode)
    return path
