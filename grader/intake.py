"""Intake: turn a SUBMISSIONS_DIR (or one folder or zip) into staged, hashed submissions.

Layouts are auto-detected and may be mixed in one directory:

* ``folder``: one folder per student (``alice/model.py``), possibly nested (``alice/A6/model.py``);
* ``zip``: one zip per student (``alice.zip``), read member by member under size/count/ratio caps;
* ``canvas``: Canvas bulk-download files ``name[_LATE]_userid_submissionid_file``, per student;
* ``gradescope``: Gradescope export ``submission_<id>/`` folders, named from
  ``submission_metadata.yml``;
* ``single``: the directory itself is one submission (it directly holds an expected file), or
  :func:`stage_one` was given a single file.

Each submission's usable files (the expected and optional names only) are copied as plain files into
``staging_dir/<student>/``; links are never followed, special files never opened. Anything odd
becomes a row with status ``empty`` or ``invalid`` and a message a student can act on: intake never
raises for a bad submission.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import stat
import zipfile
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, Field

from grader.intake_zip import (
    MB,
    IntakeRejected,
    ZipMember,
    is_junk,
    iter_member_chunks,
    list_zip,
    open_zip,
)
from grader.slug import slugify

Layout = Literal["folder", "zip", "canvas", "gradescope", "single"]
MAX_DEPTH = 4  # how deep inside a submission we look for the expected files
CANVAS_RE = re.compile(
    r"^(?P<name>[^_]+?)(?:_(?P<late>late))?_(?P<uid>\d+)(?:_(?P<sub>\d+))?_(?P<file>.+)$",
    re.IGNORECASE,
)
GRADESCOPE_DIR_RE = re.compile(r"^submission_\d+$")
GRADESCOPE_METADATA = "submission_metadata.yml"
MAX_METADATA_CHARS = 16 * 1024 * 1024  # a larger submission_metadata.yml is not read
LIST_AT_MOST = 8  # file names listed in one note before "and N more"


class IntakeLimits(BaseModel):
    """Caps on what one submission may contain; over any of them the submission is ``invalid``."""

    max_total_mb: int = 2500
    max_file_mb: int = 2100
    max_files: int = 200
    max_zip_ratio: float = 200.0


class SubmissionInput(BaseModel):
    """One student's submission as found and staged by the intake."""

    student: str  # filesystem-safe unique id (lowercase ASCII slug)
    source: str  # where it came from (folder, zip, LMS file names), printable
    layout: Layout
    staged_dir: Path | None  # private copy of the usable files, or None when nothing was staged
    files: dict[str, str] = Field(default_factory=dict)  # staged file name -> sha256
    submission_hash: str = ""  # sha256 over sorted (name, sha256); "" when nothing staged
    problems: list[str] = Field(default_factory=list)  # student-readable notes
    status: Literal["ok", "empty", "invalid"]
    message: str  # one line for the gradebook
    identity: dict[str, str] = Field(default_factory=dict)  # LMS facts: name, email, sid, canvas_id


# --------------------------------------------------------------------------------------- names


def display(name: str) -> str:
    """A printable form of a file name that may hold undecodable bytes (shown as ``\\xNN``)."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def _is_utf8(name: str) -> bool:
    """Whether a file name decodes as UTF-8 (os.listdir maps other bytes to surrogates)."""
    try:
        os.fsencode(name).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _listing(names: Sequence[str]) -> str:
    """``a, b, c and 4 more``: a short list of printable names."""
    shown = [display(n) for n in names[:LIST_AT_MOST]]
    more = len(names) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


# ------------------------------------------------------------------------------------ entries


@dataclass
class _Entry:
    """A regular file found in a submission, with a way to read it under a byte cap."""

    path: str  # relative path inside the submission, for messages
    name: str  # name used for matching (an LMS prefix removed)
    size: int
    depth: int
    chunks: Callable[[int], Iterator[bytes]]
    disk_path: Path | None = None  # set for files on disk (a zip inside a folder can be opened)


def _read_file_chunks(path: Path, label: str, cap: int, chunk: int = MB) -> Iterator[bytes]:
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


def _disk_entry(path: Path, rel: str, name: str, size: int, depth: int) -> _Entry:
    """An entry for a regular file on disk."""
    return _Entry(
        rel,
        name,
        size,
        depth,
        lambda cap: _read_file_chunks(path, display(rel), cap),
        disk_path=path,
    )


def _walk_folder(root: Path, limits: IntakeLimits) -> tuple[list[_Entry], list[str]]:
    """Regular files under ``root``, breadth first, up to MAX_DEPTH and ``limits.max_files``.

    Links and special files are dropped with a note. Past ``max_files`` entries the walk stops
    with a note instead of failing: top-level files have been seen first, and only the wanted
    names are ever copied, so a folder that also holds a data set can still be graded.
    """
    entries: list[_Entry] = []
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
                entries.append(_disk_entry(Path(child.path), rel, child.name, st.st_size, depth))
            else:
                problems.append(
                    f"{display(rel)} is not a regular file (a pipe, socket or "
                    "device); it was dropped."
                )
    return entries, problems


def _zip_entries(
    path: Path,
    label: str,
    limits: IntakeLimits,
    stack: contextlib.ExitStack,
    prefix: str = "",
    depth0: int = 0,
) -> tuple[list[_Entry], list[str]]:
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
        _Entry(prefix + m.path, m.name, m.size, depth0 + m.depth, _member_reader(archive, m, label))
        for m in listing.members
    ]
    return entries, listing.problems


def _member_reader(
    archive: zipfile.ZipFile, member: ZipMember, label: str
) -> Callable[[int], Iterator[bytes]]:
    """A capped chunk reader for one zip member."""
    return lambda cap: iter_member_chunks(archive, member, label, cap_bytes=cap)


# ---------------------------------------------------------------------------------- selection


@dataclass
class _Selection:
    """Which entry becomes which staged name, plus the notes the choice produced."""

    chosen: dict[str, _Entry] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)


def _rank(entry_name: str, target: str, suffix_is_newer: bool) -> tuple[int, int] | None:
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


def _select(entries: list[_Entry], targets: Sequence[str], suffix_is_newer: bool) -> _Selection:
    """Pick, for each wanted name, the best matching entry (nearest the top); note the rest."""
    sel = _Selection()
    used: set[int] = set()
    for target in targets:
        base = target.rsplit("/", 1)[-1]
        ranked = sorted(
            (
                (r, e.depth, os.fsencode(e.path), i)
                for i, e in enumerate(entries)
                if i not in used and (r := _rank(e.name, base, suffix_is_newer)) is not None
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
                f"{_listing(others)}. Keep one copy so there is no doubt which one counts."
            )
    rest = [e.path for i, e in enumerate(entries) if i not in used]
    sel.ignored = sorted(rest, key=lambda p: (not p.endswith(".py"), os.fsencode(p)))
    return sel


# ------------------------------------------------------------------------------------ staging


@dataclass
class _Plan:
    """Everything needed to stage one submission, decided before ids are made unique."""

    base_id: str
    sort_key: bytes
    source: str
    layout: Layout
    label: str  # how messages name the upload: "your folder alice", "your zip alice.zip"
    collect: Callable[[contextlib.ExitStack], tuple[list[_Entry], list[str]]]
    notes: list[str] = field(default_factory=list)
    identity: dict[str, str] = field(default_factory=dict)
    suffix_is_newer: bool = False
    reject: str = ""  # set when the upload is unusable before looking inside


def _hash_files(files: dict[str, str]) -> str:
    """sha256 over the sorted (name, sha256) pairs: the submission's content identity."""
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode("utf-8") + b"\0" + files[name].encode("ascii") + b"\n")
    return digest.hexdigest()


def _fresh_dir(path: Path) -> None:
    """Remove whatever is at ``path`` (never following a link) and create an empty folder."""
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)


def _copy(entry: _Entry, dest: Path, cap: int) -> str:
    """Copy one entry to ``dest`` as a new plain file (mode 0644) and return its sha256."""
    digest = hashlib.sha256()
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(dest, "xb") as out:
        for block in entry.chunks(cap):
            digest.update(block)
            out.write(block)
    os.chmod(dest, 0o644)
    return digest.hexdigest()


def _with_nested_zips(
    entries: list[_Entry], limits: IntakeLimits, stack: contextlib.ExitStack, problems: list[str]
) -> list[_Entry]:
    """Add the members of zips found on disk (a folder or Canvas upload that is just a zip)."""
    zips = [e for e in entries if e.disk_path is not None and e.name.lower().endswith(".zip")]
    added: list[_Entry] = []
    for entry in zips[:3]:
        assert entry.disk_path is not None
        inner, notes = _zip_entries(
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


def _stage(
    plan: _Plan,
    student: str,
    staging_dir: Path,
    expected: Sequence[str],
    optional: Sequence[str],
    limits: IntakeLimits,
) -> SubmissionInput:
    """Collect, select and copy one submission's files; every failure becomes a row, not a raise."""
    problems = list(plan.notes)
    row = {
        "student": student,
        "source": plan.source,
        "layout": plan.layout,
        "identity": plan.identity,
    }
    target_dir = staging_dir / student
    if plan.reject:
        return SubmissionInput(
            **row,
            staged_dir=None,
            problems=[*problems, plan.reject],
            status="invalid",
            message=plan.reject,
        )
    try:
        with contextlib.ExitStack() as stack:
            entries, found_problems = plan.collect(stack)
            problems.extend(found_problems)
            targets = [*expected, *optional]
            sel = _select(entries, targets, plan.suffix_is_newer)
            if not sel.chosen and any(e.name.lower().endswith(".zip") for e in entries):
                entries = _with_nested_zips(entries, limits, stack, problems)
                sel = _select(entries, targets, plan.suffix_is_newer)
            problems.extend(sel.problems)
            if not sel.chosen:
                return _empty_row(row, plan, entries, expected, problems)
            _check_sizes(sel.chosen, limits)
            files = _copy_all(sel.chosen, target_dir, limits)
    except IntakeRejected as exc:
        return _invalid_row(row, target_dir, problems, str(exc))
    except OSError as exc:
        reason = f"{plan.label} could not be read ({exc.strerror or exc}); check its permissions."
        return _invalid_row(row, target_dir, problems, reason)
    except Exception as exc:  # a bug here must cost one row, not the class
        reason = (
            f"the grader could not take in {plan.label} ({type(exc).__name__}: {exc}); this is "
            "a grader problem, not yours: your instructor will look at it."
        )
        return _invalid_row(row, target_dir, problems, reason)
    missing = [t for t in expected if t not in sel.chosen]
    if missing:
        problems.append(
            f"missing {', '.join(missing)}: not found anywhere in {plan.label} "
            "(file names are case-sensitive). Checks that need it will fail."
        )
    if sel.ignored:
        graded = ", ".join([*expected, *optional])
        problems.append(
            f"ignored {len(sel.ignored)} other file(s) (only {graded} are graded): "
            f"{_listing(sel.ignored)}. Only the graded files are copied for grading: if your "
            "code imports one of these, that import will fail, so move the code into a graded file."
        )
    message = f"staged {', '.join(files)}" + (f"; missing {', '.join(missing)}" if missing else "")
    return SubmissionInput(
        **row,
        staged_dir=target_dir,
        files=files,
        submission_hash=_hash_files(files),
        problems=problems,
        status="ok",
        message=message,
    )


def _check_sizes(chosen: dict[str, _Entry], limits: IntakeLimits) -> None:
    """Refuse (without reading them) files over the per-file cap, or a total over the total cap."""
    for target, entry in chosen.items():
        if entry.size > limits.max_file_mb * MB:
            raise IntakeRejected(
                f"{display(entry.path)} ({target}) is {entry.size / MB:,.0f} MB, over the limit of "
                f"{limits.max_file_mb:,} MB for one file. Submit a smaller file (for a checkpoint, "
                "save only the model's state_dict)."
            )
    total = sum(e.size for e in chosen.values())
    if total > limits.max_total_mb * MB:
        raise IntakeRejected(
            f"the graded files add up to {total / MB:,.0f} MB, over the limit of "
            f"{limits.max_total_mb:,} MB."
        )


def _copy_all(chosen: dict[str, _Entry], target_dir: Path, limits: IntakeLimits) -> dict[str, str]:
    """Copy the chosen entries into a fresh ``target_dir``; returns name -> sha256 in name order."""
    _fresh_dir(target_dir)
    files: dict[str, str] = {}
    for target in sorted(chosen):
        files[target] = _copy(chosen[target], target_dir / target, limits.max_file_mb * MB)
    return files


def _empty_row(
    row: dict, plan: _Plan, entries: list[_Entry], expected: Sequence[str], problems: list[str]
) -> SubmissionInput:
    """The row for a submission in which none of the wanted files was found."""
    if not entries:
        message = f"{plan.label} is empty: no files were found in it."
    else:
        message = (
            f"none of the expected files ({', '.join(expected)}) were found in "
            f"{plan.label}; it holds {len(entries)} other file(s): "
            f"{_listing([e.path for e in entries])}."
        )
    return SubmissionInput(
        **row, staged_dir=None, problems=[*problems, message], status="empty", message=message
    )


def _invalid_row(row: dict, target_dir: Path, problems: list[str], reason: str) -> SubmissionInput:
    """The row for an unusable upload; removes anything half-staged."""
    with contextlib.suppress(OSError):
        if target_dir.is_dir() and not target_dir.is_symlink():
            shutil.rmtree(target_dir)
    return SubmissionInput(
        **row, staged_dir=None, problems=[*problems, reason], status="invalid", message=reason
    )


# ------------------------------------------------------------------------------------ layouts


def _name_notes(raw: str) -> list[str]:
    """A note when a name is not valid UTF-8 (the id is then made from a Latin-1 reading)."""
    if _is_utf8(raw):
        return []
    return [f"the name {display(raw)!r} is not valid UTF-8; it was renamed to a safe id."]


def _folder_plan(
    path: Path,
    raw: str,
    limits: IntakeLimits,
    layout: Layout = "folder",
    identity: dict[str, str] | None = None,
    base_id: str | None = None,
) -> _Plan:
    """A plan for a folder (one student, a Gradescope ``submission_<id>``, or the whole dir)."""
    source = f"folder {display(str(path))}" if layout == "single" else f"{layout} {display(raw)}/"
    return _Plan(
        base_id=base_id or slugify(raw),
        sort_key=os.fsencode(raw),
        source=source,
        layout=layout,
        label=f"your folder {display(raw)}",
        notes=_name_notes(raw),
        identity=identity or {},
        collect=lambda stack: _walk_folder(path, limits),
    )


def _zip_plan(path: Path, raw: str, limits: IntakeLimits) -> _Plan:
    """A plan for one student's zip."""
    label = f"your zip {display(raw)}"
    return _Plan(
        base_id=slugify(re.sub(r"\.zip$", "", raw, flags=re.I)),
        sort_key=os.fsencode(raw),
        source=f"zip {display(raw)}",
        layout="zip",
        label=label,
        notes=_name_notes(raw),
        collect=lambda stack: _zip_entries(path, label, limits, stack),
    )


def _single_file_plan(path: Path, raw: str, student: str | None) -> _Plan:
    """A plan for one loose file (``stage_one`` on ``model.py``)."""

    def collect(stack: contextlib.ExitStack) -> tuple[list[_Entry], list[str]]:
        st = path.lstat()
        if not stat.S_ISREG(st.st_mode):
            raise IntakeRejected(f"{display(raw)} is not a regular file.")
        return [_disk_entry(path, raw, raw, st.st_size, 0)], []

    return _Plan(
        base_id=student or slugify(path.stem),
        sort_key=os.fsencode(raw),
        source=f"file {display(raw)}",
        layout="single",
        label=f"your file {display(raw)}",
        notes=_name_notes(raw),
        collect=collect,
    )


def _canvas_plans(files: dict[tuple[str, str], list[tuple[Path, re.Match[str]]]]) -> list[_Plan]:
    """One plan per Canvas student: their files with the ``name_userid_subid_`` prefix removed."""
    plans = []
    for (name, uid), group in sorted(files.items()):
        group.sort(key=lambda pm: os.fsencode(pm[0].name))
        late = any(m.group("late") for _, m in group)
        subs = sorted({m.group("sub") for _, m in group if m.group("sub")})

        notes = [n for path, _ in group for n in _name_notes(path.name)]
        source = (
            f"canvas user {uid}"
            + (f", submission {', '.join(subs)}" if subs else "")
            + (", LATE" if late else "")
            + ": "
            + _listing([p.name for p, _ in group])
        )
        identity = {"canvas_name": display(name), "canvas_id": uid}
        if late:
            identity["late"] = "yes"
        plans.append(
            _Plan(
                base_id=slugify(name),
                sort_key=os.fsencode(f"{name}_{uid}"),
                source=source,
                layout="canvas",
                label=f"your Canvas upload ({display(name)})",
                notes=notes,
                identity=identity,
                suffix_is_newer=True,
                collect=lambda stack, group=group: _canvas_entries(group),
            )
        )
    return plans


def _canvas_entries(group: list[tuple[Path, re.Match[str]]]) -> tuple[list[_Entry], list[str]]:
    """Entries for one Canvas student's files, matched by their name without the LMS prefix."""
    entries: list[_Entry] = []
    problems: list[str] = []
    for path, match in group:
        st = path.lstat()
        if stat.S_ISREG(st.st_mode):
            entries.append(_disk_entry(path, path.name, match.group("file"), st.st_size, 0))
        elif stat.S_ISLNK(st.st_mode):
            problems.append(
                f"{display(path.name)} is a symbolic link; links are never followed, "
                "so it was dropped. Upload the file itself."
            )
        else:
            problems.append(f"{display(path.name)} is not a regular file; it was dropped.")
    return entries, problems


class _MetadataLoader(yaml.SafeLoader):
    """``yaml.safe_load``'s loader, reading unknown tags (Ruby objects) as plain data."""


def _untagged(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> object:
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_scalar(node)  # type: ignore[arg-type]


_MetadataLoader.add_multi_constructor("!", _untagged)


def parse_gradescope_metadata(text: str) -> dict[str, dict[str, list[str]]]:
    """Submitter names, emails and SIDs per ``submission_<id>`` from a Gradescope export's YAML.

    Parsed with PyYAML's safe loader (no object construction; Ruby-symbol keys such as
    ``:name:`` read as strings). Text that is not YAML, or of another shape, gives no names.
    """
    if len(text) > MAX_METADATA_CHARS:
        return {}
    try:
        doc = yaml.load(text, Loader=_MetadataLoader)
    except yaml.YAMLError:
        return {}
    out: dict[str, dict[str, list[str]]] = {}
    for key, entry in (doc.items() if isinstance(doc, dict) else []):
        if not re.fullmatch(r"submission_\d+", str(key)) or not isinstance(entry, dict):
            continue
        fields = {str(k).lstrip(":"): v for k, v in entry.items()}
        submitters = fields.get("submitters")
        found = out.setdefault(str(key), {})
        for person in submitters if isinstance(submitters, list) else []:
            if not isinstance(person, dict):
                continue
            for k, v in person.items():
                name = str(k).lstrip(":")
                if name in ("name", "email", "sid") and v is not None and str(v).strip():
                    found.setdefault(name, []).append(str(v).strip())
    return out


def _gradescope_plan(
    path: Path, raw: str, meta: dict[str, list[str]], limits: IntakeLimits
) -> _Plan:
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
    plan = _folder_plan(path, raw, limits, "gradescope", identity, base)
    who = ", ".join(f"{n}" for n in names) or "unknown submitter"
    if emails:
        who += f" <{', '.join(emails)}>"
    if sids:
        who += f", sid {', '.join(sids)}"
    plan.source = f"gradescope {display(raw)}/ ({who})"
    return plan


def _top_level_plans(
    root: Path, staging_dir: Path, expected: Sequence[str], limits: IntakeLimits
) -> list[_Plan]:
    """Classify every entry of SUBMISSIONS_DIR into per-student plans (layouts may be mixed)."""
    names = sorted(os.listdir(root), key=os.fsencode)
    staging = staging_dir.resolve() if staging_dir.exists() else staging_dir.absolute()
    wanted = {t.rsplit("/", 1)[-1] for t in expected}
    if any(n in wanted and (root / n).is_file() and not (root / n).is_symlink() for n in names):
        return [_folder_plan(root, root.name or "submission", limits, "single")]
    meta: dict[str, dict[str, list[str]]] = {}
    metadata_file = root / GRADESCOPE_METADATA
    if metadata_file.is_file() and not metadata_file.is_symlink():
        with contextlib.suppress(OSError, UnicodeDecodeError):
            if metadata_file.stat().st_size <= MAX_METADATA_CHARS:
                meta = parse_gradescope_metadata(metadata_file.read_text("utf-8"))
    plans: list[_Plan] = []
    canvas: dict[tuple[str, str], list[tuple[Path, re.Match[str]]]] = {}
    for raw in names:
        path = root / raw
        if is_junk(raw) or raw == GRADESCOPE_METADATA:
            continue
        if _holds(path, staging):
            continue  # our own staging area (or the --out folder holding it)
        try:
            st = path.lstat()
        except OSError as exc:
            plans.append(_reject_plan(raw, f"{display(raw)} could not be read ({exc.strerror})."))
            continue
        canvas_match = CANVAS_RE.match(raw) if _is_utf8(raw) else None
        if canvas_match and not stat.S_ISDIR(st.st_mode):
            key = (canvas_match.group("name").lower(), canvas_match.group("uid"))
            canvas.setdefault(key, []).append((path, canvas_match))
        elif stat.S_ISLNK(st.st_mode):
            plans.append(
                _reject_plan(
                    raw,
                    f"{display(raw)} is a symbolic link; links are never "
                    "followed. Put the real folder or zip here.",
                )
            )
        elif stat.S_ISDIR(st.st_mode):
            if GRADESCOPE_DIR_RE.match(raw):
                plans.append(_gradescope_plan(path, raw, meta.get(raw, {}), limits))
            else:
                plans.append(_folder_plan(path, raw, limits))
        elif stat.S_ISREG(st.st_mode) and raw.lower().endswith(".zip"):
            plans.append(_zip_plan(path, raw, limits))
        else:
            plans.append(
                _reject_plan(
                    raw,
                    f"{display(raw)} is not a student folder, a .zip or a Canvas-named file "
                    "(name_userid_submissionid_file); it was not graded.",
                )
            )
    plans.extend(_canvas_plans(canvas))
    return plans


def _holds(path: Path, staging: Path) -> bool:
    """Whether ``path`` is the staging folder or a real folder containing it."""
    if path.absolute() == staging:
        return True
    if path.is_symlink() or not path.is_dir():
        return False
    return staging == path.resolve() or staging.is_relative_to(path.resolve())


def _reject_plan(raw: str, reason: str) -> _Plan:
    """A plan that becomes an ``invalid`` row without looking inside."""
    return _Plan(
        base_id=slugify(re.sub(r"\.zip$", "", raw, flags=re.I)),
        sort_key=os.fsencode(raw),
        source=display(raw),
        layout="folder",
        label=display(raw),
        notes=_name_notes(raw),
        collect=lambda stack: ([], []),
        reject=reason,
    )


def _unique_ids(plans: list[_Plan]) -> list[tuple[str, _Plan]]:
    """Give every plan a unique id: the base slug, then ``-2``, ``-3``... in a stable order."""
    taken = {p.base_id for p in plans}
    out: list[tuple[str, _Plan]] = []
    seen: set[str] = set()
    for plan in sorted(plans, key=lambda p: (p.base_id, p.sort_key, p.layout)):
        sid, n = plan.base_id, 1
        while sid in seen or (sid != plan.base_id and sid in taken):
            n += 1
            sid = f"{plan.base_id}-{n}"
        seen.add(sid)
        out.append((sid, plan))
    return out


# --------------------------------------------------------------------------------- public API


def discover(
    submissions_dir: Path,
    staging_dir: Path,
    *,
    expected_files: Sequence[str],
    optional_files: Sequence[str] = (),
    limits: IntakeLimits | None = None,
) -> list[SubmissionInput]:
    """Find every submission in ``submissions_dir`` and stage each into ``staging_dir/<student>/``.

    Returns one row per student, sorted by student id. Bad submissions come back as rows with
    status ``empty`` or ``invalid``; only a missing or unreadable ``submissions_dir`` raises
    (``FileNotFoundError``/``NotADirectoryError``/``PermissionError``), since that is a usage error.
    """
    limits = limits or IntakeLimits()
    root = Path(submissions_dir)
    if not root.is_dir():
        raise NotADirectoryError(f"submissions directory not found: {root}")
    plans = _top_level_plans(root, Path(staging_dir), expected_files, limits)
    rows = [
        _stage(plan, sid, Path(staging_dir), expected_files, optional_files, limits)
        for sid, plan in _unique_ids(plans)
    ]
    return sorted(rows, key=lambda r: r.student)


def stage_one(
    path: Path,
    staging_dir: Path,
    *,
    student: str | None = None,
    expected_files: Sequence[str],
    optional_files: Sequence[str] = (),
    limits: IntakeLimits | None = None,
) -> SubmissionInput:
    """Stage a single submission: a folder, a zip, or one file (precheck, Gradescope's container).

    ``student`` overrides the id derived from the path's name (it is slugified either way). The
    top-level ``path`` itself may be a link (the caller chose it); nothing inside is followed.
    """
    limits = limits or IntakeLimits()
    path = Path(path)
    raw = path.name or "submission"
    sid = slugify(student) if student else None
    if path.is_dir():
        plan = _folder_plan(path, raw, limits, base_id=sid)
    elif path.is_file() and raw.lower().endswith(".zip"):
        plan = _zip_plan(path, raw, limits)
    elif path.is_file():
        plan = _single_file_plan(path, raw, sid)
    else:
        plan = _reject_plan(raw, f"{display(str(path))} does not exist or is not a file or folder.")
    plan.base_id = sid or plan.base_id
    return _stage(plan, plan.base_id, Path(staging_dir), expected_files, optional_files, limits)
