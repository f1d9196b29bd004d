"""The full result model as JSON: ``results/<student>.json``."""

from __future__ import annotations

from pathlib import Path

from grader.atomic import atomic_write_text
from grader.results import SubmissionResult


def write_result_json(result: SubmissionResult, path: Path) -> None:
    """Write the whole :class:`SubmissionResult` (every field) to ``path`` atomically, indented."""
    atomic_write_text(path, result.model_dump_json(indent=2) + "\n")
