"""The backend interface: ``Sandbox`` (opens sessions) and the running ``Worker`` handle."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .cgroups import SessionCgroups
    from .channel import Channel
    from .models import SandboxSpec
    from .scratch import SessionDirs
    from .session import Session


class SandboxUnavailable(RuntimeError):
    """The requested backend cannot run here (the message says why and what to do)."""


class SandboxError(RuntimeError):
    """The sandbox itself failed (e.g. the worker did not start)."""


@dataclass(frozen=True)
class WorkerView:
    """Paths as the worker sees them inside its sandbox."""

    kit: str
    submission: str
    probe_module: str
    scratch: str
    lib: str
    extra: dict[str, str] = field(default_factory=dict)


class Worker(ABC):
    """A started worker process: its channel and a way to kill it."""

    channel: Channel

    @abstractmethod
    def kill(self) -> None:
        """Kill the worker and everything in it; wait for it."""

    def oom_kills(self) -> int | None:
        """OOM kills counted for the whole worker (when probes have no cgroup of their own)."""
        return None


class Sandbox(ABC):
    """A sandbox backend. ``open(spec)`` gives a ``Session`` (one worker per submission)."""

    name: str = ""
    isolates: bool = True
    deny_network: bool = False  # seccomp filter against non-Unix sockets in probe children
    pid_namespace: bool = True  # the worker's pids differ from the host's

    def __init__(self) -> None:
        self.warnings: list[str] = []

    def open(self, spec: SandboxSpec) -> Session:
        """A new session for one submission (the worker starts on the first probe)."""
        from .session import Session

        return Session(self, spec)

    def child_ids(self) -> tuple[int, int] | None:
        """(uid, gid) the probe children switch to, or None to keep the worker's."""
        return None

    def scratch_owner(self) -> tuple[int, int] | None:
        """Owner of the probe's writable dirs (None: the parent's own uid)."""
        return self.child_ids()

    def want_cgroups(self) -> bool:
        """Whether this backend puts probes into host cgroups made by the parent."""
        return True

    @abstractmethod
    def view(self, spec: SandboxSpec, dirs: SessionDirs) -> WorkerView:
        """Where the worker finds the kit, submission, probes, scratch and its own code."""

    @abstractmethod
    def launch(
        self, spec: SandboxSpec, dirs: SessionDirs, view: WorkerView, cgroups: SessionCgroups | None
    ) -> Worker:
        """Start a worker process (not yet configured)."""
