"""The course's rule is the default; the strict loop policy is one rubric edit away."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from grader.assignments import get_assignment
from grader.assignments.bert_pretrain.checks.loop import loop_key
from grader.batch import RunPlan, grade_all, intake, prepare_run
from grader.context import GradingContext
from grader.rubric import Rubric, RubricItem
from grader.sandbox import get_sandbox

ROOT = Path(__file__).resolve().parents[2]
ZOO = ROOT / "tests" / "zoo" / "bert_pretrain"
CHECKPOINT = ROOT / "examples" / "bert_pretrain" / "alice_correct" / "bert_model.pt"
A6 = get_assignment("bert_pretrain")


def _small_rubric(strict: bool) -> Rubric:
    rubric = A6.default_rubric()
    items = []
    for item in rubric.items:
        if strict and item.id == "training":
            item = RubricItem(**{**item.model_dump(), "checks": [*item.checks, "train.loop"]})
        items.append(item)
    return rubric.model_copy(
        update={"settings": {**rubric.settings, "profile": "small"}, "items": items}
    )


def test_default_rubric_follows_the_course_rule() -> None:
    rubric = A6.default_rubric()
    training = next(i for i in rubric.items if i.id == "training")
    assert training.points == 15 and "train.loop" not in training.checks
    assert rubric.max_score == 50
    model_points = sum(i.points for i in rubric.items if i.id not in ("training", "training_loop"))
    assert model_points == 35  # "otherwise 35": the model's points without the checkpoint's
    loop = next(i for i in rubric.items if "train.loop" in i.checks)
    assert loop.points == 0


@pytest.mark.slow
def test_strict_policy_takes_the_training_points_of_a_bad_loop(tmp_path: Path) -> None:
    subs = tmp_path / "class"
    for case in ("loss_lm_only", "ok_separate_criteria"):
        shutil.copytree(ZOO / case, subs / case)
        shutil.copy2(CHECKPOINT, subs / case / "bert_model.pt")
    scores = {}
    for strict in (False, True):
        plan = RunPlan(assignment=A6, rubric=_small_rubric(strict), sandbox=get_sandbox("auto"),
                       out_dir=tmp_path / f"out-{strict}", jobs=1, use_cache=False)
        prepare_run(plan)
        scores[strict] = {r.student: r.score for r in grade_all(intake(subs, plan), plan)}
    assert scores[False] == {"loss_lm_only": 50, "ok_separate_criteria": 50}
    assert scores[True] == {"loss_lm_only": 35, "ok_separate_criteria": 50}


def _ctx(folder: Path, prepared: object) -> GradingContext:
    files = {p.name: "x" for p in folder.iterdir()}
    return GradingContext(assignment=A6, rubric=A6.default_rubric(), prepared=prepared,
                          sandbox=get_sandbox("process"), student=folder.name,
                          submission_dir=folder, files=files, with_reference=False)


def test_shared_loop_verdict_keys_on_what_its_sandbox_sees(tmp_path: Path) -> None:
    prepared = A6.prepare(_small_rubric(False), with_reference=False)
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    for folder in (a, b, c):
        shutil.copytree(ROOT / "reference" / "bert_pretrain", folder)
    (b / "model.py").write_text((b / "model.py").read_text() + "\n# MARKER another student\n")
    (c / "train.py").write_text((c / "train.py").read_text() + "\n# one more line\n")
    key_a, key_b, key_c = (loop_key(_ctx(f, prepared)) for f in (a, b, c))
    assert key_a == key_b  # model.py and bert_model.pt are not in the loop's sandbox
    assert key_a != key_c
    assert prepared.probe_kit.hash in key_a
