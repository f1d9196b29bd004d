"""Stage one planned submission: collect, select, check sizes, copy; every failure is a row."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from . import choose
from .entries import Entry, with_nested_zips
from .models import IntakeLimits, Layout, SubmissionInput
from .names import display, listing
from .zipread import MB, IntakeRejected


@dataclass
class Plan:
    """Everything needed to stage one submission, decided before ids are made unique."""

    base_id: str
    sort_key: bytes
    source: str
    layout: Layout
    label: str  # how messages name the upload: "your folder alice", "your zip alice.zip"
    collect: Callable[[contextlib.ExitStack], tuple[list[Entry], list[str]]]
    notes: list[str] = field(default_factory=list)
    identity: dict[str, str] = field(default_factory=dict)
    suffix_is_newer: bool = False
    reject: str = ""  # set when the upload is unusable before looking inside


def hash_files(files: dict[str, str]) -> str:
    """sha256 over the sorted (name, sha256) pairs: the submission's content identity."""
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode("utf-8") + b"\0" + files[name].encode("ascii") + b"\n")
    return digest.hexdigest()


def fresh_dir(path: Path) -> None:
    """Remove whatever is at ``path`` (never following a link) and create an empty folder."""
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)


def copy_entry(entry: Entry, dest: Path, cap: int) -> str:
    """Copy one entry to ``dest`` as a new plain file (mode 0644) and return its sha256.

    Blocks of zeros are skipped with a seek, so a sparse (or zero-filled) upload stays sparse in
    staging instead of costing its apparent size on disk.
    """
    digest = hashlib.sha256()
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(dest, "xb") as out:
        for block in entry.chunks(cap):
            digest.update(block)
            if block.count(0) == len(block):
                out.seek(len(block), os.SEEK_CUR)
            else:
                out.write(block)
        out.truncate()  # sets the length when the file ends in skipped zeros
    os.chmod(dest, 0o644)
    return digest.hexdigest()


def stage(
    plan: Plan,
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
            sel = choose.select(entries, targets, plan.suffix_is_newer, limits.max_folder_files)
            if not sel.chosen and any(e.name.lower().endswith(".zip") for e in entries):
                entries = with_nested_zips(entries, limits, stack, problems)
                sel = choose.select(
                    entries, targets, plan.suffix_is_newer, limits.max_folder_files
                )
            problems.extend(sel.problems)
            if not sel.chosen:
                return empty_row(row, plan, entries, expected, problems)
            dropped = drop_oversized(sel.chosen, limits)
            if not sel.chosen:
                raise IntakeRejected(" ".join(dropped.values()))
            problems.extend(dropped.values())
            check_sizes(sel.chosen, limits)
            files = copy_all(sel.chosen, target_dir, limits)
    except IntakeRejected as exc:
        return invalid_row(row, target_dir, problems, str(exc))
    except OSError as exc:
        reason = f"{plan.label} could not be read ({exc.strerror or exc}); check its permissions."
        return invalid_row(row, target_dir, problems, reason)
    except Exception as exc:  # a bug here must cost one row, not the class
        reason = (
            f"the grader could not take in {plan.label} ({type(exc).__name__}: {exc}); this is "
            "a grader problem, not yours: your instructor will look at it."
        )
        return invalid_row(row, target_dir, problems, reason)
    missing = [t for t in expected if not _found(t, sel.chosen, dropped)]
    if missing:
        problems.append(
            f"missing {', '.join(missing)}: not found anywhere in {plan.label} "
            "(file names are case-sensitive). Checks that need it will fail."
        )
    if sel.ignored:
        graded = ", ".join([*expected, *optional])
        problems.append(
            f"ignored {len(sel.ignored)} other file(s) (only {graded} are graded): "
            f"{listing(sel.ignored)}. Only the graded files are copied for grading: if your "
            "code imports one of these, that import will fail, so move the code into a graded file."
        )
    message = f"staged {', '.join(files)}" + (f"; missing {', '.join(missing)}" if missing else "")
    if dropped:
        message += f"; left out (too large) {', '.join(dropped)}"
    return SubmissionInput(
        **row,
        staged_dir=target_dir,
        files=files,
        submission_hash=hash_files(files),
        problems=problems,
        status="ok",
        message=message,
    )


def _found(target: str, chosen: dict[str, Entry], dropped: dict[str, str]) -> bool:
    """Whether a wanted name (or, for a folder, at least one file below it) was found."""
    if choose.is_folder(target):
        return any(name.startswith(target) for name in [*chosen, *dropped])
    return target in chosen or target in dropped


def drop_oversized(chosen: dict[str, Entry], limits: IntakeLimits) -> dict[str, str]:
    """Remove from ``chosen`` (unread) the files over their suffix's cap; target -> note."""
    notes: dict[str, str] = {}
    for target, entry in list(chosen.items()):
        cap = limits.file_cap_mb(target)
        if entry.size > cap * MB:
            del chosen[target]
            notes[target] = (
                f"{display(entry.path)} ({target}) is {entry.size / MB:,.0f} MB, over the limit of "
                f"{cap:,} MB for this file, so it was not taken in and checks that need it will "
                "fail. Submit a smaller file (for a checkpoint, save only model.state_dict())."
            )
    return notes


def check_sizes(chosen: dict[str, Entry], limits: IntakeLimits) -> None:
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


def copy_all(chosen: dict[str, Entry], target_dir: Path, limits: IntakeLimits) -> dict[str, str]:
    """Copy the chosen entries into a fresh ``target_dir``; returns name -> sha256 in name order."""
    fresh_dir(target_dir)
    files: dict[str, str] = {}
    for target in sorted(chosen):
        files[target] = copy_entry(chosen[target], target_dir / target, limits.max_file_mb * MB)
    return files


def empty_row(
    row: dict, plan: Plan, entries: list[Entry], expected: Sequence[str], problems: list[str]
) -> SubmissionInput:
    """The row for a submission in which none of the wanted files was found."""
    if not entries:
        message = f"{plan.label} is empty: no files were found in it."
    else:
        message = (
            f"none of the expected files ({', '.join(expected)}) were found in "
            f"{plan.label}; it holds {len(entries)} other file(s): "
            f"{listing([e.path for e in entries])}."
        )
    return SubmissionInput(
        **row, staged_dir=None, problems=[*problems, message], status="empty", message=message
    )


def invalid_row(row: dict, target_dir: Path, problems: list[str], reason: str) -> SubmissionInput:
    """The row for an unusable upload; removes anything half-staged."""
    with contextlib.suppress(OSError):
        if target_dir.is_dir() and not target_dir.is_symlink():
            shutil.rmtree(target_dir)
    return SubmissionInput(
        **row, staged_dir=None, problems=[*problems, reason], status="invalid", message=reason
    )
