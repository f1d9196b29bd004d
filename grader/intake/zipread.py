"""Safe reading of student zips: list members under caps, refuse hostile archives, stream bytes.

Nothing is ever extracted by path. The intake picks the members it wants from :func:`list_zip`'s
entries and copies each one through :func:`open_member`, which stops at the byte cap whatever the
archive's header claims. Entries that could escape the staging folder (``../``, absolute paths,
drive letters) make the whole archive invalid; symbolic-link entries are dropped with a note.
"""

from __future__ import annotations

import re
import stat
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

MB = 1024 * 1024
RATIO_FLOOR_BYTES = 1 * MB  # below this, a high compression ratio is harmless (and common for text)
JUNK_NAMES = frozenset({"__MACOSX", ".DS_Store", "Thumbs.db", "desktop.ini", "__pycache__"})


class IntakeRejected(Exception):
    """The upload cannot be used at all; ``str(exc)`` is the student-readable reason."""


@dataclass(frozen=True)
class ZipMember:
    """One regular file inside a zip: its normalised path, size and depth (0 = top level)."""

    path: str
    size: int
    compressed: int
    depth: int
    info: zipfile.ZipInfo

    @property
    def name(self) -> str:
        """The member's base name."""
        return PurePosixPath(self.path).name


@dataclass
class ZipListing:
    """The usable members of an archive and the notes (dropped entries) a student should read."""

    members: list[ZipMember]
    problems: list[str]


def is_junk(part: str) -> bool:
    """True for OS and editor droppings that are never part of a submission (and never listed)."""
    return part in JUNK_NAMES or part.startswith(".") or part.endswith(".pyc")


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    """Whether a zip entry stores a symbolic link (Unix mode in the high bits of external_attr)."""
    mode = (info.external_attr >> 16) & 0xFFFF
    return stat.S_ISLNK(mode)


def _normalise(raw: str, label: str) -> str:
    """The member's path with ``/`` separators; IntakeRejected for paths that could escape."""
    name = raw.replace("\\", "/")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        raise IntakeRejected(
            f"{label} contains an entry with an absolute path ({raw!r}); zips must hold relative "
            "paths only. Re-create the zip from inside your project folder."
        )
    if ".." in name.split("/"):
        raise IntakeRejected(
            f"{label} contains an entry that points outside the zip ({raw!r}, with '..'); "
            "such archives are refused. Re-create the zip from inside your project folder."
        )
    return "/".join(p for p in name.split("/") if p not in ("", "."))


def list_zip(
    archive: zipfile.ZipFile, label: str, *, max_files: int, max_total_mb: int, max_zip_ratio: float
) -> ZipListing:
    """Validate an open archive against the caps and return its usable regular-file members.

    ``label`` names the archive in messages (e.g. ``"your zip alice.zip"``). Raises
    :class:`IntakeRejected` for encrypted, oversized, bomb-like or path-escaping archives.
    Junk (``__MACOSX/``, ``.DS_Store``, dot files, ``__pycache__``) is skipped silently.
    """
    members: list[ZipMember] = []
    problems: list[str] = []
    infos = archive.infolist()
    if len(infos) > max_files * 10:
        raise IntakeRejected(
            f"{label} has {len(infos)} entries, far over the limit of {max_files} files."
        )
    for info in infos:
        path = _normalise(info.filename, label)
        if not path or info.is_dir():
            continue
        parts = path.split("/")
        if any(is_junk(p) for p in parts):
            continue
        if _is_symlink(info):
            problems.append(
                f"{path} in {label} is a symbolic link; links are never followed, so it was "
                "dropped. Put the file itself in the zip."
            )
            continue
        if info.flag_bits & 0x1:
            raise IntakeRejected(
                f"{label} is password-protected ({path} is encrypted); upload a zip without a "
                "password."
            )
        members.append(ZipMember(path, info.file_size, info.compress_size, len(parts) - 1, info))
    if len(members) > max_files:
        raise IntakeRejected(
            f"{label} holds {len(members)} files, over the limit of {max_files}. Zip only the "
            "files the assignment asks for (no data sets, virtual environments or checkpoints "
            "other than the one requested)."
        )
    total = sum(m.size for m in members)
    if total > max_total_mb * MB:
        raise IntakeRejected(
            f"{label} would unpack to {total / MB:.0f} MB, over the limit of {max_total_mb} MB."
        )
    packed = sum(m.compressed for m in members)
    if total > RATIO_FLOOR_BYTES and total > max_zip_ratio * max(packed, 1):
        raise IntakeRejected(
            f"{label} would unpack to {total / MB:.0f} MB from {packed / MB:.2f} MB (ratio "
            f"{total / max(packed, 1):.0f}:1, limit {max_zip_ratio:.0f}:1); it looks like a zip "
            "bomb and was not opened."
        )
    for m in members:
        if m.size > RATIO_FLOOR_BYTES and m.size > max_zip_ratio * max(m.compressed, 1):
            raise IntakeRejected(
                f"{m.path} in {label} would unpack to {m.size / MB:.0f} MB from "
                f"{m.compressed / MB:.2f} MB (over the {max_zip_ratio:.0f}:1 limit); refused."
            )
    return ZipListing(sorted(members, key=lambda m: m.path), problems)


def open_zip(path: Path, label: str) -> zipfile.ZipFile:
    """Open an archive, turning every way it can be unreadable into :class:`IntakeRejected`."""
    try:
        return zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise IntakeRejected(
            f"{label} is not a valid zip file ({exc}); it may be truncated or another format "
            "renamed to .zip. Re-create it with your system's 'Compress' or `zip -r`."
        ) from exc
    except (OSError, ValueError, NotImplementedError, EOFError) as exc:
        raise IntakeRejected(f"{label} could not be read ({exc}).") from exc


def iter_member_chunks(
    archive: zipfile.ZipFile, member: ZipMember, label: str, *, cap_bytes: int, chunk: int = MB
) -> Iterator[bytes]:
    """Yield a member's bytes in chunks, never more than ``min(declared size, cap_bytes)``.

    Corruption (bad CRC, truncated data, unsupported compression) raises :class:`IntakeRejected`.
    """
    limit = min(member.size, cap_bytes)
    seen = 0
    try:
        handle: IO[bytes] = archive.open(member.info)
        with handle:
            while True:
                block = handle.read(chunk)
                if not block:
                    break
                seen += len(block)
                if seen > limit:
                    raise IntakeRejected(
                        f"{member.path} in {label} holds more data than its header declares "
                        "(or more than the size limit); the archive was refused."
                    )
                yield block
    except IntakeRejected:
        raise
    except (
        zipfile.BadZipFile,
        OSError,
        EOFError,
        ValueError,
        NotImplementedError,
        RuntimeError,
    ) as exc:
        raise IntakeRejected(
            f"{member.path} in {label} could not be unpacked ({exc}); the zip is probably "
            "corrupt. Re-create it and upload again."
        ) from exc
