"""What one grading task carries besides bytes: the run's identity and one submission's record.

The client builds a ``RunSpec`` once per run and a ``TaskSpec`` per submission; the worker rebuilds
the run from it (rubric, kits, reference) and refuses to grade when anything that decides a grade
differs from the client's (grader and torch versions, rubric hash, kit hash).
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from grader.intake import SubmissionInput


class RunSpec(BaseModel):
    """Everything fixed for a run, as the client has it."""

    assignment: str
    rubric_toml: str
    rubric_hash: str
    with_reference: bool
    sandbox: str
    kit_hash: str
    grader_version: str
    torch_version: str
    reference: dict[str, str] = Field(default_factory=dict)  # relative path -> sha256
    reference_hash: str = ""

    def plan_key(self) -> str:
        """What a worker's cached run depends on (one prepared plan per distinct key)."""
        return "|".join(
            [self.assignment, self.rubric_hash, str(self.with_reference), self.sandbox,
             self.reference_hash, self.kit_hash]
        )


class TaskSpec(BaseModel):
    """One submission to grade: its intake record (no path: the worker stages its own copy)."""

    run: RunSpec
    submission: SubmissionInput
