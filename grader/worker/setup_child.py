"""Per-probe set-up in the forked child: identity, rlimits, log files, seeds, workdir."""

from __future__ import annotations

import contextlib
import os
import random
import resource
import sys
from pathlib import Path
from typing import Any

MIB = 1024 * 1024


def drop_identity(uid: int | None, gid: int | None) -> None:
    """Switch to the unprivileged uid/gid (drops every capability)."""
    if uid is None or gid is None:
        return
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)


def _vm_size() -> int:
    """Current virtual size of this process in bytes (0 when unknown)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _set(kind: int, soft: int, hard: int | None = None) -> None:
    """setrlimit that never raises the hard limit above what it already is."""
    _, old_hard = resource.getrlimit(kind)
    hard = soft if hard is None else hard
    if old_hard != resource.RLIM_INFINITY:
        hard = min(hard, old_hard)
        soft = min(soft, hard)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(kind, (soft, hard))


def apply_rlimits(limits: dict[str, Any], cgroup: bool) -> None:
    """Set CPU, file size, core and (backstop or only) memory and process limits."""
    cpu = max(1, int(limits["cpu_s"] + 0.999))
    _set(resource.RLIMIT_CPU, cpu, cpu + 2)
    _set(resource.RLIMIT_FSIZE, int(limits["fsize_mb"]) * MIB)
    _set(resource.RLIMIT_CORE, 0)
    extra = 2048 * MIB if cgroup else 0
    _set(resource.RLIMIT_AS, _vm_size() + int(limits["memory_mb"]) * MIB + extra)
    if not cgroup and os.getuid() != 0 and hasattr(resource, "RLIMIT_NPROC"):
        _set(resource.RLIMIT_NPROC, int(limits["pids"]))


def redirect_logs(out: Path) -> None:
    """Point fds 0/1/2 at /dev/null and the probe's stdout/stderr log files."""
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    for fd, name in ((1, "stdout.log"), (2, "stderr.log")):
        f = os.open(out / name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        os.dup2(f, fd)
        os.close(f)
    text = {"encoding": "utf-8", "errors": "backslashreplace", "buffering": 1, "closefd": False}
    sys.stdout = open(1, "w", **text)  # noqa: SIM115
    sys.stderr = open(2, "w", **text)  # noqa: SIM115
    sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115


def seed_everything(seed: int, threads: int) -> None:
    """Seed python/numpy/torch, fix the thread count, ask torch for determinism."""
    random.seed(seed)
    np = sys.modules.get("numpy")
    if np is not None:
        np.random.seed(seed % 2**32)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(seed)
        torch.set_num_threads(threads)
        deterministic(torch)


def deterministic(torch: Any) -> None:
    """``torch.use_deterministic_algorithms(True, warn_only=True)`` without importing inductor."""
    setter = getattr(torch._C, "_set_deterministic_algorithms", None)
    if setter is not None:
        setter(True, warn_only=True)
    else:
        torch.use_deterministic_algorithms(True, warn_only=True)


def populate_workdir(work: Path, kit: Path) -> None:
    """Symlink every entry of the kit into the fresh workdir."""
    try:
        names = sorted(os.listdir(kit))
    except OSError:
        return
    for name in names:
        with contextlib.suppress(OSError):
            os.symlink(kit / name, work / name)
