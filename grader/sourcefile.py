"""Student source files read and parsed by the trusted parent, always under a size cap.

Intake accepts files up to gigabytes (checkpoints), and ``ast.parse`` of a small but deeply nested
expression can raise ``MemoryError`` or ``RecursionError`` in the parent. Every parent-side read or
parse of a student's ``.py`` goes through :func:`read_source` / :func:`parse_source`, which turn
all of that into one :class:`SourceRejected` with a message for the student.
"""

from __future__ import annotations

import ast
import os
import stat
from pathlib import Path

SOURCE_MAX = 1 << 20  # 1 MiB: the assignments' files are ~20 KB


class SourceRejected(ValueError):
    """A source file the parent will not read or parse; ``str(exc)`` is for the student."""


def read_source_bytes(path: Path, max_bytes: int = SOURCE_MAX) -> bytes:
    """At most ``max_bytes`` of a regular file (links not followed); SourceRejected otherwise."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        raise SourceRejected(f"{path.name} cannot be read ({exc.strerror})") from exc
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            raise SourceRejected(f"{path.name} is not a regular file")
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise SourceRejected(
            f"{path.name} is larger than {max_bytes // 1024:,} KiB, far more than this assignment "
            "needs; it was not read (remove embedded data or generated code)"
        )
    return data


def read_source(path: Path, max_bytes: int = SOURCE_MAX) -> str:
    """A source file's text (undecodable bytes replaced), under the size cap."""
    return read_source_bytes(path, max_bytes).decode("utf-8", errors="replace")


def parse_source(source: str | bytes, filename: str, max_bytes: int = SOURCE_MAX) -> ast.Module:
    """``ast.parse`` under the size cap; ``SyntaxError`` passes through, the rest is SourceRejected.

    ``ValueError`` (null bytes), ``MemoryError`` and ``RecursionError`` (deep nesting) become
    SourceRejected, so a hostile file costs one check, never the grader.
    """
    if len(source) > max_bytes:
        raise SourceRejected(f"{filename} is larger than {max_bytes // 1024:,} KiB; not parsed")
    try:
        return ast.parse(source, filename=filename)
    except SyntaxError:
        raise
    except SourceRejected:
        raise
    except ValueError as exc:
        raise SourceRejected(f"{filename} is not valid Python source: {exc}") from exc
    except (MemoryError, RecursionError) as exc:
        raise SourceRejected(
            f"{filename} nests expressions too deeply for Python's parser; simplify the "
            "expression (split it into several statements)"
        ) from exc


def parse_file(path: Path, filename: str, max_bytes: int = SOURCE_MAX) -> ast.Module:
    """Read ``path`` under the cap and parse it (see :func:`parse_source`)."""
    return parse_source(read_source_bytes(path, max_bytes), filename, max_bytes)
