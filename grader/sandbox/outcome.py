"""Classify how a probe ended (ok / timeout / oom / crash / host overload) and word it."""

from __future__ import annotations

import errno
import os
import signal
from dataclasses import dataclass, field
from typing import Any

from .models import Limits, ProbeError, ProbeStatus

BUSY_FRACTION = 0.5  # CPU / wall at the net above which the probe got the CPU: it was busy
CHILD_INTERNAL = {70: "was aborted before it started", 71: "the probe harness failed"}


@dataclass
class RawEnd:
    """Facts the parent gathered about a finished probe."""

    wait_status: int | None = None
    timed_out: bool = False  # stopped by the parent: over its CPU budget or at the wall net
    cpu_over: bool = False  # the parent stopped it because its tree used up the CPU budget
    starved: bool | None = None  # at the wall net: it wanted the CPU (None: cannot tell)
    worker_died: bool = False
    oom_kills: int = 0
    cpu_s: float | None = None
    done: bool = False
    error: ProbeError | None = None
    rejected: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def decode_wait(status: int | None) -> tuple[int | None, str | None]:
    """(exit code, signal name) from a wait status."""
    if status is None:
        return None, None
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            return None, signal.Signals(sig).name
        except ValueError:
            return None, f"signal {sig}"
    if os.WIFEXITED(status):
        return os.WEXITSTATUS(status), None
    return None, None


def _error_message(err: ProbeError, limits: Limits) -> str:
    """One line for an exception raised in the probe."""
    if err.type == "SystemExit":
        return f"called sys.exit({err.message}) before returning a result"
    if err.todo:
        detail = f": {err.message}" if err.message else ""
        return f"not implemented yet (NotImplementedError{detail})"
    line = f"raised {err.type}: {err.message}".strip().rstrip(":")
    if "File too large" in err.message or f"[Errno {errno.EFBIG}]" in err.message:
        line += f" (file-size limit {limits.fsize_mb} MiB)"
    elif err.type == "BlockingIOError" and f"[Errno {errno.EAGAIN}]" in err.message:
        line += f" (process limit {limits.pids})"
    return line.splitlines()[0][:500] if line else line


def classify(raw: RawEnd, limits: Limits) -> tuple[ProbeStatus, str]:
    """Status and message of a probe from what the parent observed."""
    code, sig = decode_wait(raw.wait_status)
    cpu_over = raw.cpu_over or (raw.cpu_s is not None and raw.cpu_s >= limits.cpu_s)
    if raw.timed_out and cpu_over:
        return ProbeStatus.TIMEOUT, f"ran out of its {limits.cpu_s:g} s CPU-time budget"
    if raw.timed_out and raw.cpu_s is not None and raw.cpu_s >= BUSY_FRACTION * limits.wall_s:
        return ProbeStatus.TIMEOUT, f"ran out of its {limits.wall_s:g} s wall-clock budget"
    if raw.timed_out:
        used = f"{raw.cpu_s:.1f} s" if raw.cpu_s is not None else "less than its budget"
        if raw.starved is False:
            return ProbeStatus.TIMEOUT, (
                f"sat idle until its {limits.wall_s:g} s wall-clock limit, using only {used} of "
                "CPU (sleeping, or waiting for something that never came)"
            )
        return ProbeStatus.HOST_OVERLOAD, (
            f"did not get the CPU it needed: the grading machine was overloaded ({used} of its "
            f"{limits.cpu_s:g} s CPU budget in {limits.wall_s:g} s of wall-clock time)"
        )
    if raw.oom_kills > 0:
        return ProbeStatus.OOM, f"killed: used more than {limits.memory_mb} MiB"
    if sig == "SIGXCPU" or (sig == "SIGKILL" and cpu_over):
        return ProbeStatus.TIMEOUT, f"ran out of its {limits.cpu_s:g} s CPU-time budget"
    if raw.worker_died:
        return ProbeStatus.CRASH, "the sandbox worker died during the probe"
    if raw.error is not None and raw.error.type == "MemoryError":
        return ProbeStatus.OOM, f"raised MemoryError: over its {limits.memory_mb} MiB budget"
    if sig is not None:
        return ProbeStatus.CRASH, f"killed by signal {sig}"
    if raw.rejected is not None:
        return ProbeStatus.CRASH, f"output rejected: {raw.rejected}"
    if raw.error is not None:
        return ProbeStatus.CRASH, _error_message(raw.error, limits)
    if code in CHILD_INTERNAL and not raw.done:
        return ProbeStatus.CRASH, CHILD_INTERNAL[code]
    if code not in (0, None):
        return ProbeStatus.CRASH, f"exited with code {code} before returning a result"
    if not raw.done:
        return ProbeStatus.CRASH, "exited with code 0 before returning a result (os._exit?)"
    return ProbeStatus.OK, "ok"
