"""Gradescope ``results.json``: one test per rubric item, hidden details withheld, stdout hidden.

The document follows Gradescope's published autograder specification; :func:`validate_gradescope`
checks it against ``gradescope_results.schema.json`` (written from that spec) plus this project's
own rules (stdout hidden, every number finite).
"""

from __future__ import annotations

import json
import math
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

from grader.atomic import atomic_write_text
from grader.exporters.common import (
    STATUS_WORDS,
    fence,
    hidden_check_ids,
    num,
    overall_text,
    verdict,
)
from grader.results import CheckStatus, ItemResult, SubmissionResult

SCHEMA_PATH = Path(__file__).with_name("gradescope_results.schema.json")

@cache
def gradescope_schema() -> dict[str, Any]:
    """The shipped JSON Schema of Gradescope's results format."""
    return json.loads(SCHEMA_PATH.read_text("utf-8"))


def _item_output(result: SubmissionResult, item: ItemResult, hidden: set[str]) -> str:
    """Markdown for one test: the item's note, then its checks (hidden ones: verdict only)."""
    if item.visibility == "hidden":
        return "passed" if item.passed else "failed"
    parts = [item.message] if item.message else []
    for check_id in item.checks:
        check = result.check(check_id)
        if check is None:
            parts.append(f"**{check_id}**: not run.")
        elif check_id in hidden:
            parts.append(f"**{check.title}** (hidden check): {verdict(check)}.")
        elif check.status == CheckStatus.PASSED:
            parts.append(f"**{check.title}**: passed.")
        else:
            body = f"**{check.title}**: {STATUS_WORDS[check.status]}."
            parts.append(body + ("\n\n" + fence(check.message) if check.message else ""))
    return "\n\n".join(parts)


def _top_output(result: SubmissionResult) -> str:
    """What the student reads above the tests: the overall message and the warnings."""
    lines = [f"Result: {result.outcome}.", overall_text(result)]
    if result.message:
        lines.append(result.message)
    if result.warnings:
        lines.append("Warnings:\n" + "\n".join(f"- {w}" for w in result.warnings))
    return "\n\n".join(line for line in lines if line)


def to_gradescope(result: SubmissionResult, *, visibility: str = "visible") -> dict[str, Any]:
    """The Gradescope ``results.json`` document for one graded submission.

    Top level: ``score`` (number), ``output`` (Markdown), ``stdout_visibility: "hidden"``,
    ``visibility``. One test per rubric item with its points, ``passed``/``failed``, the messages
    of its checks and the item's visibility; hidden items and hidden checks say only passed/failed.
    Integrity flags are never included (they are for the instructor).
    """
    hidden = hidden_check_ids(result)
    tests = []
    for n, item in enumerate(result.items, start=1):
        tests.append(
            {
                "name": item.title,
                "number": str(n),
                "score": num(item.points),
                "max_score": num(item.max_points),
                "status": "passed" if item.passed else "failed",
                "output": _item_output(result, item, hidden),
                "output_format": "md",
                "visibility": item.visibility,
            }
        )
    return {
        "score": num(result.score),
        "execution_time": num(result.timings.total_s, 2),
        "output": _top_output(result),
        "output_format": "md",
        "visibility": visibility,
        "stdout_visibility": "hidden",
        "tests": tests,
        "extra_data": {
            "status": result.status.value,
            "outcome": result.outcome,
            "submission_hash": result.submission_hash,
            "cache_key": result.cache_key,
        },
    }


def _nonfinite(doc: Any, path: str = "") -> list[str]:
    """Locations of NaN or infinite numbers (not valid JSON)."""
    if isinstance(doc, float) and not math.isfinite(doc):
        return [f"{path or 'document'}: {doc!r} is not a finite number"]
    if isinstance(doc, dict):
        return [e for k, v in doc.items() for e in _nonfinite(v, f"{path}.{k}" if path else k)]
    if isinstance(doc, list):
        return [e for i, v in enumerate(doc) for e in _nonfinite(v, f"{path}[{i}]")]
    return []


def validate_gradescope(doc: dict[str, Any]) -> list[str]:
    """Errors of ``doc`` against the Gradescope results schema and our rules (empty when valid).

    Validation is done by ``jsonschema`` (Draft 7) against the shipped schema of the published
    spec, plus our own rules (stdout hidden, finite numbers).
    """
    validator = jsonschema.Draft7Validator(gradescope_schema())
    errors = [
        f"{e.json_path.removeprefix('$.').removeprefix('$')}: {e.message}".lstrip(": ")
        for e in sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.path)))
    ]
    if isinstance(doc, dict) and doc.get("stdout_visibility") != "hidden":
        errors.append(
            "stdout_visibility: must be 'hidden' (the grader's stdout is for the instructor only)"
        )
    return errors + _nonfinite(doc)


def write_gradescope_json(result: SubmissionResult, path: Path) -> None:
    """Write the Gradescope document for ``result`` to ``path`` atomically (strict JSON)."""
    doc = to_gradescope(result)
    atomic_write_text(path, json.dumps(doc, indent=2, allow_nan=False, ensure_ascii=False) + "\n")
