"""The regular files of a submission (folder walk, zip members), each readable under a cap."""

from __future__ import annotations

import contextlib
import os
import stat
import zipfile
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .models import IntakeLimits
from .names import display
from .zipread import MB, IntakeRejected, ZipMember, is_junk, iter_member_chunks, list_zip, open_zip

MAX_DEPTH = 4  # how deep inside a submission we look for the expected files


@dataclass
class Entry:
    """A regular file found in a submission, with a way to read it under a byte cap."""

    path: str  # relative path inside the submission, for messages
    name: str  # name used for matching (an LMS prefix removed)
    size: int
    depth: int
    chunks: Callable[[int], Iterator[bytes]]
    disk_path: Path | None = None  # set for files on disk (a zip inside a folder can be opened)


def read_file_chunks(path: Path, label: str, cap: int, chunk: int = MB) -> Iterator[bytes]:
    """Yield a file's bytes without following links or opening FIFOs/devices; stop past ``cap``."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise IntakeRejected(f"{label} could not be opened ({exc.strerror}).") from exc
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise IntakeRejected(f"{label} is not a regular file; it was refused.")
        seen = 0
        while block := handle.read(chunk):
            seen += len(block)
            if seen > cap:
                raise IntakeRejected(f"{label} is larger than the size limit.")
            yield block


def disk_entry(path: Path, rel: str, name: str, size: int, depth: int) -> Entry:
    """An entry for a regular file on disk."""
    return Entry(
        rel,
        name,
        size,
        depth,
        lambda cap: read_file_chunks(path, display(rel), cap),
        disk_path=path,
    )


def walk_folder(root: Path, limits: IntakeLimits) -> tuple[list[Entry], list[str]]:
    """Regular files under ``root``, breadth first, up to MAX_DEPTH and ``limits.max_files``.

    Links and special files are dropped with a note. Past ``max_files`` entries the walk stops
    with a note instead of failing: top-level files have been seen first, and only the wanted
    names are ever copied, so a folder that also holds a data set can still be graded.
    """
    entries: list[Entry] = []
    problems: list[str] = []
    count = 0
    queue: deque[tuple[Path, str, int]] = deque([(root, "", 0)])
    while queue:
        folder, prefix, depth = queue.popleft()
        try:
            with os.scandir(folder) as it:
                children = sorted(it, key=lambda d: os.fsencode(d.name))
        except OSError as exc:
            problems.append(
                f"the folder {display(prefix) or '.'} could not be read "
                f"({exc.strerror}); its files were not looked at."
            )
            continue
        for child in children:
            if is_junk(child.name):
                continue
            rel = prefix + child.name
            count += 1
            if count > limits.max_files:
                problems.append(
                    f"stopped looking after {limits.max_files} files; submit only the files the "
                    "assignment asks for (no data sets or virtual environments)."
                )
                return entries, problems
            try:
                st = child.stat(follow_symlinks=False)
            except OSError as exc:
                problems.append(f"{display(rel)} could not be read ({exc.strerror}); skipped.")
                continue
            if stat.S_ISLNK(st.st_mode):
                problems.append(
                    f"{display(rel)} is a symbolic link; links are never followed, so "
                    "it was dropped. Submit the file itself, not a link to it."
                )
            elif stat.S_ISDIR(st.st_mode):
                if depth + 1 < MAX_DEPTH:
                    queue.append((Path(child.path), rel + "/", depth + 1))
            elif stat.S_ISREG(st.st_mode):
                entries.append(disk_entry(Path(child.path), rel, child.name, st.st_size, depth))
            else:
                problems.append(
                    f"{display(rel)} is not a regular file (a pipe, socket or "
                    "device); it was dropped."
                )
    return entries, problems


def zip_entries(
    path: Path,
    label: str,
    limits: IntakeLimits,
    stack: contextlib.ExitStack,
    prefix: str = "",
    depth0: int = 0,
) -> tuple[list[Entry], list[str]]:
    """Entries for the members of a zip on disk (kept open on ``stack`` until staging ends)."""
    archive = stack.enter_context(open_zip(path, label))
    listing = list_zip(
        archive,
        label,
        max_files=limits.max_files,
        max_total_mb=limits.max_total_mb,
        max_zip_ratio=limits.max_zip_ratio,
    )
    entries = [
        Entry(prefix + m.path, m.name, m.size, depth0 + m.depth, member_reader(archive, m, label))
        for m in listing.members
    ]
    return entries, listing.problems


def member_reader(
    archive: zipfile.ZipFile, member: ZipMember, label: str
) -> Callable[[int], Iterator[bytes]]:
    """A capped chunk reader for one zip member."""
    return lambda cap: iter_member_chunks(archive, member, label, cap_bytes=cap)


def with_nested_zips(
    entries: list[Entry], limits: IntakeLimits, stack: contextlib.ExitStack, problems: list[str]
) -> list[Entry]:
    """Add the members of zips found on disk (a folder or Canvas upload that is just a zip)."""
    zips = [e for e in entries if e.disk_path is not None and e.name.lower().endswith(".zip")]
    added: list[Entry] = []
    for entry in zips[:3]:
        assert entry.disk_path is not None
        inner, notes = zip_entries(
            entry.disk_path,
            f"the zip {display(entry.path)}",
            limits,
            stack,
            prefix=entry.path + "/",
            depth0=entry.depth + 1,
        )
        added.extend(inner)
        problems.extend(notes)
    return entries + added
