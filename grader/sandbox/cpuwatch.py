"""CPU time of a running probe's process tree, and whether it was starved of CPU by the host.

The budget of a probe is CPU time of its whole tree: the probe cgroup's counter where there is
one, else ``utime + stime`` (and reaped children's) of the probe child and its live descendants
from ``/proc``. At the wall-clock safety net, ``/proc/<pid>/schedstat`` tells the two reasons
apart: time spent runnable but waiting for a CPU (``run_delay``) means the host was overloaded;
little CPU and little waiting means the probe slept or blocked.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from .cgroups import ProbeCgroup

STARVED_FRACTION = 0.5  # (CPU used + time runnable-but-waiting) / wall at which it "wanted" CPU
TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat_fields(pid: int) -> list[bytes] | None:
    """Fields of /proc/<pid>/stat after the command name (index 0 = state)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            raw = fh.read()
    except OSError:
        return None
    return raw[raw.rfind(b")") + 2 :].split()


def descendants(pid: int) -> list[int]:
    """Live descendants of host ``pid`` (from the ppid links in /proc)."""
    tree: dict[int, list[int]] = {}
    with contextlib.suppress(OSError):
        for name in os.listdir("/proc"):
            if name.isdigit():
                fields = _stat_fields(int(name))
                if fields is not None:
                    tree.setdefault(int(fields[1]), []).append(int(name))
    out: list[int] = []
    todo = list(tree.get(pid, []))
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(tree.get(p, []))
    return out


def find_host_pid(root: int, ns_pid: int) -> int | None:
    """The descendant of host ``root`` whose innermost (namespace) pid is ``ns_pid``."""
    for pid in descendants(root):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("NSpid:") and int(line.split()[-1]) == ns_pid:
                    return pid
    return None


def _proc_cpu_s(pids: list[int]) -> float:
    """utime + stime (+ reaped children's) of ``pids``, in seconds."""
    ticks = 0
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is not None and len(fields) > 14:
            ticks += sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
    return ticks / TICK


def _run_delay_s(pids: list[int]) -> float | None:
    """Seconds ``pids`` spent runnable but waiting for a CPU (None: no schedstat here)."""
    total, seen = 0, False
    for pid in pids:
        try:
            with open(f"/proc/{pid}/schedstat") as fh:
                total += int(fh.read().split()[1])
                seen = True
        except (OSError, IndexError, ValueError):
            continue
    return total / 1e9 if seen else None


class CpuWatch:
    """Samples one probe's tree: its CPU seconds and, at the end, whether it was starved."""

    def __init__(self, cgroup: ProbeCgroup | None, host_pid: int | None) -> None:
        self.cgroup = cgroup
        self.host_pid = host_pid

    def _pids(self) -> list[int]:
        if self.cgroup is not None:
            return sorted(self.cgroup.pids())
        if self.host_pid is None:
            return []
        return [self.host_pid, *descendants(self.host_pid)]

    def cpu_s(self) -> float | None:
        """CPU seconds used so far by the tree (None: cannot be measured here)."""
        if self.cgroup is not None:
            used = self.cgroup.cpu_s()
            if used is not None:
                return used
        pids = self._pids()
        return _proc_cpu_s(pids) if pids else None

    def starved(self, wall_s: float) -> bool | None:
        """Whether the tree wanted the CPU most of ``wall_s`` (None: cannot tell)."""
        pids = self._pids()
        delay = _run_delay_s(pids) if pids else None
        used = self.cpu_s()
        if delay is None or used is None or wall_s <= 0:
            return None
        return (used + delay) >= STARVED_FRACTION * wall_s
