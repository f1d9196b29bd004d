"""The mlm_step rubric validates, round-trips, and adds up as its descriptions say."""

from __future__ import annotations

from pathlib import Path

from grader.assignments import get_assignment
from grader.rubric import Rubric, dump_rubric, load_rubric

ROOT = Path(__file__).resolve().parents[2]
PATH = ROOT / "rubrics" / "mlm_step.toml"


def test_round_trip(tmp_path: Path) -> None:
    rubric = load_rubric(PATH)
    again = tmp_path / "again.toml"
    again.write_text(dump_rubric(rubric))
    assert load_rubric(again) == rubric
    assert dump_rubric(load_rubric(again)) == dump_rubric(rubric)
    assert Rubric.model_validate(rubric.model_dump()) == rubric


def test_checks_exist_and_points_split() -> None:
    assignment = get_assignment("mlm_step")
    rubric = assignment.default_rubric()
    rubric.validate_checks(assignment.checks.ids())
    assert set(rubric.check_ids) == assignment.checks.ids()
    assert rubric.max_score == 100
    points = {item.id: item.points for item in rubric.items}
    structure = sum(points[i] for i in ("structure.output", "structure.pure",
                                        "structure.determinism", "values.output"))
    forward = points["forward.loss"] + points["update.w_head"]
    backward = sum(points[i] for i in ("update.w_emb", "update.pos_embed", "update.attention",
                                       "update.ffn", "selfcheck.fd"))
    assert (structure, forward, backward, points["rules"]) == (10, 25, 45, 20)


def test_precheck_tiers_need_no_reference() -> None:
    assignment = get_assignment("mlm_step")
    tiers = {spec.id: spec.tier for spec in assignment.checks}
    assert tiers["selfcheck.fd"] == "property" and tiers["rules.static"] == "file"
    assert {i for i, t in tiers.items() if t == "reference"} == {
        "forward.loss", "update.w_head", "update.w_emb", "update.pos_embed", "update.attention",
        "update.ffn", "values.output"}
