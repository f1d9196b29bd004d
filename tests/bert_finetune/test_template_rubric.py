"""The generated template is in sync and stops at TODOs; the rubric is 80 automatic points over
every check, 20 stated as a human's."""

from __future__ import annotations

import subprocess
import sys

import pytest

from grader.assignments import get_assignment
from tests.bert_finetune.helpers import ROOT, load_classifier

TEMPLATE = ROOT / "student_template" / "bert_finetune" / "classifier.py"


def test_template_is_not_stale() -> None:
    out = subprocess.run([sys.executable, "-m", "grader.templating", "--check", "--only",
                          "bert_finetune"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr


def test_template_imports_and_every_hole_is_a_todo() -> None:
    tpl = load_classifier(TEMPLATE, "tpl_classifier")
    calls = {
        "vectorize_ex": lambda: tpl.vectorize_ex("good", "pos", 8),
        "head_tail": lambda: tpl.head_tail("a b c", 1, 1),
        "make_optimizer": lambda: tpl.make_optimizer(None, "adam", 1e-4, 0.0),
        "make_scheduler": lambda: tpl.make_scheduler(None, 1, 2),
        "train_epoch": lambda: tpl.train_epoch(_Model(), [], _NoGrad(), None),
        "optimizer_step": lambda: tpl.optimizer_step(None, None, None, None),
        "mask_tokens": lambda: tpl.mask_tokens(None, None),
    }
    for name, call in calls.items():
        with pytest.raises(NotImplementedError, match=f"TODO {name}:"):
            call()
    assert "BEGIN SOLUTION" not in TEMPLATE.read_text()


class _Model:
    def train(self) -> None:
        pass


class _NoGrad:
    def zero_grad(self) -> None:
        pass


def test_rubric_is_80_automatic_points_over_every_check() -> None:
    a = get_assignment("bert_finetune")
    rubric = a.default_rubric()
    rubric.validate_checks(a.checks.ids())
    assert rubric.max_score == 80
    assert rubric.setting("human_points", 0) == 20
    assert set(rubric.check_ids) == a.checks.ids()
    text = (ROOT / "rubrics" / "bert_finetune.toml").read_text()
    assert "stay for a human" in text
