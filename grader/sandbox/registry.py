"""Pick a backend by name: ``auto`` (bwrap when usable, else process), bwrap, docker, process."""

from __future__ import annotations

import functools

from .base import Sandbox, SandboxUnavailable

NAMES = ("auto", "bwrap", "docker", "process")


@functools.cache
def backend_available(name: str) -> tuple[bool, str]:
    """(usable here, reason or detail) for ``bwrap``, ``docker`` or ``process`` (cached)."""
    if name == "process":
        return True, "always available (no isolation)"
    if name == "bwrap":
        from .bwrap import probe_bwrap

        return probe_bwrap()
    if name == "docker":
        from .docker_backend import probe_docker

        return probe_docker()
    return False, f"unknown sandbox {name!r}; choose one of {', '.join(NAMES)}"


def get_sandbox(name: str = "auto") -> Sandbox:
    """A backend instance; ``SandboxUnavailable`` (with the reason) when it cannot run here."""
    if name == "auto":
        ok, _ = backend_available("bwrap")
        name = "bwrap" if ok else "process"
    ok, why = backend_available(name)
    if not ok:
        raise SandboxUnavailable(f"sandbox {name!r} is not available: {why}")
    if name == "bwrap":
        from .bwrap import BwrapSandbox

        return BwrapSandbox()
    if name == "docker":
        from .docker_backend import DockerSandbox

        return DockerSandbox()
    from .process import ProcessSandbox

    return ProcessSandbox()
