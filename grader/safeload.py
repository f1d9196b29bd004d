"""Open a student's checkpoint in the trusted parent without running its code or trusting its sizes.

``load_state_dict`` bounds everything before ``torch.load(weights_only=True)`` (which refuses
pickled code) is called:

* the file's size on disk, and that it is a zip-format checkpoint (legacy pickles are refused);
* every zip member's declared uncompressed size, the sum of them, and the member count;
* every member really inflated, streamed under the same byte budget (a deflate bomb stops at the
  budget, it is never held in memory), with its CRC;
* PyTorch's own zip reader's view of the records (the sizes it will allocate) must equal that;
* after loading, the bytes every tensor spans (a stride-0 view can claim a huge shape over a
  one-element storage) are bounded by the same budget.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import torch

MAX_MEMBERS = 10_000
CHUNK = 1 << 20


class CheckpointError(Exception):
    """A student checkpoint that cannot be used; ``str(err)`` is meant for the student."""


class CheckpointTooLarge(CheckpointError):
    """The file is over the size budget, on disk or once inflated (it was not loaded)."""


class UnsafeCheckpoint(CheckpointError):
    """The file holds more than tensors (pickled objects or code)."""


class BadCheckpoint(CheckpointError):
    """The file is not a readable PyTorch checkpoint of a state dict."""


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


def _too_large(name: str, what: str, max_bytes: int) -> CheckpointTooLarge:
    return CheckpointTooLarge(
        f"{name} {what}; the limit is {_mib(max_bytes)} (save only model.state_dict() with "
        "torch.save, which writes the tensors uncompressed)"
    )


def _check_zip(path: Path, max_bytes: int) -> dict[str, int]:
    """Inflate every member under the budget; member name -> size. Raises CheckpointError."""
    name = path.name
    with open(path, "rb") as fh:
        magic = fh.read(4)
    if magic != b"PK\x03\x04":
        raise BadCheckpoint(
            f"{name} is not a zip-format PyTorch checkpoint (an old-format pickle or another "
            f"kind of file); save it with torch.save(model.state_dict(), {name!r})"
        )
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            if len(infos) > MAX_MEMBERS:
                raise BadCheckpoint(f"{name} holds {len(infos):,} records; a state dict needs few")
            declared = sum(i.file_size for i in infos)
            if declared > max_bytes:
                raise _too_large(name, f"expands to {_mib(declared)}", max_bytes)
            sizes: dict[str, int] = {}
            left = max_bytes
            for info in infos:
                if info.filename in sizes:
                    raise BadCheckpoint(f"{name} holds two records named {info.filename[:80]!r}")
                seen = 0
                with archive.open(info) as member:
                    while block := member.read(min(CHUNK, left - seen + 1)):
                        seen += len(block)
                        if seen > left:
                            raise _too_large(name, "expands past its size on disk", max_bytes)
                if seen != info.file_size:
                    raise BadCheckpoint(f"{name} has a record whose size does not match its header")
                left -= seen
                sizes[info.filename] = seen
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError) as exc:
        msg = f"{name} is not a PyTorch checkpoint (broken zip: {exc})"[:300]
        raise BadCheckpoint(msg) from exc
    except OSError as exc:
        raise BadCheckpoint(f"{name}: cannot be read ({exc.strerror or exc})") from exc
    return sizes


def _check_torch_view(path: Path, sizes: dict[str, int]) -> None:
    """PyTorch's reader must see exactly the records (and sizes) that were inflated above."""
    name = path.name
    try:
        reader = torch._C.PyTorchFileReader(str(path))
        records = {r: reader.get_record_size(r) for r in reader.get_all_records()}
    except RuntimeError as exc:
        raise BadCheckpoint(f"{name} is not a PyTorch checkpoint ({exc})"[:300]) from exc
    # The reader names records without the archive's top-level folder ("archive/data.pkl").
    tails = {n.split("/", 1)[1] if "/" in n else n: s for n, s in sizes.items()}
    if any(tails.get(r) != s for r, s in records.items()):
        raise BadCheckpoint(f"{name} is a zip whose records disagree with each other (crafted?)")


def _tensor_span(t: torch.Tensor) -> int:
    """Bytes a tensor's elements span in memory once made contiguous."""
    return t.numel() * t.element_size()


def load_state_dict(path: Path, max_bytes: int) -> dict[str, torch.Tensor]:
    """Tensors of the state dict saved at ``path`` (at most ``max_bytes`` on disk and inflated)."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise BadCheckpoint(f"{path.name}: cannot be read ({exc.strerror})") from exc
    if not path.is_file():
        raise BadCheckpoint(f"{path.name}: not a regular file")
    if size > max_bytes:
        raise _too_large(path.name, f"is {_mib(size)}", max_bytes)
    _check_torch_view(path, _check_zip(path, max_bytes))
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
    span = sum(_tensor_span(t) for t in tensors.values())
    if span > max_bytes:  # e.g. a stride-0 view claiming a huge shape over one element
        raise _too_large(path.name, f"holds tensors spanning {_mib(span)} in memory", max_bytes)
    return tensors
