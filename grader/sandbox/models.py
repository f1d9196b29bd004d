"""Pydantic models of the sandbox API: limits, spec, probe outcomes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, Field

from grader.compat import StrEnum


class Limits(BaseModel):
    """Resource budget of ONE probe."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    wall_s: float = Field(60.0, gt=0)
    cpu_s: float = Field(120.0, gt=0)
    memory_mb: int = Field(3072, gt=0)
    pids: int = Field(64, gt=0)
    fsize_mb: int = Field(256, gt=0)
    output_mb: int = Field(64, gt=0)
    log_kb: int = Field(64, gt=0)


class ProbeStatus(StrEnum):
    """How a probe ended."""

    OK = "ok"
    TIMEOUT = "timeout"
    OOM = "oom"
    CRASH = "crash"


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
    extra_ro: dict[str, Path] = {}
    limits: Limits = Limits()
    threads: int = Field(1, gt=0)
    preload_torch: bool = True
    start_timeout_s: float = Field(120.0, gt=0)
