"""A worker started as a local child process (bwrap and process backends)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from pathlib import Path

from .base import Worker
from .cgroups import SessionCgroups
from .channel import Channel

# Joins the given cgroup.procs files, then execs the real command (no race with forks).
_JOIN = 'while [ "$1" != "--" ]; do echo $$ > "$1" || exit 97; shift; done; shift; exec "$@"'

BOOT = (
    "import sys; sys.path.insert(0, sys.argv[1]); from nlpgrade_worker.zygote import main; main()"
)


def worker_argv(python: str, lib: str) -> list[str]:
    """The interpreter command line that starts the zygote (absolute interpreter path)."""
    return [python, "-s", "-P", "-c", BOOT, lib]


class PopenWorker(Worker):
    """Worker process started with ``subprocess.Popen`` in its own process group."""

    def __init__(
        self,
        cmd: list[str],
        env: dict[str, str],
        cwd: Path,
        log: Path,
        cgroups: SessionCgroups | None,
    ) -> None:
        self._cgroups = cgroups
        if cgroups is not None:
            files = [str(p) for p in cgroups.worker_procs_files()]
            cmd = ["/bin/sh", "-c", _JOIN, "sh", *files, "--", *cmd]
        with open(log, "ab") as errlog:
            self.proc = subprocess.Popen(
                cmd,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=errlog,
                env=env,
                cwd=cwd,
                start_new_session=True,
                close_fds=True,
            )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.channel = Channel(os.dup(self.proc.stdin.fileno()), os.dup(self.proc.stdout.fileno()))
        self.proc.stdin.close()
        self.proc.stdout.close()

    def kill(self) -> None:
        """SIGKILL the process group and the worker cgroup, then reap."""
        with contextlib.suppress(OSError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        if self._cgroups is not None:
            self._cgroups.kill_worker()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        self.channel.close()
