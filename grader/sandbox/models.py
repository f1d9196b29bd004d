"""Pydantic models of the sandbox API: limits, spec, probe outcomes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator

from grader.compat import StrEnum

WALL_NET_FACTOR = 4.0  # the wall-clock safety net, in multiples of the CPU budget


class Limits(BaseModel):
    """Resource budget of ONE probe.

    ``cpu_s`` is the budget: CPU seconds of the probe's whole process tree. ``wall_s`` is only a
    safety net (default ``WALL_NET_FACTOR`` × ``cpu_s``) against a probe that sleeps or blocks;
    a probe that reaches it while it wanted the CPU but did not get it was slowed by the host.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    cpu_s: float = Field(60.0, gt=0)
    wall_s: float = Field(240.0, gt=0)
    memory_mb: int = Field(3072, gt=0)
    pids: int = Field(64, gt=0)
    fsize_mb: int = Field(256, gt=0)
    output_mb: int = Field(64, gt=0)
    log_kb: int = Field(64, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _default_wall_net(cls, data: Any) -> Any:
        """Derive the wall net from the CPU budget unless it is given."""
        if isinstance(data, dict) and "wall_s" not in data and "cpu_s" in data:
            data = {**data, "wall_s": WALL_NET_FACTOR * float(data["cpu_s"])}
        return data


class ProbeStatus(StrEnum):
    """How a probe ended."""

    OK = "ok"
    TIMEOUT = "timeout"
    OOM = "oom"
    CRASH = "crash"
    HOST_OVERLOAD = "host_overload"  # hit the wall net while starved of CPU: not the student's


class ProbeError(BaseModel):
    """An exception raised inside the probe (student code or the probe itself)."""

    type: str
    message: str
    student_frames: list[str] = []
    todo: bool = False


class ProbeOutcome(BaseModel):
    """Everything the parent learned from one probe (the worker's data is evidence only)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    probe: str
    status: ProbeStatus
    data: dict[str, Any] = {}
    tensors: dict[str, torch.Tensor] = Field(default_factory=dict, exclude=True)
    error: ProbeError | None = None
    message: str = ""
    exit_code: int | None = None
    signal: str | None = None
    stdout_tail: str = ""
    stderr_tail: str = ""
    wall_s: float = 0.0
    cpu_s: float | None = None
    peak_mem_mb: float | None = None
    files: dict[str, Path] = {}
    patched: list[str] = []  # torch/builtins names student code changed (worker's hint)
    stuck_at: list[str] = []  # on a timeout: the student's frames it was in, innermost last

    @property
    def ok(self) -> bool:
        """True when the probe returned normally."""
        return self.status is ProbeStatus.OK


class SandboxSpec(BaseModel):
    """What one session mounts and how its probes run."""

    model_config = ConfigDict(frozen=True)

    submission_dir: Path
    kit_dir: Path
    probe_module: Path
    extra_ro: dict[str, Path] = {}  # read-only assets: mount point in the worker -> host path
    env: dict[str, str] = {}  # the assignment's worker variables (see sandbox.environment)
    preload: tuple[str, ...] = ()  # modules the zygote imports after torch, before any fork
    limits: Limits = Limits()
    threads: int = Field(1, gt=0)
    preload_torch: bool = True
    start_timeout_s: float = Field(120.0, gt=0)
