"""The opt-in quality tier, end to end with the real sandbox and the real offline checkpoint:
the reference (at seq_len 64, on the project's own reviews) clears the bar from labels the
sandbox never sees, and a classify that answers the opposite label falls far below it. (A label map
swapped consistently in both directions, the zoo's labels_swapped, is harmless here: only
vectorize.fields sees it.)"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from grader.assignments import get_assignment
from grader.engine import grade_submission
from grader.sandbox import get_sandbox
from tests.bert_finetune.helpers import ROOT

REFERENCE = ROOT / "tests" / "zoo" / "bert_finetune" / "reference" / "classifier.py"


def _grade(folder: Path) -> dict:
    a = get_assignment("bert_finetune")
    rubric = a.default_rubric()
    rubric = rubric.model_copy(update={"items": [i for i in rubric.items
                                                 if i.id == "quality.accuracy"]})
    prepared = a.prepare(rubric, with_reference=False)
    files = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}
    result = grade_submission(assignment=a, rubric=rubric, prepared=prepared,
                              sandbox=get_sandbox("auto"), student=folder.name,
                              submission_dir=folder, files=files, with_reference=False,
                              tiers=("file", "property", "quality"))
    (check,) = [c for c in result.checks if c.id == "quality.accuracy"]
    return {"status": check.status, "message": check.message, **check.details}


@pytest.mark.slow
@pytest.mark.quality
def test_reference_passes_and_inverted_answers_fail(tmp_path: Path) -> None:
    source = REFERENCE.read_text().replace('"seq_len": 128,', '"seq_len": 64,')
    (tmp_path / "ok").mkdir()
    (tmp_path / "ok" / "classifier.py").write_text(source)
    ok = _grade(tmp_path / "ok")
    assert ok["status"] == "passed", ok["message"]
    assert ok["accuracy"]["test"] >= 0.7 and set(ok["accuracy"]) == {"test", "test-b"}
    assert 0.5 < ok["baseline"]["test"] <= 1.0
    (tmp_path / "inverted").mkdir()
    inverted = source.replace("out.extend(LABELS[i] for i in", "out.extend(LABELS[1 - i] for i in")
    assert inverted != source
    (tmp_path / "inverted" / "classifier.py").write_text(inverted)
    bad = _grade(tmp_path / "inverted")
    assert bad["status"] == "failed" and bad["accuracy"]["test"] < 0.3, bad["message"]
