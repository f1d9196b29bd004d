"""What a session needs of a backend: the worker handle, its view of the paths, the errors, and
the ``Backend`` protocol that ``base.Sandbox`` implements (kept apart so that ``session`` and
``base`` do not import each other)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from .cgroups import SessionCgroups
    from .channel import Channel
    from .models import SandboxSpec
    from .scratch import SessionDirs


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


class Backend(Protocol):
    """The part of ``base.Sandbox`` a ``Session`` uses."""

    name: str
    deny_network: bool
    pid_namespace: bool

    def child_ids(self) -> tuple[int, int] | None:
        """(uid, gid) the probe children switch to, or None."""
        ...

    def scratch_owner(self) -> tuple[int, int] | None:
        """Owner of the probe's writable dirs."""
        ...

    def want_cgroups(self) -> bool:
        """Whether probes go into host cgroups made by the parent."""
        ...

    def view(self, spec: SandboxSpec, dirs: SessionDirs) -> WorkerView:
        """Where the worker finds its paths."""
        ...

    def launch(
        self, spec: SandboxSpec, dirs: SessionDirs, view: WorkerView, cgroups: SessionCgroups | None
    ) -> Worker:
        """Start a worker process."""
        ...
