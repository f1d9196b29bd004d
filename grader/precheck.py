"""The student's pre-check: reference-free checks of their own files, explained as a checklist."""

from __future__ import annotations

import json
import time
from pathlib import Path

from rich.columns import Columns
from rich.console import Console
from rich.table import Table
from rich.text import Text

from grader import runtemp
from grader.assignments.base import Assignment
from grader.engine import empty_result, grade_submission
from grader.exporters.common import status_word
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


def precheck_rubric(assignment: Assignment, train: bool, profile: str | None = None) -> Rubric:
    """The default rubric with the assignment's precheck settings (``train``: False with
    ``--no-train``) and ``profile`` (default the rubric's)."""
    rubric = assignment.default_rubric()
    settings = {**rubric.settings, **assignment.precheck_settings(train=train)}
    if profile:
        settings["profile"] = profile
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
    profile: str | None = None,
) -> SubmissionResult:
    """Stage ``folder`` and run the property checks on it."""
    runtemp.activate()  # every temporary file of the run in its own area, removed at exit
    rubric = precheck_rubric(assignment, train, profile)
    # What the process backend means is said once, by the CLI (cli.process_backend_note).
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
        extra_checks=tuple(
            c for c in assignment.precheck_checks(train=train) if c in assignment.checks
        ),
    )
    # A working folder holds notes, data and notebooks: "ignored file" notes are for graders.
    notes = [p for p in sub.problems if not p.startswith("ignored")]
    result.warnings = notes + result.warnings
    result.timings.total_s = round(time.perf_counter() - t0, 3)
    return result


NOT_DECIDABLE = "not decidable here"
LEGEND = (
    ("✔", "green", "passed"),
    ("✘", "red", "failed / not earned"),
    ("…", "yellow", "not written yet (TODO)"),
    ("!", "red", "crashed"),
    ("⏱", "red", "timed out"),
    ("M", "red", "out of memory"),
    ("-", "dim", "not run (a check it needs failed)"),
    ("?", "cyan", NOT_DECIDABLE),
)


def item_verdicts(
    result: SubmissionResult, assignment: Assignment
) -> dict[str, tuple[str, float | None]]:
    """Per rubric item, what precheck can say: (``passed``/``not passed``/``not decidable here``,
    points or None). Items of reference checks are undecidable unless a check of theirs that did
    run already failed."""
    visible = set(visible_items(assignment, precheck_rubric(assignment, True)))
    by_id = {c.id: c for c in result.checks}
    out: dict[str, tuple[str, float | None]] = {}
    for item in result.items:
        ran = [
            by_id[c] for c in item.checks if c in by_id and by_id[c].status != CheckStatus.SKIPPED
        ]
        if item.id in visible:
            out[item.id] = ("passed" if item.passed else "not passed", item.points)
        elif all(c.status == CheckStatus.PASSED for c in ran):
            out[item.id] = (NOT_DECIDABLE, None)
        else:
            out[item.id] = ("not passed", None)
    return out


def precheck_json(result: SubmissionResult, assignment: Assignment) -> str:
    """The result as JSON for tools, saying for each item what precheck could decide.

    Items precheck cannot decide have ``"precheck": "not decidable here"`` with ``points`` and
    ``passed`` null (not 0 / false); ``predicted_score`` sums the decided items' points.
    """
    doc = json.loads(result.model_dump_json())
    verdicts = item_verdicts(result, assignment)
    for item in doc["items"]:
        word, points = verdicts.get(item["id"], ("not passed", None))
        item["precheck"] = word
        if points is None:
            item["points"] = None
            item["passed"] = None if word == NOT_DECIDABLE else False
    rubric = precheck_rubric(assignment, True)
    doc["predicted_score"] = predicted_score(result, assignment, rubric)
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def _once(result: SubmissionResult) -> list[str]:
    """Warnings not already said by a failed check (a missing file is reported by its check)."""
    file_failed = any(c.tier == "file" and c.status != CheckStatus.PASSED for c in result.checks)
    return [w for w in result.warnings if not (file_failed and w.startswith("missing "))]


def print_checklist(console: Console, result: SubmissionResult, assignment: Assignment) -> None:
    """The rich checklist: items with points at stake, then what to fix for each failure."""
    rubric = precheck_rubric(assignment, True)
    visible = set(visible_items(assignment, rubric))
    verdicts = item_verdicts(result, assignment)
    by_id = {c.id: c for c in result.checks}
    names = {
        item.id: [f"{ICONS[by_id[c].status][0]} {c}" for c in item.checks if c in by_id]
        for item in result.items
    }
    widest = max((len(n) for ns in names.values() for n in ns), default=6)
    table = Table(title="Pre-check", show_lines=True)
    table.add_column("")
    table.add_column("Rubric item", ratio=1, overflow="fold")
    table.add_column("Points", justify="right", no_wrap=True)
    # Check ids are never cut: one per line, the column as wide as the longest.
    table.add_column("Checks", min_width=widest, no_wrap=True)
    for item in result.items:
        word, points = verdicts[item.id]
        if word == NOT_DECIDABLE:
            icon, colour, pts = "?", "cyan", f"? / {item.max_points:g}"
        else:
            icon, colour = ("✔", "green") if word == "passed" else ("✘", "red")
            pts = f"{points:g} / {item.max_points:g}" if points is not None else (
                f"? / {item.max_points:g}"
            )
        table.add_row(
            Text(icon, style=colour), item.title, pts, Text("\n".join(names[item.id]) or "-")
        )
    console.print(table)
    # Columns keep each "icon meaning" whole when a narrow console wraps the legend.
    console.print(
        Columns(
            [Text.assemble((icon, colour), f" {words}") for icon, colour, words in LEGEND],
            padding=(0, 2),
        )
    )
    problems = [
        c for c in result.checks if c.status not in (CheckStatus.PASSED, CheckStatus.SKIPPED)
    ]
    for c in problems:
        icon, colour = ICONS[c.status]
        console.print(
            Text.assemble(
                "\n", (f"{icon} {c.title}", colour), (f" ({c.id}, {status_word(c)})", "dim")
            )
        )
        console.print(Text(c.message))
        if c.evidence:
            console.print(Text(f"  ({c.evidence})", style="dim"))
    for w in _once(result):
        console.print(Text.assemble(("warning: ", "yellow"), w))
    predicted = predicted_score(result, assignment, rubric)
    possible = sum(i.max_points for i in result.items if i.id in visible)
    undecided = result.max_score - possible
    console.print(
        f"\nPredicted for the parts precheck can decide: [bold]{predicted:g} / {possible:g}[/]."
        + (f" Items marked ? (up to {undecided:g} points) are {NOT_DECIDABLE}: they are decided "
           "when your instructor grades with the reference solution." if undecided > 0 else "")
    )
    if not problems:
        console.print("[green]Everything precheck can test passes.[/]")
