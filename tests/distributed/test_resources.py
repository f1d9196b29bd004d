"""Worker resources: what a run asks for (tier declarations, rubric, --resources) and the up-front
message when no worker of the cluster has it."""

from __future__ import annotations

from typing import ClassVar

import pytest

from grader.assignments import get_assignment
from grader.assignments.mlm_step import MlmStepAssignment
from grader.distributed.resources import (
    missing_resources,
    parse_resources,
    run_resources,
    tiers_used,
)


class GpuReferenceTier(MlmStepAssignment):
    """mlm_step with its reference tier declared as needing a GPU (a test tier)."""

    tier_resources: ClassVar[dict[str, dict[str, float]]] = {"reference": {"GPU": 1}}


def test_parse_resources() -> None:
    assert parse_resources("GPU=1") == {"GPU": 1.0}
    assert parse_resources("GPU=2, MEMORY=4e9") == {"GPU": 2.0, "MEMORY": 4e9}
    assert parse_resources("") == {}
    for bad in ("GPU", "GPU=", "GPU=zero", "=1", "GPU=0", "GPU=-1"):
        with pytest.raises(ValueError, match="NAME=AMOUNT"):
            parse_resources(bad)


def test_todays_assignments_need_no_resources() -> None:
    for name in ("bert_pretrain", "mlm_step"):
        a = get_assignment(name)
        assert run_resources(a, a.default_rubric()) == {}


def test_a_declared_tier_asks_for_its_resources() -> None:
    a = GpuReferenceTier()
    rubric = a.default_rubric()
    assert "reference" in tiers_used(a, rubric)
    assert run_resources(a, rubric) == {"GPU": 1.0}
    # a rubric that uses only the other tiers does not ask for a GPU
    light = rubric.model_copy(
        update={"items": [i for i in rubric.items
                          if all(a.checks[c].tier != "reference" for c in i.checks)]}
    )
    assert "reference" not in tiers_used(a, light)
    assert run_resources(a, light) == {}


def test_an_opt_in_tier_asks_only_when_grade_asks_for_it() -> None:
    a = get_assignment("bert_finetune")
    rubric = a.default_rubric()
    assert "quality.accuracy" in rubric.check_ids  # listed with 0 points, run only on --tier
    assert "quality" not in tiers_used(a, rubric)
    assert run_resources(a, rubric) == {}
    assert "quality" in tiers_used(a, rubric, ["quality"])
    assert run_resources(a, rubric, asked=["quality"]) == {"GPU": 1.0}


def test_rubric_setting_and_option_add_resources() -> None:
    a = get_assignment("mlm_step")
    rubric = a.default_rubric()
    settings = {**rubric.settings, "worker_resources": "GPU=1"}
    rubric = rubric.model_copy(update={"settings": settings})
    assert run_resources(a, rubric) == {"GPU": 1.0}
    assert run_resources(a, rubric, ["GPU=2", "MEM=1"]) == {"GPU": 2.0, "MEM": 1.0}


def test_a_cluster_without_the_resource_says_so() -> None:
    cpu_only = {"tcp://127.0.0.1:1": {"resources": {}}, "tcp://127.0.0.1:2": {}}
    gpu = {**cpu_only, "tcp://127.0.0.1:3": {"resources": {"GPU": 1}}}
    message = missing_resources(cpu_only, {"GPU": 1.0})
    assert "GPU=1" in message and "none of the 2 worker(s)" in message
    assert "--resources" in message
    assert missing_resources(gpu, {"GPU": 1.0}) == ""
    assert missing_resources(cpu_only, {}) == ""
