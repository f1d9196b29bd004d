"""What one grading task carries besides bytes: the run's identity and one submission's record.

The client builds a ``RunSpec`` once per run and a ``TaskSpec`` per submission; the worker rebuilds
the run from it (rubric, kits, reference) and refuses to grade when anything that decides a grade
differs from the client's (grader version and code hash, torch version, rubric hash, kit hash).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch
from pydantic import BaseModel, Field

import grader
from grader.distributed.blobs import sha256_bytes, tree_files, tree_hash
from grader.fingerprint import grader_code_hash
from grader.intake import SubmissionInput
from grader.rubric import dump_rubric

if TYPE_CHECKING:
    from grader.batch import RunPlan


class RunSpec(BaseModel):
    """Everything fixed for a run, as the client has it."""

    assignment: str
    rubric_toml: str
    rubric_hash: str
    with_reference: bool
    sandbox: str
    kit_hash: str
    grader_version: str
    grader_code_hash: str  # the client's cache key includes it: other code must not fill that key
    torch_version: str
    reference: dict[str, str] = Field(default_factory=dict)  # relative path -> sha256
    reference_hash: str = ""
    data: dict[str, tuple[str, str]] = Field(default_factory=dict)  # setting -> (file name, sha)
    tiers: tuple[str, ...] = ()  # the opt-in tiers asked for (grade --tier)

    def plan_key(self) -> str:
        """What a worker's cached run depends on (one prepared plan per distinct key)."""
        return "|".join(
            [self.assignment, self.rubric_hash, str(self.with_reference), self.sandbox,
             self.reference_hash, self.kit_hash, ",".join(self.tiers),
             *sorted(sha for _, sha in self.data.values())]
        )


class TaskSpec(BaseModel):
    """One submission to grade: its intake record (no path: the worker stages its own copy)."""

    run: RunSpec
    submission: SubmissionInput


def data_files(plan: RunPlan) -> dict[str, Path]:
    """The files the rubric's data settings name (a course corpus, its vocabulary), by setting."""
    found = {}
    for name in plan.assignment.data_settings:
        value = str(plan.rubric.setting(name, "") or "")
        if value:
            found[name] = Path(value)
    return found


def run_spec(plan: RunPlan, sandbox: str) -> tuple[RunSpec, Path | None]:
    """The client's run as workers rebuild it, and the reference folder its blobs come from."""
    data = {name: (path.name, sha256_bytes(path.read_bytes()))
            for name, path in data_files(plan).items()}
    reference = plan.assignment.reference_dir() if plan.with_reference else None
    files = tree_files(reference) if reference is not None else {}
    spec = RunSpec(
        assignment=plan.assignment.name,
        rubric_toml=dump_rubric(plan.rubric),
        rubric_hash=plan.rubric.hash(),
        with_reference=plan.with_reference,
        sandbox=sandbox,
        kit_hash=plan.kit_hash,
        grader_version=grader.__version__,
        grader_code_hash=grader_code_hash(),
        torch_version=torch.__version__,
        reference=files,
        reference_hash=tree_hash(files) if files else "",
        data=data,
        tiers=plan.tiers,
    )
    return spec, reference
