"""``feedback.md``: what the student reads — score, a table of rubric items, then what to fix.

Hidden checks (and every check of a hidden item) only say that they failed. Messages are put in
fenced blocks so nothing in them (backticks, HTML, Markdown) can change the page. Integrity flags
are never shown here; they are for the instructor.
"""

from __future__ import annotations

from grader.exporters.common import STATUS_HINTS, fence, fmt_points, hidden_check_ids
from grader.exporters.gradescope import OVERALL
from grader.results import CheckResult, CheckStatus, SubmissionResult


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ").strip()


def _quote(text: str) -> str:
    """A Markdown block quote of plain text (HTML made inert)."""
    safe = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return "\n".join("> " + line for line in safe.splitlines())


def _items_table(result: SubmissionResult) -> list[str]:
    """The rubric table: item, points, result."""
    lines = ["| Item | Points | Result |", "|---|---:|---|"]
    for item in result.items:
        mark = "✅ passed" if item.passed else "❌ not passed"
        if item.visibility == "hidden":
            mark += " (hidden test)"
        points = f"{fmt_points(item.points)} / {fmt_points(item.max_points)}"
        lines.append(f"| {_cell(item.title)} | {points} | {mark} |")
    return lines


def _check_section(check: CheckResult, hidden: bool, items: list[str]) -> list[str]:
    """One ``###`` section for a check that did not pass."""
    where = f" (rubric: {', '.join(items)})" if items else ""
    if hidden:
        return [
            f"### {check.title}: failed{where}",
            "",
            "This is a hidden check, so its details are not shown. Re-read the part of the "
            "assignment it is about and test that behaviour yourself.",
            "",
        ]
    lines = [f"### {check.title}: {check.status.value}{where}", ""]
    hint = STATUS_HINTS.get(check.status)
    if hint:
        lines += [hint, ""]
    if check.message:
        lines += [fence(check.message), ""]
    return lines


def to_feedback_markdown(result: SubmissionResult) -> str:
    """The student's feedback page for one submission, as Markdown."""
    hidden = hidden_check_ids(result)
    lines = [
        f"# {result.assignment}: feedback for {result.student}",
        "",
        f"**Score: {fmt_points(result.score)} / {fmt_points(result.max_score)}** "
        f"(status: {result.status.value})",
        "",
    ]
    overall = OVERALL.get(result.status, "")
    if overall:
        lines += [overall, ""]
    if result.message:
        lines += [_quote(result.message), ""]
    if result.items:
        lines += ["## Rubric", "", *_items_table(result), ""]
    failing = [
        c for c in result.checks if c.status not in (CheckStatus.PASSED, CheckStatus.SKIPPED)
    ]
    skipped = [c for c in result.checks if c.status == CheckStatus.SKIPPED]
    if failing:
        lines += [
            "## What to fix",
            "",
            "Checks are listed in the order they ran; fix the first one first, since later "
            "checks often fail because of it.",
            "",
        ]
        for check in failing:
            used_by = [i.title for i in result.items if check.id in i.checks]
            lines += _check_section(check, check.id in hidden, used_by)
    elif result.checks and not skipped:
        lines += ["All checks passed.", ""]
    if skipped:
        lines += ["## Not run", "", STATUS_HINTS[CheckStatus.SKIPPED], ""]
        for check in skipped:
            why = "" if check.id in hidden or not check.message else f": {_cell(check.message)}"
            lines.append(f"- {_cell(check.title)}{why}")
        lines.append("")
    if result.warnings:
        lines += ["## Warnings", "", *[f"- {_cell(w)}" for w in result.warnings], ""]
    if result.files:
        lines += [
            "## Files graded",
            "",
            *[f"- `{name}` (sha256 {sha[:12]})" for name, sha in sorted(result.files.items())],
            "",
        ]
    env = result.environment
    if env is not None:
        lines += [
            f"_Graded by nlpgrade {env.grader_version} (Python {env.python}, torch "
            f"{env.torch}, profile {result.profile}, seed {env.seed})._",
            "",
        ]
    return "\n".join(lines)
