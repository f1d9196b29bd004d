"""Sandbox layer: run untrusted submissions' probes in an isolated, limited worker.

``get_sandbox(name).open(spec)`` gives a ``Session`` whose ``run(probe, ...)`` returns a
``ProbeOutcome``. See ``grader/worker`` for the runtime inside the sandbox.
"""

from .base import Sandbox, SandboxError, SandboxUnavailable
from .models import Limits, ProbeError, ProbeOutcome, ProbeStatus, SandboxSpec
from .registry import backend_available, get_sandbox
from .session import Session

__all__ = [
    "Limits",
    "ProbeError",
    "ProbeOutcome",
    "ProbeStatus",
    "Sandbox",
    "SandboxError",
    "SandboxSpec",
    "SandboxUnavailable",
    "Session",
    "backend_available",
    "get_sandbox",
]
