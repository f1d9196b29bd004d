"""A model.py that never finishes importing: the message names the line and every item it cost."""

from __future__ import annotations

import pytest

from grader.results import CheckStatus, SubmissionResult
from grader.selftest import grade_zoo

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stuck(tmp_path_factory: pytest.TempPathFactory) -> SubmissionResult:
    out = tmp_path_factory.mktemp("stuck-out")
    _, results = grade_zoo("bert_pretrain", jobs=1, only=["hostile_infinite_loop"], out_dir=out)
    return results[0]


def test_timeout_names_the_line_it_was_stuck_at(stuck: SubmissionResult) -> None:
    check = stuck.check("model.imports")
    assert check is not None and check.status == CheckStatus.TIMEOUT
    assert "importing model.py" in check.message
    # `while True: pass` at lines 13-14: the dump lands on either line of the loop
    where = {13: "  model.py:13: while True:", 14: "  model.py:14: pass"}
    line = int(check.details["stuck_at"][-1].removeprefix("model.py:").split()[0])
    assert check.details["stuck_at"][-1] == f"model.py:{line} in <module>"
    assert where[line] in check.message  # the source line, read from the staged copy
    assert "top-level code" in check.message
    assert "infinite loop" not in check.message and "endless loop" not in check.message


def test_timeout_lists_every_item_it_cost(stuck: SubmissionResult) -> None:
    check = stuck.check("model.imports")
    assert check is not None
    assert stuck.score == 0
    assert f"it cost {stuck.max_score:g} points" in check.message
    # Every item with points needs model.py; the 0-point loop item runs train.py with the
    # grader's stand-in model, so an import that hangs costs it nothing.
    costly = [i for i in stuck.items if i.max_points > 0]
    for item in costly:
        assert f"{item.title} ({item.max_points:g})" in check.message
    assert sorted(check.details["costs"]) == sorted(i.id for i in costly)
