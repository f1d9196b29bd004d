"""The student's pre-check: reference-free checks of their own files, explained as a checklist."""

from __future__ import annotations

import time
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from grader.assignments.base import Assignment
from grader.engine import empty_result, grade_submission
from grader.intake import stage_one
from grader.results import CheckResult, CheckStatus, SubmissionResult, SubmissionStatus
from grader.rubric import Rubric
from grader.sandbox import Sandbox

ICONS = {
    CheckStatus.PASSED: ("✔", "green"),
    CheckStatus.FAILED: ("✘", "red"),
    CheckStatus.TODO: ("…", "yellow"),
    CheckStatus.ERROR: ("!", "red"),
    CheckStatus.TIMEOUT: ("⏱", "red"),
    CheckStatus.OOM: ("M", "red"),
    CheckStatus.SKIPPED: ("-", "dim"),
}


def precheck_rubric(assignment: Assignment, train: bool) -> Rubric:
    """The default rubric, in the probe profile, with the student's own short training run on."""
    rubric = assignment.default_rubric()
    settings = {**rubric.settings, "own_training": train}
    return rubric.model_copy(update={"settings": settings})


def visible_items(assignment: Assignment, rubric: Rubric) -> list[str]:
    """Rubric items decided by reference-free checks only: precheck predicts their points."""
    tiers = {spec.id: spec.tier for spec in assignment.checks}
    return [i.id for i in rubric.items if all(tiers.get(c) != "reference" for c in i.checks)]


def predicted_score(result: SubmissionResult, assignment: Assignment, rubric: Rubric) -> float:
    """Points of the items precheck can decide (``grade`` gives the same for the same files)."""
    ids = set(visible_items(assignment, rubric))
    return sum(i.points for i in result.items if i.id in ids)


def run_precheck(
    assignment: Assignment,
    folder: Path,
    scratch: Path,
    sandbox: Sandbox,
    console: Console | None = None,
    *,
    train: bool = True,
) -> SubmissionResult:
    """Stage ``folder`` and run the property checks on it."""
    rubric = precheck_rubric(assignment, train)
    if not sandbox.isolates and console is not None:
        console.print("[yellow]Note:[/] running your code without isolation (process backend).")
    sub = stage_one(
        folder,
        scratch / "staging",
        student="you",
        expected_files=assignment.required_files,
        optional_files=assignment.optional_files + assignment.framework_files,
    )
    if sub.status != "ok" or sub.staged_dir is None:
        return empty_result(
            assignment=assignment,
            rubric=rubric,
            student="you",
            status=SubmissionStatus.NO_SUBMISSION,
            message=sub.message,
            warnings=list(sub.problems),
        )
    prepared = assignment.prepare(rubric, with_reference=False)
    t0 = time.perf_counter()

    def progress(check: CheckResult) -> None:
        if console is not None:
            icon, colour = ICONS[check.status]
            console.print(f"  [{colour}]{icon}[/] {check.title}", highlight=False)

    if console is not None:
        console.print(f"[bold]{assignment.title}[/] — checking {folder}")
    result = grade_submission(
        assignment=assignment,
        rubric=rubric,
        prepared=prepared,
        sandbox=sandbox,
        student="you",
        submission_dir=sub.staged_dir,
        files=sub.files,
        submission_hash=sub.submission_hash,
        with_reference=False,
        tiers=("file", "property", "reference"),
        on_check=progress,
        extra_checks=("info.own_training",) if train else (),
    )
    # A working folder holds notes, data and notebooks: "ignored file" notes are for graders.
    notes = [p for p in sub.problems if not p.startswith("ignored")]
    result.warnings = notes + result.warnings
    result.timings.total_s = round(time.perf_counter() - t0, 3)
    return result


def print_checklist(console: Console, result: SubmissionResult, assignment: Assignment) -> None:
    """The rich checklist: items with points at stake, then what to fix for each failure."""
    rubric = precheck_rubric(assignment, True)
    visible = set(visible_items(assignment, rubric))
    by_id = {c.id: c for c in result.checks}
    table = Table(title="Pre-check", show_lines=False)
    table.add_column("")
    table.add_column("Rubric item")
    table.add_column("Points", justify="right")
    table.add_column("Checks")
    for item in result.items:
        checks = [by_id.get(c) for c in item.checks]
        ran = [c for c in checks if c is not None and c.status != CheckStatus.SKIPPED]
        if item.id in visible:
            icon, colour = ("✔", "green") if item.passed else ("✘", "red")
            pts = f"{item.points:g} / {item.max_points:g}"
        else:
            ok = all(c.status == CheckStatus.PASSED for c in ran)
            icon, colour = ("?", "cyan") if ok else ("✘", "red")
            pts = f"? / {item.max_points:g}"
        names = ", ".join(f"{ICONS[c.status][0]} {c.id}" for c in checks if c is not None) or "-"
        table.add_row(Text(icon, style=colour), item.title, pts, names)
    console.print(table)
    problems = [
        c for c in result.checks if c.status not in (CheckStatus.PASSED, CheckStatus.SKIPPED)
    ]
    for c in problems:
        icon, colour = ICONS[c.status]
        console.print(f"\n[{colour}]{icon} {c.title}[/] [dim]({c.id}, {c.status.value})[/]")
        console.print(Text(c.message))
        if c.evidence:
            console.print(Text(f"  ({c.evidence})", style="dim"))
    for w in result.warnings:
        console.print(f"[yellow]warning:[/] {w}")
    predicted = predicted_score(result, assignment, rubric)
    possible = sum(i.max_points for i in result.items if i.id in visible)
    console.print(
        f"\nPredicted for the parts precheck can decide: [bold]{predicted:g} / {possible:g}[/]. "
        f"Items marked ? (up to {result.max_score - possible:g} points) are decided when your "
        "instructor grades with the reference solution."
    )
    if not problems:
        console.print("[green]Everything precheck can test passes.[/]")
