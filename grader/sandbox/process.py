"""The ``process`` backend: a plain subprocess with rlimits (and cgroups when writable).

It does NOT isolate: student code can read and write whatever your user can (only a seccomp
filter refuses non-Unix sockets, on Linux x86_64/aarch64). Meant for a student's own laptop
(``precheck``), never for grading others' code.
"""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

from . import hostpaths
from .base import Sandbox, Worker, WorkerView
from .cgroups import SessionCgroups
from .environment import worker_environment
from .models import SandboxSpec
from .popen_worker import PopenWorker, worker_argv
from .scratch import SessionDirs

ARCHES = ("x86_64", "aarch64")  # where the worker's seccomp network filter exists

WARNING = (
    "process backend: no isolation (student code can read and write your files); "
    "use it only for your own code"
)


class ProcessSandbox(Sandbox):
    """Plain subprocess worker with per-probe rlimits."""

    name = "process"
    isolates = False
    deny_network = True
    pid_namespace = False

    def __init__(self) -> None:
        super().__init__()
        self.warnings.append(WARNING)
        if not (sys.platform.startswith("linux") and platform.machine() in ARCHES):
            self.warnings.append("process backend: probes can use the network (no seccomp here)")
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            self.warnings.append("process backend as root: student code runs as root")
        if os.name != "posix" or not hasattr(os, "fork"):
            self.warnings.append("process backend: this OS has no fork(); probes cannot run")

    def view(self, spec: SandboxSpec, dirs: SessionDirs) -> WorkerView:
        """Host paths; the worker package is reached through a symlink in the session's lib/."""
        link = dirs.lib / "nlpgrade_worker"
        if not link.exists():
            link.symlink_to(hostpaths.WORKER_SRC)
        return WorkerView(
            kit=str(spec.kit_dir.resolve()),
            submission=str(spec.submission_dir.resolve()),
            probe_module=str(spec.probe_module.resolve()),
            scratch=str(dirs.scratch),
            lib=str(dirs.lib),
            extra={k: str(Path(v).resolve()) for k, v in spec.extra_ro.items()},
        )

    def launch(
        self, spec: SandboxSpec, dirs: SessionDirs, view: WorkerView, cgroups: SessionCgroups | None
    ) -> Worker:
        """Start the zygote as a child process with a minimal environment."""
        env = worker_environment(
            spec,
            view,
            home=str(dirs.scratch),
            tmp=str(dirs.scratch),
            path=os.environ.get("PATH", "/usr/bin:/bin"),
        )
        if sys.platform == "darwin":
            env["OBJC_DISABLE_INITIALIZE_FORK_SAFETY"] = "YES"
        cmd = worker_argv(hostpaths.interpreter(), view.lib)
        return PopenWorker(cmd, env, dirs.scratch, dirs.root / "worker.log", cgroups)
