"""Host-side scratch space of a session and symlink-proof, size-capped reads from it.

Everything under the scratch is writable by the sandbox, so every read follows no symlink
(``O_NOFOLLOW`` on each component through directory fds), accepts only regular files with
one link, and stops at a byte cap.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import stat
import tempfile
from pathlib import Path

from grader import runtemp


class OutputRejected(Exception):
    """An output file of the sandbox is missing, too big or not a plain file."""


def _open_nofollow(base: Path, rel: str, flags: int) -> int:
    """Open ``base/rel`` walking each component with O_NOFOLLOW through dir fds."""
    parts = [p for p in rel.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts) or not parts:
        raise OutputRejected(f"bad path {rel!r}")
    dfd = os.open(base, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        for part in parts[:-1]:
            nfd = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=dfd)
            os.close(dfd)
            dfd = nfd
        return os.open(parts[-1], flags | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dfd)
    finally:
        os.close(dfd)


def read_capped(base: Path, rel: str, max_bytes: int, tail: bool = False) -> bytes | None:
    """Bytes of ``base/rel`` (None if absent); over ``max_bytes``: the tail, or OutputRejected."""
    try:
        fd = _open_nofollow(base, rel, os.O_RDONLY)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise OutputRejected(f"{rel}: not a plain file ({exc.strerror})") from exc
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
            raise OutputRejected(f"{rel}: not a plain file")
        if st.st_size > max_bytes:
            if not tail:
                raise OutputRejected(f"{rel}: {st.st_size} bytes, over the {max_bytes}-byte cap")
            fh.seek(st.st_size - max_bytes)
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        if not tail:
            raise OutputRejected(f"{rel}: over the {max_bytes}-byte cap")
        data = data[-max_bytes:]
    return data


def copy_capped(base: Path, rel: str, dest: Path, max_bytes: int) -> int:
    """Copy ``base/rel`` to the parent-owned ``dest`` with the same checks; return its size.

    FileNotFoundError when the file does not exist.
    """
    try:
        fd = _open_nofollow(base, rel, os.O_RDONLY)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise OutputRejected(f"{rel}: cannot open ({exc.strerror})") from exc
    with os.fdopen(fd, "rb") as src:
        st = os.fstat(src.fileno())
        if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
            raise OutputRejected(f"{rel}: not a plain file")
        if st.st_size > max_bytes:
            raise OutputRejected(f"{rel}: {st.st_size} bytes, over the {max_bytes}-byte cap")
        dest.parent.mkdir(parents=True, exist_ok=True)
        copied = 0
        with open(dest, "xb") as out:
            while chunk := src.read(1 << 20):
                copied += len(chunk)
                if copied > max_bytes:
                    raise OutputRejected(f"{rel}: over the {max_bytes}-byte cap")
                out.write(chunk)
    return copied


class SessionDirs:
    """``root/`` (parent-only) with ``scratch/`` (mounted in the sandbox), ``files/``, ``lib/``."""

    def __init__(self, sandbox_owner: tuple[int, int] | None) -> None:
        # Inside the run's own shm area (0700, owner-locked, removed at exit; see runtemp).
        self.root = Path(tempfile.mkdtemp(prefix="s-", dir=runtemp.area("shm")))
        self.scratch = self.root / "scratch"
        self.files = self.root / "files"
        self.lib = self.root / "lib"
        for d in (self.scratch, self.files, self.lib):
            d.mkdir(mode=0o755)
        os.chmod(self.scratch, 0o755)
        self.owner = sandbox_owner

    def new_probe_dir(self) -> Path:
        """A fresh, unguessable probe dir: ``in/`` (parent's), ``work/``, ``out/`` (sandbox's)."""
        pdir = self.scratch / f"p{secrets.token_hex(8)}"
        pdir.mkdir(mode=0o755)
        (pdir / "in").mkdir(mode=0o755)
        for sub in ("work", "out"):
            d = pdir / sub
            d.mkdir(mode=0o700)
            if self.owner is not None:
                os.chown(d, *self.owner)
        return pdir

    def remove_probe_dir(self, pdir: Path) -> None:
        """Delete a probe dir (rmtree never follows symlinks)."""
        shutil.rmtree(pdir, ignore_errors=True)

    def remove(self) -> None:
        """Delete everything of the session."""
        with contextlib.suppress(OSError):
            shutil.rmtree(self.root, ignore_errors=True)
