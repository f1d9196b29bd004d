"""Which found file becomes which graded name (exact names first, LMS renames, case)."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from .entries import Entry
from .names import display, listing


@dataclass
class Selection:
    """Which entry becomes which staged name, plus the notes the choice produced."""

    chosen: dict[str, Entry] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)


def rank(entry_name: str, target: str, suffix_is_newer: bool) -> tuple[int, int] | None:
    """How well a file name matches a wanted name (lower is better), or None for no match.

    Exact names win; LMS renames (``model-1.py``, ``model (1).py``) come next, except on Canvas
    where ``-N`` marks a newer re-upload and wins; a case-only difference comes last.
    """
    if entry_name == target:
        return (0, 0)
    stem, ext = os.path.splitext(target)
    m = re.fullmatch(re.escape(stem) + r"(?:-(\d+)| \((\d+)\))" + re.escape(ext), entry_name)
    if m:
        n = int(m.group(1) or m.group(2))
        return (0, -n) if suffix_is_newer else (1, n)
    if entry_name.lower() == target.lower():
        return (2, 0)
    return None


def is_folder(target: str) -> bool:
    """Whether a wanted name is a folder (``"model/"``: a ``save_pretrained`` directory)."""
    return target.endswith("/")


def _folder_at(path: str, name: str) -> str | None:
    """The prefix of ``path`` up to and including the shallowest folder called ``name``."""
    parts = path.split("/")[:-1]
    if name not in parts:
        return None
    return "/".join(parts[: parts.index(name) + 1]) + "/"


def select_folder(
    entries: list[Entry], target: str, used: set[int], sel: Selection, max_files: int
) -> None:
    """Choose every file under the shallowest folder named like ``target`` as ``target/<rel>``."""
    name = target.rstrip("/").rsplit("/", 1)[-1]
    found: dict[str, list[int]] = {}
    for i, e in enumerate(entries):
        prefix = _folder_at(e.path, name) if i not in used else None
        if prefix is not None:
            found.setdefault(prefix, []).append(i)
    if not found:
        return
    best = min(found, key=lambda p: (p.count("/"), os.fsencode(p)))
    members = found[best]
    if len(members) > max_files:
        sel.problems.append(
            f"the folder {display(best)} holds {len(members)} files; only the first "
            f"{max_files} are taken in as {target}. Submit only what the assignment asks for."
        )
    for i in sorted(members, key=lambda i: os.fsencode(entries[i].path))[:max_files]:
        sel.chosen[target + entries[i].path[len(best) :]] = entries[i]
    used.update(members)
    if len(found) > 1:
        others = sorted(p for p in found if p != best)
        sel.problems.append(
            f"found {len(found)} folders named {name}: graded {display(best)}, ignored "
            f"{listing(others)}. Keep one copy so there is no doubt which one counts."
        )


def select(
    entries: list[Entry], targets: Sequence[str], suffix_is_newer: bool, max_folder_files: int = 64
) -> Selection:
    """Pick, for each wanted name, the best matching entry (nearest the top); note the rest.

    A wanted folder (a name ending in ``/``) takes every file under the shallowest folder of that
    name, staged below the same name.
    """
    sel = Selection()
    used: set[int] = set()
    for target in targets:
        if is_folder(target):
            select_folder(entries, target, used, sel, max_folder_files)
            continue
        base = target.rsplit("/", 1)[-1]
        ranked = sorted(
            (
                (r, e.depth, os.fsencode(e.path), i)
                for i, e in enumerate(entries)
                if i not in used and (r := rank(e.name, base, suffix_is_newer)) is not None
            ),
        )
        if not ranked:
            continue
        best = entries[ranked[0][3]]
        sel.chosen[target] = best
        used.update(item[3] for item in ranked)
        if best.name != base:
            why = (
                "Python imports are case-sensitive"
                if best.name.lower() == base.lower()
                else "the LMS renames a re-uploaded file this way"
            )
            sel.problems.append(f"{display(best.path)} was used as {target} ({why}).")
        if len(ranked) > 1:
            others = [entries[item[3]].path for item in ranked[1:]]
            sel.problems.append(
                f"found {len(ranked)} copies of {target}: graded {display(best.path)}, ignored "
                f"{listing(others)}. Keep one copy so there is no doubt which one counts."
            )
    rest = [e.path for i, e in enumerate(entries) if i not in used]
    sel.ignored = sorted(rest, key=lambda p: (not p.endswith(".py"), os.fsencode(p)))
    return sel
