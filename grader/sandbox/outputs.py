"""Read a finished probe's outputs from the scratch: capped, symlink-proof, validated.

Every string in what comes back is sandbox-controlled: the error's type, message and frames are
made inert (:mod:`grader.sandboxtext`) here, once, and rejection messages name an exported file
only through the same helper.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from pydantic import ValidationError
from safetensors.torch import load as load_safetensors

from grader.safejson import JSONRejected, loads_capped
from grader.sandboxtext import sandbox_name, sandbox_text

from .models import Limits, ProbeError
from .scratch import OutputRejected, copy_capped, read_capped

JSON_MAX = 1024 * 1024
MIB = 1024 * 1024
MAX_PATCHED = 40
PATCHED_NAME = re.compile(
    r"[\w.]{1,160} \((replaced|added|deleted)\)|\(the comparison failed: \w{1,60}\)"
)


@dataclass
class ProbeOutputs:
    """What the probe left in its ``out/`` and ``work/`` dirs."""

    stdout_tail: str = ""
    stderr_tail: str = ""
    done: bool = False
    data: dict[str, Any] = field(default_factory=dict)
    tensors: dict[str, torch.Tensor] = field(default_factory=dict)
    error: ProbeError | None = None
    files: dict[str, Path] = field(default_factory=dict)
    rejected: str | None = None
    patched: list[str] = field(default_factory=list)
    stack: list[str] = field(default_factory=list)  # student frames of the dumped stack


def _json(out: Path, name: str, cap: int) -> Any:
    """Parse a JSON output file (None when absent)."""
    raw = read_capped(out, name, cap)
    if raw is None:
        return None
    try:
        return loads_capped(raw, what=name)
    except JSONRejected as exc:
        raise OutputRejected(str(exc)) from exc


def _safe_parts(name: str) -> list[str]:
    """Components of a relative export name; OutputRejected for anything that could escape."""
    parts = name.split("/")
    if (
        not name
        or name.startswith("/")
        or any(p in ("", ".", "..") for p in parts)
        or "\0" in name
        or len(name) > 255
    ):
        raise OutputRejected(f"bad exported file name '{sandbox_text(name, 60)}'")
    return parts


def _inert_error(err: ProbeError) -> ProbeError:
    """The error with every sandbox string capped and made inert (frames: the last 8)."""
    return ProbeError(
        type=sandbox_name(err.type),
        message=sandbox_text(err.message),
        student_frames=[sandbox_text(f, 200) for f in err.student_frames[-8:]],
        todo=err.todo,
    )


def read_logs(pdir: Path, limits: Limits, into: ProbeOutputs) -> None:
    """Fill the stdout/stderr tails (never fails)."""
    cap = limits.log_kb * 1024
    for name, attr in (("stdout.log", "stdout_tail"), ("stderr.log", "stderr_tail")):
        try:
            raw = read_capped(pdir / "out", name, cap, tail=True) or b""
        except OutputRejected as exc:
            raw = f"<{exc}>".encode()
        setattr(into, attr, raw.decode("utf-8", errors="replace"))


def read_patched(out: Path) -> list[str]:
    """What the worker saw student code change in torch/builtins (a hint; names validated)."""
    try:
        meta = _json(out, "meta.json", 64 * 1024)
    except OutputRejected:
        return ["(meta.json unreadable)"]
    names = meta.get("patched") if isinstance(meta, dict) else None
    if not isinstance(names, list):
        return []
    good = [n for n in names if isinstance(n, str) and PATCHED_NAME.fullmatch(n)]
    return good[:MAX_PATCHED]


def read_outputs(pdir: Path, limits: Limits, files_dest: Path) -> ProbeOutputs:
    """Read logs, done marker, error, data, tensors and exported files of one probe."""
    res = ProbeOutputs()
    read_logs(pdir, limits, res)
    res.patched = read_patched(pdir / "out")
    out, cap = pdir / "out", limits.output_mb * MIB
    try:
        res.done = read_capped(out, "done", 64) is not None
        err = _json(out, "error.json", JSON_MAX)
        if err is not None:
            res.error = _inert_error(ProbeError.model_validate(err))
        data = _json(out, "result.json", JSON_MAX)
        if data is not None and not isinstance(data, dict):
            raise OutputRejected("result.json is not an object")
        res.data = data or {}
        blob = read_capped(out, "tensors.safetensors", cap)
        if blob is not None:
            try:
                res.tensors = dict(load_safetensors(blob))
            except Exception as exc:
                raise OutputRejected("tensors.safetensors is not a valid safetensors file") from exc
        names = _json(out, "files.json", 64 * 1024) or []
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise OutputRejected("files.json is not a list of names")
        left = cap
        for name in names:
            dest = files_dest.joinpath(*_safe_parts(name))
            try:
                left -= copy_capped(pdir / "work", name, dest, left)
            except FileNotFoundError:
                continue
            except OutputRejected as exc:  # its text starts with the sandbox-chosen name
                reason = str(exc).removeprefix(f"{name}: ")
                reason = reason if reason != str(exc) else "not a plain file"
                raise OutputRejected(
                    f"exported file '{sandbox_text(name, 60)}' refused: {reason}"
                ) from exc
            res.files[name] = dest
    except (OutputRejected, ValidationError) as exc:
        res.rejected = sandbox_text(str(exc).splitlines()[0] if str(exc) else "", 200)
        res.data, res.tensors, res.files = {}, {}, {}
    return res
