"""The intake's entry points: a whole SUBMISSIONS_DIR, or one submission."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from grader.slug import slugify

from .ids import unique_ids
from .layouts import folder_plan, reject_plan, single_file_plan, top_level_plans, zip_plan
from .models import IntakeLimits, SubmissionInput
from .names import display
from .staging import stage


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
    plans = top_level_plans(root, Path(staging_dir), expected_files, limits)
    rows = [
        stage(plan, sid, Path(staging_dir), expected_files, optional_files, limits)
        for sid, plan in unique_ids(plans)
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
        plan = folder_plan(path, raw, limits, base_id=sid)
    elif path.is_file() and raw.lower().endswith(".zip"):
        plan = zip_plan(path, raw, limits)
    elif path.is_file():
        plan = single_file_plan(path, raw, sid)
    else:
        plan = reject_plan(raw, f"{display(str(path))} does not exist or is not a file or folder.")
    plan.base_id = sid or plan.base_id
    return stage(plan, plan.base_id, Path(staging_dir), expected_files, optional_files, limits)
