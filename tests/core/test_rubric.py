"""The rubric file round-trips through its pydantic model and scores items by their policy."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from grader.assignments import all_assignments, get_assignment
from grader.compat import tomllib
from grader.results import CheckResult, CheckStatus
from grader.rubric import Rubric, RubricItem, dump_rubric, load_rubric, score_items

ROOT = Path(__file__).resolve().parents[2]
RUBRICS = sorted((ROOT / "rubrics").glob("*.toml"))


@pytest.mark.parametrize("path", RUBRICS, ids=lambda p: p.stem)
def test_rubric_round_trips(path: Path) -> None:
    rubric = load_rubric(path)
    again = Rubric.model_validate(tomllib.loads(dump_rubric(rubric)))
    assert again == rubric
    assert again.hash() == rubric.hash()


@pytest.mark.parametrize("path", RUBRICS, ids=lambda p: p.stem)
def test_rubric_names_only_existing_checks(path: Path) -> None:
    rubric = load_rubric(path)
    assignment = get_assignment(rubric.assignment)
    rubric.validate_checks(assignment.checks.ids())


def test_bert_pretrain_rubric_is_the_published_policy() -> None:
    rubric = load_rubric(ROOT / "rubrics" / "bert_pretrain.toml")
    assert rubric.max_score == 50
    training = [i for i in rubric.items if "checkpoint.loss" in i.checks]
    assert [i.points for i in training] == [15]
    assert rubric.setting("loss_threshold", None) == 10.0


def test_unknown_check_is_named() -> None:
    rubric = Rubric(assignment="bert_pretrain", title="t",
                    items=[RubricItem(id="x", title="x", points=1, checks=["no.such.check"])])
    with pytest.raises(ValueError, match=r"no\.such\.check"):
        rubric.validate_checks(get_assignment("bert_pretrain").checks.ids())


def test_duplicate_item_ids_are_refused() -> None:
    item = RubricItem(id="x", title="x", points=1, checks=["a"])
    with pytest.raises(ValidationError, match="repeated: x"):
        Rubric(assignment="a", title="t", items=[item, item])


def test_extra_keys_are_refused() -> None:
    with pytest.raises(ValidationError):
        Rubric.model_validate({"assignment": "a", "title": "t", "itme": [],
                               "items": [{"id": "x", "title": "x", "points": 1, "checks": ["a"]}]})


def _check(cid: str, status: CheckStatus, score: float) -> CheckResult:
    return CheckResult(id=cid, title=cid, status=status, score=score)


def test_policies() -> None:
    rubric = Rubric(assignment="a", title="t", items=[
        RubricItem(id="all", title="all", points=10, checks=["a", "b"]),
        RubricItem(id="prop", title="prop", points=10, checks=["a", "b"], policy="proportional"),
        RubricItem(id="missing", title="m", points=4, checks=["c"]),
    ])
    checks = {"a": _check("a", CheckStatus.PASSED, 1.0), "b": _check("b", CheckStatus.FAILED, 0.5)}
    items = {i.id: i for i in score_items(rubric, checks)}
    assert items["all"].points == 0 and not items["all"].passed
    assert items["prop"].points == 7.5
    assert items["missing"].points == 0 and "not run" in items["missing"].message
    assert "b" in items["all"].message


def test_every_assignment_has_a_valid_default_rubric() -> None:
    for assignment in all_assignments().values():
        rubric = assignment.default_rubric()
        rubric.validate_checks(assignment.checks.ids())
        assert rubric.max_score > 0
