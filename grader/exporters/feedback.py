"""``feedback.md``: what the student reads — score, a table of rubric items, then what to fix.

Rendered from ``templates/feedback.md.j2``. Hidden checks (and every check of a hidden item)
only say that they failed. Messages are put in fenced blocks so nothing in them (backticks, HTML,
Markdown) can change the page. Integrity flags are never shown here; they are for the instructor.
"""

from __future__ import annotations

from typing import Any

from grader.exporters.common import (
    STATUS_HINTS,
    check_hint,
    decided_items,
    hidden_check_ids,
    overall_text,
    status_word,
)
from grader.exporters.jinja import markdown_env
from grader.results import CheckResult, CheckStatus, SubmissionResult


def rubric_note(result: SubmissionResult, check: CheckResult) -> str:
    """`` (rubric: A, B)``: the items this check decides, or a note that it gates every item."""
    items = decided_items(result, check.id)
    if not items:
        return ""
    if len(items) == len(result.items) > 1:
        return " (every rubric item needs it)"
    return f" (rubric: {', '.join(i.title for i in items)})"


def feedback_context(result: SubmissionResult) -> dict[str, Any]:
    """What the feedback template shows, worked out here so the template stays simple."""
    hidden = hidden_check_ids(result)
    failing = [
        {
            "check": c,
            "hidden": c.id in hidden,
            "where": rubric_note(result, c),
            "hint": check_hint(c),
            "words": status_word(c),
        }
        for c in result.checks
        if c.status not in (CheckStatus.PASSED, CheckStatus.SKIPPED)
    ]
    skipped = [
        {"check": c, "why": "" if c.id in hidden else c.message}
        for c in result.checks
        if c.status == CheckStatus.SKIPPED
    ]
    return {
        "r": result,
        "overall": overall_text(result),
        "failing": failing,
        "skipped": skipped,
        "skipped_hint": STATUS_HINTS[CheckStatus.SKIPPED],
    }


def to_feedback_markdown(result: SubmissionResult) -> str:
    """The student's feedback page for one submission, as Markdown."""
    page = markdown_env().get_template("feedback.md.j2").render(feedback_context(result))
    return page.rstrip("\n") + "\n"
