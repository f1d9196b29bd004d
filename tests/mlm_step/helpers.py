"""Shared helpers of the ``mlm_step`` tests: grade a folder with the real engine and sandbox."""

from __future__ import annotations

import hashlib
from pathlib import Path

from grader.assignments import get_assignment
from grader.engine import grade_submission
from grader.results import SubmissionResult
from grader.sandbox import Sandbox

ROOT = Path(__file__).resolve().parents[2]
ZOO = ROOT / "tests" / "zoo" / "mlm_step"
GRADE_TIERS = ("file", "property", "reference")
PRECHECK_TIERS = ("file", "property")


def grade_folder(
    folder: Path, sandbox: Sandbox, prepared: object, *, with_reference: bool
) -> SubmissionResult:
    """Grade ``folder`` like ``grade`` (with the reference) or ``precheck`` (without)."""
    assignment = get_assignment("mlm_step")
    files = {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
             for p in sorted(folder.iterdir()) if p.is_file()}
    return grade_submission(
        assignment=assignment, rubric=assignment.default_rubric(), prepared=prepared,
        sandbox=sandbox, student=folder.name, submission_dir=folder, files=files,
        with_reference=with_reference, tiers=GRADE_TIERS if with_reference else PRECHECK_TIERS,
    )


def not_passed(result: SubmissionResult) -> list[str]:
    """Ids of every check that ran and did not pass (failed, error, todo, skipped ...)."""
    return sorted(c.id for c in result.checks if c.status != "passed")
