"""Per-session and per-probe cgroups (v1 memory+pids[+cpu+cpuacct] hierarchies, or v2 unified).

Layout: ``<base>/nlpgrade-<id>/worker`` holds the sandbox worker, ``<base>/nlpgrade-<id>/p<n>``
holds one probe child with its memory and pids limits. The probe cgroup's OOM counter tells an
OOM kill from any other SIGKILL; killing every pid in it removes whatever the probe left behind.

Where the cpu controller is available, the session group gets its own CPU share (one core per
job: ``cpu.max`` / ``cpu.cfs_quota_us``), so a submission that starts many busy processes slows
only itself; the probe group's CPU counter (``cpu.stat`` / ``cpuacct.usage``) measures the CPU
time of the probe's whole process tree, which is what its budget is charged in.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
import time
from pathlib import Path

MIB = 1024 * 1024


def _own_paths() -> dict[str, str]:
    """Controller (or '' for v2) -> this process's cgroup path, from /proc/self/cgroup."""
    out: dict[str, str] = {}
    with contextlib.suppress(OSError), open("/proc/self/cgroup") as fh:
        for line in fh:
            _, ctrls, path = line.rstrip("\n").split(":", 2)
            for c in ctrls.split(",") if ctrls else [""]:
                out[c] = path
    return out


def _mounts() -> list[tuple[str, str, set[str]]]:
    """(mount point, fstype, super options) of every cgroup mount."""
    found: list[tuple[str, str, set[str]]] = []
    with contextlib.suppress(OSError), open("/proc/self/mountinfo") as fh:
        for line in fh:
            left, right = line.split(" - ", 1)
            fstype, _, sopts = right.split()[:3]
            if fstype in ("cgroup", "cgroup2"):
                found.append((left.split()[4], fstype, set(sopts.split(","))))
    return found


def _write(path: Path, value: str) -> None:
    """Write a cgroup control file."""
    with open(path, "w") as fh:
        fh.write(value)


def _read(path: Path) -> str:
    """Read a cgroup control file ('' when missing)."""
    try:
        return path.read_text()
    except OSError:
        return ""


SESSION_NAME = re.compile(r"nlpgrade-[0-9a-f]{16}")  # what create_session_cgroups names
STALE_AGE_S = 600.0  # an empty session group this old is left over (never judged by its pid)
CFS_PERIOD_US = 100_000


def _pids_in(dirs: list[Path]) -> set[int]:
    """Pids listed in the cgroup.procs of ``dirs``."""
    pids: set[int] = set()
    for d in dirs:
        pids.update(int(x) for x in _read(d / "cgroup.procs").split())
    return pids


def _kill_all(dirs: list[Path], rounds: int = 200) -> None:
    """SIGKILL every process in ``dirs`` until they are empty (forks included)."""
    for d in dirs:
        if (d / "cgroup.kill").exists():
            with contextlib.suppress(OSError):
                _write(d / "cgroup.kill", "1")
    for _ in range(rounds):
        pids = _pids_in(dirs)
        if not pids:
            return
        for p in pids:
            with contextlib.suppress(OSError):
                os.kill(p, signal.SIGKILL)
        time.sleep(0.002)


def _rmdir(d: Path) -> None:
    """Remove an (empty) cgroup, retrying while the kernel finishes tearing down."""
    for _ in range(100):
        try:
            d.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.01)


class ProbeCgroup:
    """The cgroup(s) of one probe: limits, membership, OOM counter, peak memory, kill."""

    def __init__(self, dirs: dict[str, Path], v2: bool) -> None:
        self.dirs = dirs
        self.v2 = v2

    def set_limits(self, memory_mb: int, pids: int) -> None:
        """Memory (without extra swap) and process-count limits."""
        mem = self.dirs["memory"]
        limit = str(memory_mb * MIB)
        if self.v2:
            _write(mem / "memory.max", limit)
            if (mem / "memory.swap.max").exists():
                _write(mem / "memory.swap.max", "0")
            _write(self.dirs["pids"] / "pids.max", str(pids))
            return
        _write(mem / "memory.limit_in_bytes", limit)
        if (mem / "memory.memsw.limit_in_bytes").exists():
            _write(mem / "memory.memsw.limit_in_bytes", limit)
        _write(self.dirs["pids"] / "pids.max", str(pids))

    def add(self, pid: int) -> None:
        """Move ``pid`` into this probe's cgroup(s)."""
        for d in set(self.dirs.values()):
            _write(d / "cgroup.procs", str(pid))

    def oom_kills(self) -> int:
        """How many processes the kernel OOM-killed in this cgroup."""
        name = "memory.events" if self.v2 else "memory.oom_control"
        for line in _read(self.dirs["memory"] / name).splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
        return 0

    def cpu_s(self) -> float | None:
        """CPU seconds used by every process that ran in the probe group (None: not counted)."""
        if self.v2:
            for line in _read(self.dirs["memory"] / "cpu.stat").splitlines():
                key, _, value = line.partition(" ")
                if key == "usage_usec" and value.strip().isdigit():
                    return int(value) / 1e6
            return None
        if "cpuacct" not in self.dirs:
            return None
        text = _read(self.dirs["cpuacct"] / "cpuacct.usage").strip()
        return int(text) / 1e9 if text.isdigit() else None

    def pids(self) -> set[int]:
        """Host pids in the probe group now."""
        return _pids_in(list(set(self.dirs.values())))

    def peak_mb(self) -> float | None:
        """Peak memory use in MiB, when the kernel reports it."""
        name = "memory.peak" if self.v2 else "memory.max_usage_in_bytes"
        text = _read(self.dirs["memory"] / name).strip()
        return int(text) / MIB if text.isdigit() else None

    def kill_all(self) -> None:
        """Kill every process of the probe (daemons, forks) and wait until none is left."""
        _kill_all(list(set(self.dirs.values())))

    def remove(self) -> None:
        """Kill what is left and delete the cgroup(s)."""
        self.kill_all()
        for d in set(self.dirs.values()):
            _rmdir(d)


class SessionCgroups:
    """The cgroups of one session: a worker group and one group per probe."""

    def __init__(self, roots: dict[str, Path], v2: bool, cpus: float | None = None) -> None:
        self.roots = roots
        self.v2 = v2
        self.cpus = cpus
        self.worker = {k: r / "worker" for k, r in roots.items()}
        self._probes: list[ProbeCgroup] = []
        self.ensure()

    @property
    def cpu_share(self) -> bool:
        """Whether the session has its own CPU share (a cpu controller was usable)."""
        return self.cpus is not None

    def ensure(self) -> None:
        """(Re)create the session and worker groups and the CPU share.

        Another run's clean-up may remove an EMPTY session group (it cannot tell a live one
        in another pid namespace from a dead one), so the owner recreates it before each use.
        """
        for d in set(self.roots.values()):
            d.mkdir(exist_ok=True)
        if self.cpus is not None:
            quota = str(max(1000, int(self.cpus * CFS_PERIOD_US)))
            if self.v2:
                _write(self.roots["memory"] / "cpu.max", f"{quota} {CFS_PERIOD_US}")
            else:
                cpu = self.roots["cpu"]
                _write(cpu / "cpu.cfs_period_us", str(CFS_PERIOD_US))
                _write(cpu / "cpu.cfs_quota_us", quota)
        for d in set(self.worker.values()):
            d.mkdir(exist_ok=True)

    def worker_procs_files(self) -> list[Path]:
        """cgroup.procs files the worker must join before it starts."""
        return [d / "cgroup.procs" for d in set(self.worker.values())]

    def worker_pids(self) -> set[int]:
        """Host pids currently in the worker group."""
        return _pids_in(list(set(self.worker.values())))

    def host_pid(self, ns_pid: int) -> int | None:
        """Host pid of the worker-group process whose innermost pid is ``ns_pid``."""
        for pid in self.worker_pids():
            for line in _read(Path(f"/proc/{pid}/status")).splitlines():
                if line.startswith("NSpid:") and int(line.split()[-1]) == ns_pid:
                    return pid
        return None

    def new_probe(self, memory_mb: int, pids: int) -> ProbeCgroup:
        """Create a limited cgroup for the next probe."""
        self.ensure()
        name = f"p{secrets.token_hex(4)}"
        dirs = {k: r / name for k, r in self.roots.items()}
        for d in set(dirs.values()):
            d.mkdir()
        cg = ProbeCgroup(dirs, self.v2)
        try:
            cg.set_limits(memory_mb, pids)
        except OSError:
            cg.remove()
            raise
        self._probes.append(cg)
        return cg

    def release(self, cg: ProbeCgroup) -> None:
        """Forget a probe cgroup that was removed."""
        if cg in self._probes:
            self._probes.remove(cg)

    def kill_worker(self) -> None:
        """Kill every process of the worker group."""
        _kill_all(list(set(self.worker.values())))

    def destroy(self) -> None:
        """Kill everything and remove all cgroups of the session."""
        for cg in self._probes:
            cg.remove()
        self.kill_worker()
        for d in set(self.worker.values()):
            _rmdir(d)
        for d in set(self.roots.values()):
            _rmdir(d)


def oom_kills_of_pid(pid: int) -> int | None:
    """OOM-kill counter of the memory cgroup that holds host ``pid`` (None: not readable)."""
    own: dict[str, str] = {}
    with contextlib.suppress(OSError), open(f"/proc/{pid}/cgroup") as fh:
        for line in fh:
            _, ctrls, path = line.rstrip("\n").split(":", 2)
            for c in ctrls.split(",") if ctrls else [""]:
                own[c] = path
    for mnt, fstype, opts in _mounts():
        if fstype == "cgroup" and "memory" in opts and "memory" in own:
            f = Path(mnt + own["memory"]) / "memory.oom_control"
        elif fstype == "cgroup2" and "" in own:
            f = Path(mnt + own[""]) / "memory.events"
        else:
            continue
        text = _read(f)
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
    return None


def _bases() -> tuple[dict[str, Path], bool] | None:
    """Writable parent dirs per controller and whether it is v2.

    'memory' and 'pids' are required; v1 'cpu' and 'cpuacct' are added when mounted (v2 keeps
    them in the one unified dir).
    """
    own = _own_paths()
    mounts = _mounts()
    v1: dict[str, Path] = {}
    for mnt, fstype, opts in mounts:
        for ctrl in ("memory", "pids", "cpu", "cpuacct"):
            if fstype == "cgroup" and ctrl in opts and ctrl in own:
                v1[ctrl] = Path(mnt + own[ctrl].rstrip("/"))
    if "memory" in v1 and "pids" in v1:
        return v1, False
    for mnt, fstype, _ in mounts:
        if fstype == "cgroup2" and "" in own:
            base = Path(mnt + own[""].rstrip("/"))
            ctrls = _read(base / "cgroup.controllers").split()
            if "memory" in ctrls and "pids" in ctrls:
                return {"memory": base, "pids": base}, True
    return None


def _remove_stale(bases: dict[str, Path]) -> None:
    """Remove session groups left by graders that died without cleaning up.

    A group is judged by what is in it, never by whether its creator's pid is visible (another
    pid namespace's grader is invisible, not dead): only a group with no process in it, older
    than ``STALE_AGE_S``, is removed. Its owner, if alive after all, recreates it
    (:meth:`SessionCgroups.ensure`).
    """
    now = time.time()
    for base in set(bases.values()):
        with contextlib.suppress(OSError):
            for d in base.iterdir():
                if not SESSION_NAME.fullmatch(d.name) or not d.is_dir():
                    continue
                with contextlib.suppress(OSError):
                    if now - d.stat().st_mtime < STALE_AGE_S:
                        continue
                    subs = [s for s in d.iterdir() if s.is_dir()]
                    if _pids_in([*subs, d]):
                        continue
                    for s in subs:
                        _rmdir(s)
                    _rmdir(d)


def create_session_cgroups(cpus: float | None = 1.0) -> tuple[SessionCgroups | None, str]:
    """Create this session's cgroups; (None, reason) when cgroups are not usable here.

    ``cpus``: the session's CPU share in cores (None: none asked). When no cpu controller is
    usable the session still gets memory and pids limits; ``SessionCgroups.cpu_share`` says so.
    """
    found = _bases()
    if found is None:
        return None, "no memory+pids cgroup controllers found"
    bases, v2 = found
    _remove_stale(bases)
    name = f"nlpgrade-{secrets.token_hex(8)}"
    roots = {k: b / name for k, b in bases.items()}
    made: list[Path] = []
    try:
        if v2:
            with contextlib.suppress(OSError):
                _write(bases["memory"] / "cgroup.subtree_control", "+memory +pids")
            with contextlib.suppress(OSError):
                _write(bases["memory"] / "cgroup.subtree_control", "+cpu")
        for key in ("memory", "pids", "cpu", "cpuacct"):
            d = roots.get(key)
            if d is None or d in made:
                continue
            try:
                d.mkdir()
            except OSError:
                if key in ("memory", "pids"):
                    raise
                roots = {k: v for k, v in roots.items() if v != d}  # optional controller
                continue
            made.append(d)
        if v2:
            ctrls = _read(roots["memory"] / "cgroup.controllers").split()
            if "memory" not in ctrls or "pids" not in ctrls:
                raise OSError(0, "memory/pids controllers not delegated")
            _write(roots["memory"] / "cgroup.subtree_control", "+memory +pids")
            has_cpu = "cpu" in ctrls
            if has_cpu:
                try:
                    _write(roots["memory"] / "cgroup.subtree_control", "+cpu")
                except OSError:
                    has_cpu = False
        else:
            has_cpu = "cpu" in roots and (roots["cpu"] / "cpu.cfs_quota_us").exists()
        share = cpus if has_cpu else None
        try:
            return SessionCgroups(roots, v2, share), ""
        except OSError:
            if share is None:
                raise
            return SessionCgroups(roots, v2, None), ""  # cpu not writable: memory+pids only
    except OSError as exc:
        for d in made:
            _rmdir(d / "worker")
            _rmdir(d)
        return None, f"cgroups not writable ({exc.strerror or exc})"
