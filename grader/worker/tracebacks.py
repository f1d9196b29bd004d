"""Turn an exception into the plain dict the parent turns into a ``ProbeError``."""

from __future__ import annotations

import linecache
import traceback
from typing import Any

MAX_MESSAGE = 2000
MAX_FRAMES = 20


def _rel(filename: str, roots: list[str]) -> str | None:
    """Path of ``filename`` relative to the first root containing it, else None."""
    for root in roots:
        prefix = root.rstrip("/") + "/"
        if filename.startswith(prefix):
            return filename[len(prefix) :]
    return None


def summarize(exc: BaseException, roots: list[str]) -> dict[str, Any]:
    """Type, message and the student frames (innermost last) of ``exc``."""
    frames: list[str] = []
    for fs in traceback.extract_tb(exc.__traceback__):
        rel = _rel(fs.filename, roots)
        if rel is not None:
            line = (fs.line or "").strip()
            frames.append(f"{rel}:{fs.lineno} in {fs.name}: {line}")
    if isinstance(exc, SyntaxError) and exc.filename:
        rel = _rel(exc.filename, roots)
        if rel is not None:
            src = linecache.getline(exc.filename, exc.lineno or 0).strip()
            frames.append(f"{rel}:{exc.lineno} in <module>: {src}")
    try:
        message = str(exc)
    except Exception:  # a hostile __str__
        message = "<unprintable message>"
    return {
        "type": type(exc).__name__,
        "message": message[:MAX_MESSAGE],
        "student_frames": frames[-MAX_FRAMES:],
        "todo": isinstance(exc, NotImplementedError),
        "errno": getattr(exc, "errno", None) if isinstance(exc, OSError) else None,
    }
