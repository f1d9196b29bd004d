"""What a student sees from precheck: a legend, whole check ids at 80 columns, every problem
said once, no warning about untouched handed-out files, and "not decidable here" in --json."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from rich.console import Console

from grader.assignments import get_assignment
from grader.precheck import NOT_DECIDABLE, precheck_json, print_checklist, run_precheck
from grader.results import CheckStatus, SubmissionResult
from grader.sandbox import get_sandbox

ROOT = Path(__file__).resolve().parents[2]
A6 = get_assignment("bert_pretrain")
TEMPLATE = ROOT / "student_template" / "bert_pretrain"


def _run(tmp: Path, edit_config: bool = False) -> SubmissionResult:
    folder = tmp / "a6"
    shutil.copytree(TEMPLATE, folder)
    if edit_config:
        with (folder / "config.py").open("a") as fh:
            fh.write("\nBATCH_SIZE = 1  # my own change\n")
    return run_precheck(A6, folder, tmp / "scratch", get_sandbox("auto"), train=True)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> SubmissionResult:
    return _run(tmp_path_factory.mktemp("template"))


def _text(result: SubmissionResult, width: int = 80) -> str:
    console = Console(width=width, record=True, color_system=None)
    print_checklist(console, result, A6)
    return console.export_text()


def test_checks_column_is_whole_at_80_columns(template: SubmissionResult) -> None:
    text = _text(template)
    for item in template.items:
        for check_id in item.checks:
            if template.check(check_id) is not None:
                assert check_id in text, f"{check_id} cut at 80 columns:\n{text}"
    assert "…\n" not in text.replace("… ", "")  # no ellipsis at a line end
    assert max(len(line) for line in text.splitlines()) <= 80


def test_legend_explains_every_icon(template: SubmissionResult) -> None:
    text = " ".join(_text(template).split())
    for words in ("✔ passed", "✘ failed", "… not written yet (TODO)", "! crashed", "⏱ timed out",
                  "- not run", f"? {NOT_DECIDABLE}"):
        assert words in text, words


def test_each_problem_is_said_once(template: SubmissionResult) -> None:
    text = _text(template, width=200)
    todo = [c for c in template.checks if c.status == CheckStatus.TODO]
    assert todo
    for check in todo:
        assert check.message.count("this part is not written yet") == 1, check.message
    assert text.count("bert_model.pt") >= 1 and "not found anywhere" not in text
    assert text.count("Missing: bert_model.pt") == 1


def test_untouched_framework_files_are_no_news(template: SubmissionResult,
                                               tmp_path: Path) -> None:
    assert not any("were ignored" in w for w in template.warnings), template.warnings
    edited = _run(tmp_path, edit_config=True)
    assert any("config.py" in w and "were ignored" in w for w in edited.warnings)
    assert not any("vocab.py" in w for w in edited.warnings)


def test_json_says_not_decidable_here(template: SubmissionResult) -> None:
    doc = json.loads(precheck_json(template, A6))
    words = {i["id"]: i["precheck"] for i in doc["items"]}
    undecided = [i for i in doc["items"] if i["precheck"] == NOT_DECIDABLE]
    assert words["full_model"] == NOT_DECIDABLE and undecided
    for item in undecided:
        assert item["points"] is None and item["passed"] is None
    decided = [i for i in doc["items"] if i["precheck"] != NOT_DECIDABLE]
    assert decided and all(isinstance(i["passed"], bool) for i in decided)
    assert doc["predicted_score"] == 0
    text = _text(template)
    assert NOT_DECIDABLE in text
