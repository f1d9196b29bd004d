"""The result model: one pydantic record per graded submission, read by every exporter."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, computed_field

from grader.compat import StrEnum

Visibility = Literal["visible", "hidden", "after_due_date", "after_published"]


class CheckStatus(StrEnum):
    """How one check ended. ``passed``/``failed`` are verdicts; the others say why there is none."""

    PASSED = "passed"
    FAILED = "failed"
    TODO = "todo"  # the student has not filled the code this check needs (NotImplementedError)
    ERROR = "error"  # the student's code raised, or exited, while the check ran
    TIMEOUT = "timeout"
    OOM = "oom"
    SKIPPED = "skipped"  # not run: a check it depends on failed, or it needs the reference


class SubmissionStatus(StrEnum):
    """Whether grading reached a verdict on every check; the score says how well it went.

    ``graded`` and ``incomplete`` rows have a score; :attr:`SubmissionResult.outcome` combines the
    status with it ("zero", "partial credit", ...). A TODO left in the template is a verdict (the
    code is not written), so the untouched template is ``graded`` with a zero; a syntax error makes
    the checks crash, so it is ``incomplete`` with a zero.
    """

    GRADED = "graded"  # every check reached a verdict: passed, wrong answer, or not written (TODO)
    INCOMPLETE = "incomplete"  # some checks could not finish: the code crashed, timed out or OOM
    NO_SUBMISSION = "no_submission"  # nothing gradable was found
    INVALID = "invalid"  # the upload itself is unusable (unsafe zip, too large, ...)
    GRADER_ERROR = "grader_error"  # the grader failed; the submission is not at fault


class Band(StrEnum):
    """How much of the score a row earned (``not_graded`` when there is no score at all)."""

    FULL_MARKS = "full_marks"
    PARTIAL_CREDIT = "partial_credit"
    ZERO = "zero"
    NOT_GRADED = "not_graded"


UNFINISHED = ("error", "timeout", "oom")  # check statuses that make a submission incomplete
UNFINISHED_WORDS = {"error": "crashed", "timeout": "timed out", "oom": "ran out of memory"}
NOT_GRADED_WORDS = {
    "no_submission": "no submission",
    "invalid": "invalid upload",
    "grader_error": "grader error",
}


class CheckResult(BaseModel):
    """One check's verdict, with the feedback a student reads."""

    id: str
    title: str
    tier: str = "property"  # file, property, reference or an opt-in tier of the plug-in
    status: CheckStatus
    score: float = Field(ge=0.0, le=1.0, default=0.0)  # fraction of the check earned
    message: str = ""  # what was expected, what was found, where to look
    details: dict[str, Any] = Field(
        default_factory=dict
    )  # numbers behind the message (max error, index)
    hidden: bool = False  # hidden checks tell the student only that they failed
    duration_s: float = 0.0
    evidence: str = ""  # e.g. the loss the student's own script printed (never used for the score)
    depends: list[str] = Field(default_factory=list)  # checks that had to pass before this one


class ItemResult(BaseModel):
    """One rubric item: points earned from the checks it needs."""

    id: str
    title: str
    points: float
    max_points: float
    checks: list[str]
    policy: Literal["all_or_nothing", "proportional"]
    visibility: Visibility = "visible"
    passed: bool
    message: str = ""


class Timings(BaseModel):
    """Where the grading time went, for the benchmarks and the summary."""

    total_s: float = 0.0
    probes_s: float = 0.0  # time spent inside sandboxed probes
    worker_start_s: float = 0.0  # sandbox worker starts (imports torch)
    worker_starts: int = 0  # how many sandboxed workers (torch imports) the submission cost
    reference_s: float = 0.0  # the parent's trusted compute (reference, recomputed heads/losses)


class Environment(BaseModel):
    """Versions and settings that make a grade reproducible."""

    grader_version: str
    python: str
    torch: str
    numpy: str = ""
    platform: str
    sandbox: str
    sandbox_isolates: bool
    threads: int = 1
    seed: int = 0
    # packages not at constraints/grading.txt's exact version, e.g. "torch 2.12.0 (grading pin
    # 2.13.0)": empty in the course's grading environment
    version_drift: list[str] = Field(default_factory=list)


class SubmissionResult(BaseModel):
    """The full record of grading one submission."""

    # 2: status "partial" became "incomplete"; computed "band" and "outcome" were added.
    schema_version: Literal[2] = 2
    student: str
    assignment: str
    profile: str
    status: SubmissionStatus
    score: float = 0.0
    max_score: float = 0.0
    items: list[ItemResult] = Field(default_factory=list)
    checks: list[CheckResult] = Field(default_factory=list)
    message: str = ""  # one line for the gradebook: what happened overall
    warnings: list[str] = Field(default_factory=list)  # e.g. "your config.py was ignored"
    integrity_flags: list[str] = Field(default_factory=list)  # e.g. "printed loss disagrees"
    files: dict[str, str] = Field(default_factory=dict)  # file name -> sha256
    submission_hash: str = ""
    source: str = ""  # where the submission came from (folder, zip, LMS file names)
    identity: dict[str, str] = Field(default_factory=dict)  # LMS name/email/ids, for gradebooks
    rubric_hash: str = ""
    kit_hash: str = ""
    cache_key: str = ""
    environment: Environment | None = None
    timings: Timings = Field(default_factory=Timings)
    graded_at: datetime | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def band(self) -> Band:
        """Full marks, partial credit or zero for a scored row; ``not_graded`` otherwise."""
        if self.status not in (SubmissionStatus.GRADED, SubmissionStatus.INCOMPLETE):
            return Band.NOT_GRADED
        if self.max_score > 0 and self.score >= self.max_score:
            return Band.FULL_MARKS
        return Band.PARTIAL_CREDIT if self.score > 0 else Band.ZERO

    def unfinished(self) -> dict[str, int]:
        """How many checks could not finish, by status (``error``, ``timeout``, ``oom``)."""
        counts = {s: sum(c.status.value == s for c in self.checks) for s in UNFINISHED}
        return {s: n for s, n in counts.items() if n}

    @computed_field  # type: ignore[prop-decorator]
    @property
    def outcome(self) -> str:
        """What happened, in words: ``zero; could not finish (3 crashed)``, ``no submission``."""
        if self.band == Band.NOT_GRADED:
            return NOT_GRADED_WORDS.get(self.status.value, self.status.value)
        words = self.band.value.replace("_", " ")
        unfinished = self.unfinished()
        if self.status == SubmissionStatus.INCOMPLETE:
            why = ", ".join(f"{n} {UNFINISHED_WORDS[s]}" for s, n in unfinished.items())
            words += f"; could not finish ({why or 'some checks did not run'})"
        return words

    def check(self, check_id: str) -> CheckResult | None:
        """The result of one check by id, or None when it did not run."""
        return next((c for c in self.checks if c.id == check_id), None)

    def item(self, item_id: str) -> ItemResult | None:
        """The result of one rubric item by id."""
        return next((i for i in self.items if i.id == item_id), None)
