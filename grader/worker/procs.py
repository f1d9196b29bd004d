"""Process helpers: prctl flags and killing every descendant left behind by a probe."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import time

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36


def prctl(option: int, value: int) -> bool:
    """Call prctl(2); False when unavailable (not Linux) or refused."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(option, value, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _children_map() -> dict[int, list[int]]:
    """Map ppid -> child pids, read from /proc (empty when /proc is missing)."""
    tree: dict[int, list[int]] = {}
    try:
        names = os.listdir("/proc")
    except OSError:
        return tree
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()
        tree.setdefault(int(fields[1]), []).append(int(name))
    return tree


def descendants(pid: int) -> list[int]:
    """All live descendants of ``pid`` (as seen in this pid namespace)."""
    tree = _children_map()
    out: list[int] = []
    todo = list(tree.get(pid, []))
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(tree.get(p, []))
    return out


def signal_descendants(sig: int = signal.SIGKILL) -> None:
    """Send ``sig`` to every descendant once, without reaping any of them."""
    for p in descendants(os.getpid()):
        with contextlib.suppress(OSError):
            os.kill(p, sig)


def reap() -> None:
    """Collect every exited child without blocking."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def kill_descendants(timeout: float = 5.0) -> int:
    """SIGKILL every descendant (we are a subreaper) until none is left; return how many."""
    killed: set[int] = set()
    me = os.getpid()
    deadline = time.monotonic() + timeout
    while True:
        pids = descendants(me)  # zombies included: done only once they are reaped
        if not pids:
            break
        for p in pids:
            with contextlib.suppress(OSError):
                os.kill(p, signal.SIGKILL)
            killed.add(p)
        reap()
        if time.monotonic() > deadline:
            break
        time.sleep(0.001)
    return len(killed)
