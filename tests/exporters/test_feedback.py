"""The student's feedback page: score, item table, one section per failed check, nothing hidden."""

from __future__ import annotations

from grader.exporters import to_feedback_markdown
from grader.results import CheckResult, CheckStatus

from .conftest import SECRET, make_result


def test_layout_and_content(result):
    md = to_feedback_markdown(result)
    assert md.startswith("# bert_pretrain: feedback for alice")
    assert "**Score: 1 / 10**" in md
    assert "| Forward pass | 0 / 2 | ❌ not passed |" in md
    assert "| Training | 0 / 4 | ❌ not passed (hidden test) |" in md
    assert "### Output shapes: wrong answer (rubric: Forward pass)" in md
    assert "check the decoder's output size in model.py" in md
    assert "### Decoder weight is the embedding weight: timed out" in md
    assert "ran out of time" in md
    assert "## Warnings" in md and "your config.py was ignored" in md
    assert "`model.py`" in md


def test_hidden_checks_only_say_failed(result):
    md = to_feedback_markdown(result)
    assert SECRET not in md and "0.4417" not in md and "7.9" not in md
    assert "### MLM logits match the reference: failed" in md
    assert "### Trained checkpoint loss: failed" in md  # its item is hidden
    assert "printed loss disagrees" not in md


def test_messages_cannot_break_the_markdown():
    r = make_result(shapes=False)
    r.checks[0] = CheckResult(
        id="shapes",
        title="Output shapes",
        status=CheckStatus.FAILED,
        message="```\n# injected heading\n<script>x</script>",
    )
    md = to_feedback_markdown(r)
    assert "````text\n```\n# injected heading" in md  # a longer fence wraps it


def test_all_passed():
    r = make_result(hidden_ok=True)
    r.items[1].passed = True
    md = to_feedback_markdown(r)
    assert "All checks passed." in md and "## What to fix" not in md


def test_skipped_checks_are_listed_apart():
    r = make_result(hidden_ok=True)
    r.checks[1] = CheckResult(
        id="tied", title="Decoder tied", status=CheckStatus.SKIPPED, message="needs the reference"
    )
    r.checks[2] = CheckResult(
        id="ref_mlm", title="Hidden ref", status=CheckStatus.SKIPPED, hidden=True, message=SECRET
    )
    md = to_feedback_markdown(r)
    assert "## What to fix" not in md and "## Not run" in md
    assert "- Decoder tied: needs the reference" in md
    assert "- Hidden ref\n" in md and SECRET not in md
