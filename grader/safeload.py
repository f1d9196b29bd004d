"""Open a student's checkpoint in the trusted parent without running any of its code.

``load_state_dict`` checks the size first, then uses ``torch.load(weights_only=True)``
(which refuses pickled code) and keeps only tensors.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import torch


class CheckpointError(Exception):
    """A student checkpoint that cannot be used; ``str(err)`` is meant for the student."""


class CheckpointTooLarge(CheckpointError):
    """The file is over the size budget (it was not read)."""


class UnsafeCheckpoint(CheckpointError):
    """The file holds more than tensors (pickled objects or code)."""


class BadCheckpoint(CheckpointError):
    """The file is not a readable PyTorch checkpoint of a state dict."""


def load_state_dict(path: Path, max_bytes: int) -> dict[str, torch.Tensor]:
    """Tensors of the state dict saved at ``path`` (at most ``max_bytes`` on disk)."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise BadCheckpoint(f"{path.name}: cannot be read ({exc.strerror})") from exc
    if not path.is_file():
        raise BadCheckpoint(f"{path.name}: not a regular file")
    if size > max_bytes:
        raise CheckpointTooLarge(
            f"{path.name} is {size / 2**20:.1f} MiB; the limit is {max_bytes / 2**20:.1f} MiB "
            "(save only model.state_dict())"
        )
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "Unsupported operand" in str(exc):  # corrupt bytes, not a forbidden object
            raise BadCheckpoint(f"{path.name} is not a PyTorch checkpoint (corrupt)") from exc
        raise UnsafeCheckpoint(
            f"{path.name} contains Python objects other than tensors; save "
            "model.state_dict() with torch.save, not the model or custom classes"
        ) from exc
    except (RuntimeError, EOFError, ValueError, zipfile.BadZipFile, OSError) as exc:
        raise BadCheckpoint(f"{path.name} is not a PyTorch checkpoint ({exc})"[:500]) from exc
    if not isinstance(obj, dict):
        raise BadCheckpoint(f"{path.name} holds a {type(obj).__name__}, not a state dict")
    tensors = {str(k): v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise BadCheckpoint(f"{path.name} holds no tensors")
    return tensors
