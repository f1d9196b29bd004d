"""Build the bubblewrap command line of a worker (mount plan, namespaces, environment)."""

from __future__ import annotations

import os
from pathlib import Path

from . import hostpaths
from .base import WorkerView
from .environment import worker_environment
from .models import SandboxSpec

SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32")
ETC_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d")
NOBODY = (65534, 65534)
LIB = "/opt/nlpgrade"
NAMESPACES = [
    "--unshare-ipc",
    "--unshare-pid",
    "--unshare-net",
    "--unshare-uts",
    "--unshare-cgroup-try",
    "--die-with-parent",
    "--new-session",
    "--hostname",
    "nlpgrade",
]
ROOT_CAPS = [
    "--cap-drop",
    "ALL",
    "--cap-add",
    "CAP_SETUID",
    "--cap-add",
    "CAP_SETGID",
    "--cap-add",
    "CAP_KILL",
]


def _under(path: str, roots: list[str]) -> bool:
    """Whether ``path`` is one of ``roots`` or inside one."""
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)


class MountPlan:
    """Read-only binds plus the directories their mount points need (made 0755)."""

    def __init__(self) -> None:
        self.covered: list[str] = []
        self.dirs: list[str] = []
        self.args: list[str] = []

    def _parents(self, dest: str) -> None:
        parts = Path(dest).parts[1:-1]
        cur = ""
        for part in parts:
            cur = f"{cur}/{part}"
            if not _under(cur, self.covered) and cur not in self.dirs:
                self.dirs.append(cur)

    def bind(self, src: str, dest: str, flag: str = "--ro-bind") -> None:
        """Mount host ``src`` at ``dest`` (skipped when an earlier bind covers it)."""
        if flag == "--ro-bind" and src == dest and _under(dest, self.covered):
            return
        self._parents(dest)
        self.args += [flag, src, dest]
        self.covered.append(dest)

    def symlink(self, target: str, dest: str) -> None:
        """Create symlink ``dest`` -> ``target``."""
        self.args += ["--symlink", target, dest]
        self.covered.append(dest)

    def render(self) -> list[str]:
        """The bwrap arguments, parent dirs first."""
        out: list[str] = []
        for d in self.dirs:
            out += ["--perms", "0755", "--dir", d]
        return out + self.args


def mount_plan(spec: SandboxSpec, scratch: Path) -> MountPlan:
    """System, interpreter, worker code, probe module, submission, kit, extras, scratch."""
    plan = MountPlan()
    for d in SYSTEM_DIRS:
        if os.path.islink(d):
            plan.symlink(os.readlink(d), d)
        elif os.path.isdir(d):
            plan.bind(d, d)
    for f in ETC_FILES:
        if os.path.exists(f):
            plan.bind(f, f)
    for root in sorted(hostpaths.python_roots(), key=len):
        plan.bind(root, root)
    plan.bind(str(hostpaths.WORKER_SRC), f"{LIB}/nlpgrade_worker")
    probe = spec.probe_module.resolve()
    plan.bind(str(probe), f"{LIB}/probes/{probe.name}")
    plan.bind(str(spec.submission_dir.resolve()), "/submission")
    plan.bind(str(spec.kit_dir.resolve()), "/kit")
    for dest, src in sorted(spec.extra_ro.items()):
        plan.bind(str(Path(src).resolve()), dest)
    plan.bind(str(scratch), "/scratch", "--bind")
    return plan


def environment(spec: SandboxSpec) -> list[str]:
    """``--clearenv`` and ``--setenv`` for the worker's environment (``worker_environment``)."""
    env = worker_environment(
        spec,
        container_view(spec),
        home="/tmp",
        tmp="/tmp",
        path="/usr/bin:/bin",
        extra_base={"USER": "nobody", "LOGNAME": "nobody"},
    )
    out = ["--clearenv"]
    for k, v in env.items():
        out += ["--setenv", k, v]
    return out


def build_command(
    bwrap: str,
    spec: SandboxSpec,
    scratch: Path,
    root_mode: bool,
    tmp_size_mb: int | None,
    inner: list[str],
) -> list[str]:
    """The full ``bwrap ... -- python ...`` argv."""
    cmd = [bwrap, *NAMESPACES]
    cmd += ROOT_CAPS if root_mode else ["--unshare-user"]
    size = ["--size", str(tmp_size_mb * 1024 * 1024)] if tmp_size_mb is not None else []
    # /tmp first: binds that live under /tmp on the host (a venv in a CI clone under /tmp) are
    # then mounted on top of the fresh tmpfs instead of being hidden by it.
    cmd += [*size, "--perms", "1777", "--tmpfs", "/tmp"]
    cmd += mount_plan(spec, scratch).render()
    for hidden in hostpaths.installed_grader_dirs():
        cmd += ["--tmpfs", hidden]
    cmd += ["--proc", "/proc", "--dev", "/dev"]
    cmd += [*size, "--perms", "1777", "--tmpfs", "/dev/shm"]  # DataLoader workers need shm
    cmd += ["--chdir", "/scratch"]
    cmd += environment(spec)
    return [*cmd, "--", *inner]


def container_view(spec: SandboxSpec) -> WorkerView:
    """The fixed in-sandbox paths shared by the bwrap and docker backends."""
    return WorkerView(
        kit="/kit",
        submission="/submission",
        probe_module=f"{LIB}/probes/{spec.probe_module.resolve().name}",
        scratch="/scratch",
        lib=LIB,
        extra={k: k for k in spec.extra_ro},
    )
