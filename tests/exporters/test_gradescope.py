"""The Gradescope document is valid against the spec's schema and leaks nothing hidden."""

from __future__ import annotations

import json

import jsonschema
import pytest

from grader.exporters import to_gradescope, validate_gradescope, write_one
from grader.exporters.gradescope import gradescope_schema
from grader.results import SubmissionResult, SubmissionStatus

from .conftest import SECRET, make_result


def test_schema_is_a_valid_draft7_schema():
    jsonschema.Draft7Validator.check_schema(gradescope_schema())


def test_every_class_member_validates(klass):
    for result in klass:
        doc = to_gradescope(result)
        assert validate_gradescope(doc) == []
        jsonschema.validate(doc, gradescope_schema())
        json.dumps(doc, allow_nan=False)


def test_mapping(result):
    doc = to_gradescope(result)
    assert doc["stdout_visibility"] == "hidden" and doc["visibility"] == "visible"
    assert isinstance(doc["score"], float) and doc["score"] == result.score
    assert [t["name"] for t in doc["tests"]] == [i.title for i in result.items]
    first = doc["tests"][0]
    assert (first["score"], first["max_score"], first["status"]) == (0.0, 2.0, "failed")
    assert "logits_lm has shape" in first["output"] and first["output_format"] == "md"
    assert [t["visibility"] for t in doc["tests"]] == [
        "visible",
        "visible",
        "hidden",
        "after_due_date",
    ]
    assert "your config.py was ignored" in doc["output"]


def test_hidden_checks_and_items_do_not_leak(result):
    doc = to_gradescope(result)
    text = json.dumps(doc)
    assert SECRET not in text and "0.4417" not in text
    assert "printed loss disagrees" not in text  # integrity flags are instructor-only
    assert doc["tests"][2]["output"] == "failed"
    assert "(hidden check): failed" in doc["tests"][1]["output"]


@pytest.mark.parametrize(
    ("path", "bad", "needle"),
    [
        (("score",), "7.5", "score"),
        (("stdout_visibility",), "visible", "stdout_visibility"),
        (("visibility",), "public", "visibility"),
        (("tests", 0, "status"), "ok", "status"),
        (("tests", 0, "output_format"), "markdown", "output_format"),
        (("tests", 0, "max_score"), "2", "max_score"),
        (("tests", 0, "visibility"), "after_grading", "visibility"),
        (("tests", 0, "score"), float("nan"), "finite"),
        (("tests", 0, "bogus"), 1, "bogus"),
    ],
)
def test_validation_catches_bad_documents(result, path, bad, needle):
    doc = to_gradescope(result)
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = bad
    errors = validate_gradescope(doc)
    assert errors and any(needle in e for e in errors), errors


def test_score_required_somewhere():
    doc = {"tests": [{"name": "a", "max_score": 1}], "stdout_visibility": "hidden"}
    assert validate_gradescope(doc)
    doc["tests"][0]["score"] = 1
    assert validate_gradescope(doc) == []


def test_boolean_is_not_a_number(result):
    doc = to_gradescope(result)
    doc["score"] = True
    assert validate_gradescope(doc)


def test_grader_error_says_not_your_fault(tmp_path):
    r = SubmissionResult(
        student="x", assignment="a", profile="small", status=SubmissionStatus.GRADER_ERROR
    )
    doc = to_gradescope(r)
    assert "not your fault" in doc["output"] and doc["tests"] == []
    paths = write_one(r, tmp_path)
    assert json.loads(paths["gradescope"].read_text()) == doc


def test_nan_score_is_written_as_zero(tmp_path):
    r = make_result()
    r.score = float("nan")
    doc = to_gradescope(r)
    assert doc["score"] == 0.0 and validate_gradescope(doc) == []
