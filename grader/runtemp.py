"""The run's own private temporary areas, removed when the run ends.

A run (``grade``, ``precheck``, a test session) keeps everything temporary in two folders it
owns: ``tmp`` under the temp dir (``tempfile`` is pointed at it once :func:`activate` ran) and
``shm`` under ``/dev/shm`` (sandbox scratch: tmpfs, charged to memory). Both are ``mkdtemp``
folders (0700, unguessable names) holding an ``owner`` file that the run keeps ``flock``-ed
while it lives. They are removed at exit (normal exit, an exception, Ctrl-C or SIGTERM).

A run killed outright (SIGKILL, a crash) leaves them behind; the next run removes every such
area whose ``owner`` lock it can take, which proves the owner dead whatever pid namespace it ran
in (a pid that is not visible proves nothing). Areas of live runs are never touched.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import os
import shutil
import signal
import stat
import tempfile
import threading
import time
from pathlib import Path
from types import FrameType

PREFIX = "nlpgrade-run-"
OWNER = "owner"
SHM = "/dev/shm"

_lock = threading.RLock()  # re-entrant: the SIGTERM handler may interrupt a holder
_areas: dict[str, tuple[Path, int]] = {}  # kind -> (folder, fd holding the owner lock)
_base_tmp: str | None = None
_saved_tmpdir: tuple[str | None, str | None] | None = None  # tempfile.tempdir, $TMPDIR
_hooked = False


def _system_tmp() -> str:
    """The temp dir as it was before this run pointed ``tempfile`` at its own area."""
    global _base_tmp
    if _base_tmp is None:
        _base_tmp = tempfile.gettempdir()
    return _base_tmp


def _base(kind: str) -> str:
    """Where an area of ``kind`` lives: ``/dev/shm`` for ``shm`` when writable, else temp."""
    if kind == "shm" and os.path.isdir(SHM) and os.access(SHM, os.W_OK | os.X_OK):
        return SHM
    return _system_tmp()


def _take_owner_lock(folder: Path) -> int:
    """Create ``folder/owner`` already locked (locked under a temp name, then renamed)."""
    tmp = folder / f".{OWNER}.new"
    fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    info = {"pid": os.getpid(), "started": time.time()}
    with contextlib.suppress(OSError):
        info["pidns"] = os.readlink("/proc/self/ns/pid")
    os.write(fd, json.dumps(info).encode())
    os.rename(tmp, folder / OWNER)
    return fd


def _dead_owner_lock(d: Path) -> int | None:
    """An fd holding the free ``owner`` lock of area ``d`` (its owner is dead), else None."""
    try:
        st = os.lstat(d)
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
            return None
        fd = os.open(d / OWNER, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None  # no owner file (yet): nothing proves it dead
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)  # held: the owner is alive
        return None
    return fd


def sweep_stale(base: str | Path) -> list[Path]:
    """Remove areas under ``base`` whose owner is provably dead (its lock is free); return them."""
    try:
        entries = sorted(Path(base).iterdir())
    except OSError:
        return []
    removed: list[Path] = []
    for d in entries:
        if not d.name.startswith(PREFIX):
            continue
        fd = _dead_owner_lock(d)
        if fd is None:
            continue
        try:
            shutil.rmtree(d, ignore_errors=True)
            removed.append(d)
        finally:
            os.close(fd)
    return removed


def area(kind: str = "tmp") -> Path:
    """This run's private folder of ``kind`` (``tmp`` or ``shm``), created on first use."""
    with _lock:
        if kind in _areas:
            return _areas[kind][0]
        base = _base(kind)
        sweep_stale(base)
        folder = Path(tempfile.mkdtemp(prefix=PREFIX, dir=base))
        fd = _take_owner_lock(folder)
        _areas[kind] = (folder, fd)
        _hook()
        return folder


def activate() -> Path:
    """Point ``tempfile`` (and child processes via ``TMPDIR``) at this run's ``tmp`` area."""
    global _saved_tmpdir
    _system_tmp()
    folder = area("tmp")
    if tempfile.tempdir != str(folder):
        _saved_tmpdir = (tempfile.tempdir, os.environ.get("TMPDIR"))
        tempfile.tempdir = str(folder)
        os.environ["TMPDIR"] = str(folder)
    return folder


def cleanup() -> None:
    """Remove every area of this run and point ``tempfile`` back (also run at exit)."""
    global _saved_tmpdir
    with _lock:
        if _saved_tmpdir is not None:
            tempfile.tempdir, env = _saved_tmpdir
            if env is None:
                os.environ.pop("TMPDIR", None)
            else:
                os.environ["TMPDIR"] = env
            _saved_tmpdir = None
        while _areas:
            _, (folder, fd) = _areas.popitem()
            shutil.rmtree(folder, ignore_errors=True)
            with contextlib.suppress(OSError):
                os.close(fd)


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    """Remove the areas, then die of SIGTERM as the process would have."""
    cleanup()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _hook() -> None:
    """Clean up at exit and on SIGTERM (when nobody else handles it and we are the main thread)."""
    global _hooked
    if _hooked:
        return
    _hooked = True
    atexit.register(cleanup)
    if threading.current_thread() is threading.main_thread():
        with contextlib.suppress(ValueError, OSError):
            if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
                signal.signal(signal.SIGTERM, _on_sigterm)
