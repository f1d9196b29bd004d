"""`precheck`: all green on the reference, TODOs (not tracebacks) on the template, the right check
and message on mutants, and the same points as `grade` for the items it can decide."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from grader.assignments import get_assignment
from grader.context import SharedMemo
from grader.engine import grade_submission
from grader.intake import stage_one
from grader.precheck import precheck_rubric, predicted_score, run_precheck, visible_items
from grader.results import CheckStatus, SubmissionResult
from grader.sandbox import get_sandbox

pytestmark = pytest.mark.slow  # every test here runs precheck (a sandbox, a training run)

ROOT = Path(__file__).resolve().parents[2]
A6 = get_assignment("bert_pretrain")
CHECKPOINT = ROOT / "examples" / "bert_pretrain" / "alice_correct" / "bert_model.pt"
ZOO = ROOT / "tests" / "zoo" / "bert_pretrain"


def _folder(tmp_path: Path, src: Path, checkpoint: bool = True) -> Path:
    dest = tmp_path / src.name
    shutil.copytree(src, dest)
    if checkpoint and not (dest / "bert_model.pt").exists():
        shutil.copy2(CHECKPOINT, dest / "bert_model.pt")
    return dest


def _precheck(folder: Path, tmp_path: Path, train: bool = False,
              profile: str = "small") -> SubmissionResult:
    return run_precheck(A6, folder, tmp_path / "scratch", get_sandbox("auto"), train=train,
                        profile=profile)


def _precheck_cli(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from grader.cli import precheck_main; "
                           "raise SystemExit(precheck_main())", str(folder), *args],
                          capture_output=True, text=True, timeout=900,
                          env={"COLUMNS": "160", "PATH": "/usr/bin:/bin",
                               **{k: v for k, v in __import__("os").environ.items()
                                  if k.startswith("NLPGRADE")}})


def test_reference_is_all_green_and_exits_0(tmp_path: Path) -> None:
    folder = _folder(tmp_path, ROOT / "reference" / "bert_pretrain")
    proc = _precheck_cli(folder, "--json", "--profile", "small")
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc = json.loads(proc.stdout)  # --json: undecidable items carry null points
    checks = {c["id"]: c for c in doc["checks"]}
    ran = [c for c in checks.values() if c["status"] != "skipped"]
    assert ran and all(c["status"] == "passed" for c in ran), [c["id"] for c in ran]
    assert checks["info.own_training"]["status"] == "passed"
    assert checks["train.loop"]["status"] == "passed"
    ckpt = checks["checkpoint.precheck"]
    assert ckpt["status"] == "passed"
    assert "precheck's estimate" in ckpt["message"] and ckpt["details"]["loss"] <= 10.0
    assert {c["tier"] for c in ran} <= {"file", "property"}


def test_template_reports_every_hole_as_todo(tmp_path: Path) -> None:
    folder = _folder(tmp_path, ROOT / "student_template" / "bert_pretrain", checkpoint=False)
    result = _precheck(folder, tmp_path, train=True)
    todo = {c.id: c.message for c in result.checks if c.status == CheckStatus.TODO}
    assert {"encoder_layer.shapes", "bert.shapes", "info.own_training"} <= set(todo)
    for message in todo.values():
        assert "TODO" in message and "Traceback" not in message
    assert "EncoderLayer.forward" in todo["encoder_layer.shapes"]
    assert "train.tensors" in todo["info.own_training"] or "TODO" in todo["info.own_training"]
    assert predicted_score(result, A6, precheck_rubric(A6, True)) == 0


def test_template_exit_code_and_checklist(tmp_path: Path) -> None:
    folder = _folder(tmp_path, ROOT / "student_template" / "bert_pretrain", checkpoint=False)
    proc = subprocess.run([sys.executable, "-c", "from grader.cli import precheck_main; "
                           "raise SystemExit(precheck_main())", str(folder), "--no-train"],
                          capture_output=True, text=True, timeout=900,
                          env={"COLUMNS": "160", "PATH": "/usr/bin:/bin",
                               "HOME": os.environ["HOME"]})  # the suite's private home
    assert proc.returncode == 1
    assert "Not written yet" in proc.stdout and "Predicted" in proc.stdout
    assert "bert_model.pt" in proc.stdout  # the missing checkpoint is named


def test_text_file_named_bert_model_pt_is_refused(tmp_path: Path) -> None:
    folder = _folder(tmp_path, ROOT / "reference" / "bert_pretrain", checkpoint=False)
    (folder / "bert_model.pt").write_text("I will train it later\n")
    proc = _precheck_cli(folder, "--no-train", "--profile", "small")
    assert proc.returncode == 1, proc.stdout[-2000:]
    assert "Everything precheck can test passes" not in proc.stdout
    assert "bert_model.pt could not be used" in proc.stdout
    assert "not a zip-format PyTorch checkpoint" in " ".join(proc.stdout.split())


def test_small_checkpoint_when_the_course_is_official(tmp_path: Path) -> None:
    folder = _folder(tmp_path, ROOT / "reference" / "bert_pretrain")
    result = _precheck(folder, tmp_path, profile="official")
    check = result.check("checkpoint.precheck")
    assert check is not None and check.status == CheckStatus.FAILED
    assert "'official' profile of the course needs" in check.message
    assert "looks like a checkpoint of the 'small' profile" in check.message


def test_untrained_checkpoint_misses_the_threshold(tmp_path: Path) -> None:
    folder = _folder(tmp_path, ZOO / "untrained_checkpoint")
    check = _precheck(folder, tmp_path).check("checkpoint.precheck")
    assert check is not None and check.status == CheckStatus.FAILED
    assert "must be ≤ 10.0" in check.message and check.details["loss"] > 10.0


MUTANTS = {
    "no_tying": ("bert.weight_tying", "two separate weights"),
    "tying_copy": ("bert.weight_tying", "two separate weights"),
    "causal_mask": ("bert.bidirectional", "causal"),
    "query_mask": ("bert.pad_mask", "KEY is [PAD]"),
    "gather_wrong_dim": ("bert.masked_gather", "dim 1"),
    "no_decoder_bias": ("bert.masked_gather", "decoder_bias"),
    "gelu_norm_swapped": ("bert.masked_gather", "LayerNorm applied before GELU"),
    "cls_last_position": ("bert.nsp_head", "LAST position"),
    "no_tanh": ("bert.nsp_head", "without tanh"),
}


@pytest.fixture(scope="module")
def mutant_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, SubmissionResult]:
    tmp = tmp_path_factory.mktemp("mutants")
    return {name: _precheck(_folder(tmp, ZOO / name), tmp) for name in MUTANTS}


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_mutant_fails_the_right_check(mutant_results: dict[str, SubmissionResult],
                                      name: str) -> None:
    check_id, needle = MUTANTS[name]
    result = mutant_results[name]
    check = result.check(check_id)
    assert check is not None and check.status == CheckStatus.FAILED, check
    assert needle in check.message, check.message
    # checkpoint.precheck evaluates the submitted bert_model.pt with the student's own model, so a
    # model bug may rightly make it fail too: it is judged by the checkpoint tests.
    others = [
        c.id
        for c in result.checks
        if c.status == CheckStatus.FAILED and c.id not in (check_id, "checkpoint.precheck")
    ]
    assert others == [], f"only {check_id} should fail, also failed: {others}"


@pytest.mark.slow
def test_predicted_points_equal_grade_points(mutant_results: dict[str, SubmissionResult],
                                             tmp_path: Path) -> None:
    rubric = A6.default_rubric()
    rubric = rubric.model_copy(update={"settings": {**rubric.settings, "profile": "small"}})
    prepared = A6.prepare(rubric, with_reference=True)
    from grader.batch import RunPlan

    plan = RunPlan(assignment=A6, rubric=rubric, sandbox=get_sandbox("auto"), out_dir=tmp_path,
                   prepared=prepared)
    visible = set(visible_items(A6, rubric))
    shared = SharedMemo()
    try:
        for name, pre in mutant_results.items():
            sub = stage_one(_folder(tmp_path, ZOO / name), tmp_path / "staging",
                            expected_files=A6.required_files)
            graded = grade_submission(assignment=A6, rubric=rubric, prepared=prepared,
                                      sandbox=plan.sandbox, student=name,
                                      submission_dir=sub.staged_dir, files=sub.files,
                                      shared=shared)
            want = {i.id: i.points for i in graded.items if i.id in visible}
            got = {i.id: i.points for i in pre.items if i.id in visible}
            assert got == want, name
            assert predicted_score(pre, A6, rubric) == sum(want.values())
    finally:
        shared.close()


def test_json_output_is_the_result_model(tmp_path: Path) -> None:
    folder = _folder(tmp_path, ZOO / "no_tying")
    proc = subprocess.run([sys.executable, "-c", "from grader.cli import precheck_main; "
                           "raise SystemExit(precheck_main())", str(folder), "--json",
                           "--no-train"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    doc = json.loads(proc.stdout)
    assert doc["assignment"] == "bert_pretrain"
    assert {c["id"]: c["status"] for c in doc["checks"]}["bert.weight_tying"] == "failed"


def test_folder_that_is_not_an_assignment(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-c", "from grader.cli import precheck_main; "
                           "raise SystemExit(precheck_main())", str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "Could not tell which assignment" in proc.stdout
