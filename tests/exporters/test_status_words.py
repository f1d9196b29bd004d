"""Status words say what happened: the TODO template is a graded zero; a syntax error is a zero
that could not finish."""

from __future__ import annotations

import json

from grader.exporters import to_feedback_markdown, to_gradescope
from grader.exporters.stats import class_stats, tally
from grader.results import (
    Band,
    CheckResult,
    CheckStatus,
    ItemResult,
    SubmissionResult,
    SubmissionStatus,
)

from .conftest import make_result


def _a6(student: str, status: CheckStatus, message: str) -> SubmissionResult:
    """Two items behind a gate check, the shape of bert_pretrain (model.imports gates all)."""
    checks = [
        CheckResult(id="model.imports", title="model.py imports", status=status, message=message),
        CheckResult(
            id="bert.shapes",
            title="Output shapes",
            status=CheckStatus.SKIPPED,
            depends=["model.imports"],
            message="Not run: it needs 'model.py imports' to pass first.",
        ),
        CheckResult(
            id="checkpoint.loss",
            title="Checkpoint loss",
            status=CheckStatus.SKIPPED,
            depends=[],
        ),
    ]
    items = [
        ItemResult(
            id="structure",
            title="Structure",
            points=0,
            max_points=3,
            checks=["bert.shapes"],
            policy="all_or_nothing",
            passed=False,
        ),
        ItemResult(
            id="training",
            title="Training",
            points=0,
            max_points=15,
            checks=["model.imports", "checkpoint.loss"],
            policy="all_or_nothing",
            passed=False,
        ),
    ]
    unfinished = status in (CheckStatus.ERROR, CheckStatus.TIMEOUT, CheckStatus.OOM)
    return SubmissionResult(
        student=student,
        assignment="bert_pretrain",
        profile="small",
        status=SubmissionStatus.INCOMPLETE if unfinished else SubmissionStatus.GRADED,
        max_score=18,
        items=items,
        checks=checks,
    )


def test_template_is_a_graded_zero_and_a_syntax_error_could_not_finish():
    template = _a6("tmpl", CheckStatus.TODO, "BERT.forward still raises NotImplementedError")
    broken = _a6("syntax", CheckStatus.ERROR, "SyntaxError: invalid syntax (model.py, line 12)")
    assert (template.status, template.band, template.outcome) == ("graded", Band.ZERO, "zero")
    assert broken.status == "incomplete" and broken.band == Band.ZERO
    assert broken.outcome == "zero; could not finish (1 crashed)"
    assert make_result(hidden_ok=True).band == Band.PARTIAL_CREDIT
    # the words travel with the JSON, and an old "partial" result no longer loads (regraded)
    doc = json.loads(broken.model_dump_json())
    assert doc["schema_version"] == 2 and doc["outcome"].startswith("zero; could not finish")
    assert SubmissionResult.model_validate_json(broken.model_dump_json()) == broken


def test_counters_count_each_row_once():
    full = make_result("full", hidden_ok=True)
    full.score = full.max_score
    rows = [
        full,
        make_result("part"),
        _a6("tmpl", CheckStatus.TODO, ""),
        _a6("syntax", CheckStatus.ERROR, "SyntaxError"),
        SubmissionResult(student="none", assignment="a", profile="p", status="no_submission"),
    ]
    counts = tally(rows)
    assert counts == {
        "full marks": 1,
        "partial credit": 1,
        "zero": 2,
        "no submission": 1,
        "could not finish": 1,
    }
    assert sum(v for k, v in counts.items() if k != "could not finish") == len(rows)
    assert class_stats(rows).tally == counts


def test_each_status_has_its_own_sentence():
    template = to_feedback_markdown(_a6("tmpl", CheckStatus.TODO, "still a TODO"))
    broken = to_feedback_markdown(_a6("syntax", CheckStatus.ERROR, "SyntaxError: line 12"))
    timeout = to_feedback_markdown(_a6("slow", CheckStatus.TIMEOUT, "ran for 20 s"))
    assert "(zero)" in template and "Nothing is implemented yet" in template
    assert "Not implemented yet" in template and "crash" not in template
    assert "1 check could not finish (1 crashed)" in broken
    assert "Your code crashed while this check ran" in broken
    assert "TODO" not in broken and "timeout" not in broken and "timed out" not in broken
    assert "1 timed out" in timeout and "ran out of time" in timeout and "crash" not in timeout


def test_a_gate_check_is_labelled_with_every_item_it_decides():
    md = to_feedback_markdown(_a6("syntax", CheckStatus.ERROR, "SyntaxError"))
    assert "### model.py imports: crashed (every rubric item needs it)" in md
    assert "(rubric: Training" not in md


def test_gradescope_says_the_outcome():
    doc = to_gradescope(_a6("syntax", CheckStatus.ERROR, "SyntaxError"))
    assert doc["output"].startswith("Result: zero; could not finish (1 crashed).")
    assert doc["extra_data"]["outcome"] == "zero; could not finish (1 crashed)"
