"""Fake graded submissions for the exporter tests (the exporters are what is under test)."""

from __future__ import annotations

import pytest

from grader.results import (
    CheckResult,
    CheckStatus,
    Environment,
    ItemResult,
    SubmissionResult,
    SubmissionStatus,
    Timings,
)

SECRET = "expected 0.4417 at hidden probe #3"  # must never reach a student


def make_result(
    student: str = "alice",
    *,
    shapes: bool = True,
    tied: bool = True,
    hidden_ok: bool = False,
    total_s: float = 3.0,
) -> SubmissionResult:
    """A graded A6 submission with one visible, one partly hidden and one hidden item."""
    checks = [
        CheckResult(
            id="shapes",
            title="Output shapes",
            status=CheckStatus.PASSED if shapes else CheckStatus.FAILED,
            score=float(shapes),
            message=""
            if shapes
            else "logits_lm has shape [2, 5, 100], expected [2, 5, 3000]: "
            "check the decoder's output size in model.py (BERT.__init__).",
        ),
        CheckResult(
            id="tied",
            title="Decoder weight is the embedding weight",
            status=CheckStatus.PASSED if tied else CheckStatus.TIMEOUT,
            message="" if tied else "ran for more than 20 s",
        ),
        CheckResult(
            id="ref_mlm",
            title="MLM logits match the reference",
            tier="reference",
            status=CheckStatus.PASSED if hidden_ok else CheckStatus.FAILED,
            hidden=True,
            message=SECRET,
            details={"max_abs_err": 0.4417},
        ),
        CheckResult(
            id="ref_loss",
            title="Trained checkpoint loss",
            tier="reference",
            status=CheckStatus.PASSED if hidden_ok else CheckStatus.FAILED,
            message="loss 7.9 > threshold 6.5 " + SECRET,
        ),
    ]
    items = [
        ItemResult(
            id="forward",
            title="Forward pass",
            points=2.0 if shapes else 0.0,
            max_points=2,
            checks=["shapes"],
            policy="all_or_nothing",
            passed=shapes,
        ),
        ItemResult(
            id="weights",
            title="Weights and reference",
            points=1.5 if tied else 0.0,
            max_points=3,
            checks=["tied", "ref_mlm"],
            policy="proportional",
            passed=False,
        ),
        ItemResult(
            id="training",
            title="Training",
            points=4.0 if hidden_ok else 0.0,
            max_points=4,
            checks=["ref_loss"],
            policy="all_or_nothing",
            visibility="hidden",
            passed=hidden_ok,
            message="see " + SECRET,
        ),
        ItemResult(
            id="style",
            title="Later",
            points=1,
            max_points=1,
            checks=[],
            policy="all_or_nothing",
            visibility="after_due_date",
            passed=True,
        ),
    ]
    score = sum(i.points for i in items)
    return SubmissionResult(
        student=student,
        assignment="bert_pretrain",
        profile="small",
        status=SubmissionStatus.GRADED if tied else SubmissionStatus.INCOMPLETE,
        score=score,
        max_score=10.0,
        items=items,
        checks=checks,
        message=f"{score:g}/10",
        warnings=["your config.py was ignored"],
        integrity_flags=["printed loss disagrees with the checkpoint"],
        files={"model.py": "ab" * 32},
        submission_hash="cd" * 32,
        source=f"folder {student}/",
        environment=Environment(
            grader_version="0.1.0",
            python="3.11.7",
            torch="2.13.0",
            platform="linux",
            sandbox="bwrap",
            sandbox_isolates=True,
        ),
        timings=Timings(total_s=total_s, probes_s=total_s / 2),
    )


@pytest.fixture
def result() -> SubmissionResult:
    """One partly failing submission."""
    return make_result(shapes=False, tied=False)


@pytest.fixture
def klass() -> list[SubmissionResult]:
    """A small class with every submission status."""
    return [
        make_result("alice", hidden_ok=True, total_s=5.0),
        make_result("bob", shapes=False, total_s=12.5),
        make_result("carol", tied=False, total_s=1.0),
        SubmissionResult(
            student="dave",
            assignment="bert_pretrain",
            profile="small",
            status=SubmissionStatus.NO_SUBMISSION,
            max_score=10.0,
            message="your folder dave is empty: no files were found in it.",
        ),
        SubmissionResult(
            student="eve",
            assignment="bert_pretrain",
            profile="small",
            status=SubmissionStatus.INVALID,
            max_score=10.0,
            message='=HYPERLINK("http://x") zip bomb',
            source="canvas user 4242: x",
        ),
    ]
