"""The backend interface: ``Sandbox`` opens sessions (the running ``Worker`` handle, the view
and the errors live in ``worker_api``, which the session imports instead of this module)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

from .worker_api import SandboxError, SandboxUnavailable, Worker, WorkerView

if TYPE_CHECKING:
    from .cgroups import SessionCgroups
    from .models import SandboxSpec
    from .scratch import SessionDirs
    from .session import Session

__all__ = ["Sandbox", "SandboxError", "SandboxUnavailable", "Worker", "WorkerView"]


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
