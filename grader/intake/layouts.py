"""Plans for each layout (folder, zip, Canvas, Gradescope, single) and the top-level scan.

A plan is everything needed to stage one submission, decided before ids are made unique.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
from collections.abc import Sequence
from pathlib import Path

from grader.slug import slugify

from .entries import Entry, disk_entry, walk_folder, zip_entries
from .gradescope_meta import MAX_METADATA_CHARS, parse_gradescope_metadata
from .models import IntakeLimits, Layout
from .names import display, is_utf8, listing, name_notes
from .staging import Plan
from .zipread import IntakeRejected, is_junk

CANVAS_RE = re.compile(
    r"^(?P<name>[^_]+?)(?:_(?P<late>late))?_(?P<uid>\d+)(?:_(?P<sub>\d+))?_(?P<file>.+)$",
    re.IGNORECASE,
)
GRADESCOPE_DIR_RE = re.compile(r"^submission_\d+$")
GRADESCOPE_METADATA = "submission_metadata.yml"


def folder_plan(
    path: Path,
    raw: str,
    limits: IntakeLimits,
    layout: Layout = "folder",
    identity: dict[str, str] | None = None,
    base_id: str | None = None,
) -> Plan:
    """A plan for a folder (one student, a Gradescope ``submission_<id>``, or the whole dir)."""
    source = f"folder {display(str(path))}" if layout == "single" else f"{layout} {display(raw)}/"
    return Plan(
        base_id=base_id or slugify(raw),
        sort_key=os.fsencode(raw),
        source=source,
        layout=layout,
        label=f"your folder {display(raw)}",
        notes=name_notes(raw),
        identity=identity or {},
        collect=lambda stack: walk_folder(path, limits),
    )


def zip_plan(path: Path, raw: str, limits: IntakeLimits) -> Plan:
    """A plan for one student's zip."""
    label = f"your zip {display(raw)}"
    return Plan(
        base_id=slugify(re.sub(r"\.zip$", "", raw, flags=re.I)),
        sort_key=os.fsencode(raw),
        source=f"zip {display(raw)}",
        layout="zip",
        label=label,
        notes=name_notes(raw),
        collect=lambda stack: zip_entries(path, label, limits, stack),
    )


def single_file_plan(path: Path, raw: str, student: str | None) -> Plan:
    """A plan for one loose file (``stage_one`` on ``model.py``)."""

    def collect(stack: contextlib.ExitStack) -> tuple[list[Entry], list[str]]:
        st = path.lstat()
        if not stat.S_ISREG(st.st_mode):
            raise IntakeRejected(f"{display(raw)} is not a regular file.")
        return [disk_entry(path, raw, raw, st.st_size, 0)], []

    return Plan(
        base_id=student or slugify(path.stem),
        sort_key=os.fsencode(raw),
        source=f"file {display(raw)}",
        layout="single",
        label=f"your file {display(raw)}",
        notes=name_notes(raw),
        collect=collect,
    )


def canvas_plans(files: dict[tuple[str, str], list[tuple[Path, re.Match[str]]]]) -> list[Plan]:
    """One plan per Canvas student: their files with the ``name_userid_subid_`` prefix removed."""
    plans = []
    for (name, uid), group in sorted(files.items()):
        group.sort(key=lambda pm: os.fsencode(pm[0].name))
        late = any(m.group("late") for _, m in group)
        subs = sorted({m.group("sub") for _, m in group if m.group("sub")})

        notes = [n for path, _ in group for n in name_notes(path.name)]
        source = (
            f"canvas user {uid}"
            + (f", submission {', '.join(subs)}" if subs else "")
            + (", LATE" if late else "")
            + ": "
            + listing([p.name for p, _ in group])
        )
        identity = {"canvas_name": display(name), "canvas_id": uid}
        if late:
            identity["late"] = "yes"
        plans.append(
            Plan(
                base_id=slugify(name),
                sort_key=os.fsencode(f"{name}_{uid}"),
                source=source,
                layout="canvas",
                label=f"your Canvas upload ({display(name)})",
                notes=notes,
                identity=identity,
                suffix_is_newer=True,
                collect=lambda stack, group=group: canvas_entries(group),
            )
        )
    return plans


def canvas_entries(group: list[tuple[Path, re.Match[str]]]) -> tuple[list[Entry], list[str]]:
    """Entries for one Canvas student's files, matched by their name without the LMS prefix."""
    entries: list[Entry] = []
    problems: list[str] = []
    for path, match in group:
        st = path.lstat()
        if stat.S_ISREG(st.st_mode):
            entries.append(disk_entry(path, path.name, match.group("file"), st.st_size, 0))
        elif stat.S_ISLNK(st.st_mode):
            problems.append(
                f"{display(path.name)} is a symbolic link; links are never followed, "
                "so it was dropped. Upload the file itself."
            )
        else:
            problems.append(f"{display(path.name)} is not a regular file; it was dropped.")
    return entries, problems


def gradescope_plan(
    path: Path, raw: str, meta: dict[str, list[str]], limits: IntakeLimits
) -> Plan:
    """A plan for one ``submission_<id>/`` folder, named after its first submitter."""
    identity = {k: ", ".join(v) for k, v in meta.items()}
    emails, sids, names = meta.get("email", []), meta.get("sid", []), meta.get("name", [])
    if emails:
        base = slugify(emails[0].split("@", 1)[0])
    elif sids:
        base = slugify(sids[0])
    elif names:
        base = slugify(names[0])
    else:
        base = slugify(raw)
    plan = folder_plan(path, raw, limits, "gradescope", identity, base)
    who = ", ".join(f"{n}" for n in names) or "unknown submitter"
    if emails:
        who += f" <{', '.join(emails)}>"
    if sids:
        who += f", sid {', '.join(sids)}"
    plan.source = f"gradescope {display(raw)}/ ({who})"
    return plan


def top_level_plans(
    root: Path, staging_dir: Path, expected: Sequence[str], limits: IntakeLimits
) -> list[Plan]:
    """Classify every entry of SUBMISSIONS_DIR into per-student plans (layouts may be mixed)."""
    names = sorted(os.listdir(root), key=os.fsencode)
    staging = staging_dir.resolve() if staging_dir.exists() else staging_dir.absolute()
    wanted = {t.rsplit("/", 1)[-1] for t in expected}
    if any(n in wanted and (root / n).is_file() and not (root / n).is_symlink() for n in names):
        return [folder_plan(root, root.name or "submission", limits, "single")]
    meta: dict[str, dict[str, list[str]]] = {}
    metadata_file = root / GRADESCOPE_METADATA
    if metadata_file.is_file() and not metadata_file.is_symlink():
        with contextlib.suppress(OSError, UnicodeDecodeError):
            if metadata_file.stat().st_size <= MAX_METADATA_CHARS:
                meta = parse_gradescope_metadata(metadata_file.read_text("utf-8"))
    plans: list[Plan] = []
    canvas: dict[tuple[str, str], list[tuple[Path, re.Match[str]]]] = {}
    for raw in names:
        path = root / raw
        if is_junk(raw) or raw == GRADESCOPE_METADATA:
            continue
        if holds(path, staging):
            continue  # our own staging area (or the --out folder holding it)
        try:
            st = path.lstat()
        except OSError as exc:
            plans.append(reject_plan(raw, f"{display(raw)} could not be read ({exc.strerror})."))
            continue
        canvas_match = CANVAS_RE.match(raw) if is_utf8(raw) else None
        if canvas_match and not stat.S_ISDIR(st.st_mode):
            key = (canvas_match.group("name").lower(), canvas_match.group("uid"))
            canvas.setdefault(key, []).append((path, canvas_match))
        elif stat.S_ISLNK(st.st_mode):
            plans.append(
                reject_plan(
                    raw,
                    f"{display(raw)} is a symbolic link; links are never "
                    "followed. Put the real folder or zip here.",
                )
            )
        elif stat.S_ISDIR(st.st_mode):
            if GRADESCOPE_DIR_RE.match(raw):
                plans.append(gradescope_plan(path, raw, meta.get(raw, {}), limits))
            else:
                plans.append(folder_plan(path, raw, limits))
        elif stat.S_ISREG(st.st_mode) and raw.lower().endswith(".zip"):
            plans.append(zip_plan(path, raw, limits))
        else:
            plans.append(
                reject_plan(
                    raw,
                    f"{display(raw)} is not a student folder, a .zip or a Canvas-named file "
                    "(name_userid_submissionid_file); it was not graded.",
                )
            )
    plans.extend(canvas_plans(canvas))
    return plans


def holds(path: Path, staging: Path) -> bool:
    """Whether ``path`` is the staging folder or a real folder containing it."""
    if path.absolute() == staging:
        return True
    if path.is_symlink() or not path.is_dir():
        return False
    return staging == path.resolve() or staging.is_relative_to(path.resolve())


def reject_plan(raw: str, reason: str) -> Plan:
    """A plan that becomes an ``invalid`` row without looking inside."""
    return Plan(
        base_id=slugify(re.sub(r"\.zip$", "", raw, flags=re.I)),
        sort_key=os.fsencode(raw),
        source=display(raw),
        layout="folder",
        label=display(raw),
        notes=name_notes(raw),
        collect=lambda stack: ([], []),
        reject=reason,
    )
