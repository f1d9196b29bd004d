"""Write a probe's raw outputs (JSON, safetensors, error, exports, done marker)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def _write(path: Path, data: bytes) -> None:
    """Create ``path`` (never following a planted symlink) and write ``data``."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as JSON."""
    _write(path, json.dumps(obj, allow_nan=True, default=_json_default).encode())


def _json_default(obj: Any) -> Any:
    """Turn tensors/numbers that JSON does not know into plain values."""
    tolist = getattr(obj, "tolist", None)
    if callable(tolist):
        return tolist()
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


def write_tensors(path: Path, tensors: dict[str, Any]) -> None:
    """Save tensors as plain, contiguous CPU tensors with safetensors."""
    import torch
    from safetensors.torch import save

    plain: dict[str, torch.Tensor] = {}
    for key, value in tensors.items():
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"emitted tensor {key!r} is a {type(value).__name__}")
        t = value.detach()
        if type(t) is not torch.Tensor:
            t = t.as_subclass(torch.Tensor)
        plain[str(key)] = t.to("cpu").contiguous().clone()
    _write(path, save(plain))


def write_done(path: Path) -> None:
    """Mark that the probe function returned and its outputs are complete."""
    _write(path, b"done\n")
