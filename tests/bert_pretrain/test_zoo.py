"""The mutant and hostile zoo of CS310 A6: every case gets exactly its expected score.

One class run grades all cases (2 graders, the real sandbox, the real reference) so that the
whole zoo costs one run; each test then reads its own case's result.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from grader.assignments import get_assignment
from grader.results import CheckStatus, SubmissionResult
from grader.selftest import grade_zoo, load_zoo, mismatches

pytestmark = pytest.mark.slow

ZOO = load_zoo("bert_pretrain")
MARKER = Path("/tmp/nlpgrade-pickle-payload-ran")


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, SubmissionResult]:
    MARKER.unlink(missing_ok=True)
    out = tmp_path_factory.mktemp("zoo-out")
    _, results = grade_zoo("bert_pretrain", jobs=2, out_dir=out)
    return {r.student: r for r in results}


@pytest.mark.parametrize("case", sorted(ZOO.cases))
def test_case_gets_its_expected_score(graded: dict[str, SubmissionResult], case: str) -> None:
    result = graded[case]
    problems = mismatches(ZOO, [result]).get(case, [])
    failing = {c.id: f"{c.status.value}: {c.message[:200]}" for c in result.checks
               if c.status != CheckStatus.PASSED}
    assert not problems, f"{case}: {problems}; checks not passed: {failing}"


def test_reference_and_template_bounds(graded: dict[str, SubmissionResult]) -> None:
    assert graded["reference"].score == graded["reference"].max_score == 50
    assert graded["template"].score == 0
    todo = [c for c in graded["template"].checks if c.status == CheckStatus.TODO]
    assert todo, "the template's holes must be reported as TODOs"
    assert all("TODO" in c.message and "Traceback" not in c.message for c in todo)


def test_every_failed_check_explains_itself(graded: dict[str, SubmissionResult]) -> None:
    for result in graded.values():
        for c in result.checks:
            if c.status in (CheckStatus.FAILED, CheckStatus.ERROR, CheckStatus.TIMEOUT,
                            CheckStatus.OOM, CheckStatus.TODO):
                assert len(c.message) > 40, f"{result.student}/{c.id}: {c.message!r}"


def test_pickle_payload_never_ran(graded: dict[str, SubmissionResult]) -> None:
    check = graded["hostile_pickle_checkpoint"].check("checkpoint.loss")
    assert check is not None and check.status == CheckStatus.FAILED
    assert "other than tensors" in check.message
    assert not MARKER.exists()


def test_forged_files_land_nowhere_outside_the_sandbox(graded: dict[str, SubmissionResult]) -> None:
    assert graded["hostile_forge"].score == graded["causal_mask"].score
    for path in ("/tmp/results.json", os.path.expanduser("~/results.json")):
        assert not Path(path).exists(), path


def test_hidden_material_never_reaches_feedback(graded: dict[str, SubmissionResult]) -> None:
    """No sandbox holds the reference or the eval targets: hunting for them finds nothing."""
    ref = get_assignment("bert_pretrain").reference_dir()
    assert ref is not None
    solution, inside = [], False  # the lines of the solution regions (not the framework's)
    for ln in (ref / "model.py").read_text().splitlines():
        inside = (inside or "BEGIN SOLUTION" in ln) and "END SOLUTION" not in ln
        if inside and len(ln.strip()) > 25 and not ln.strip().startswith("#"):
            solution.append(ln.strip())
    assert len(solution) >= 5
    for case in ("hostile_reads_secrets", "hostile_loop_hunts"):
        result = graded[case]
        text = "\n".join(c.message for c in result.checks) + "\n".join(result.warnings)
        leaked = [ln for ln in solution if ln in text]
        assert not leaked, (case, leaked[:3])
        assert "/etc/shadow" not in text and "BEGIN SOLUTION" not in text
    hunt = graded["hostile_loop_hunts"].check("train.loop")
    assert hunt is not None and hunt.status == CheckStatus.ERROR
    assert "masked_tokens" not in hunt.message  # the private targets were never in reach


def test_loop_bugs_cost_no_points_but_flag_the_row(graded: dict[str, SubmissionResult]) -> None:
    for case in (
        "loss_lm_only", "loss_clsf_only", "no_zero_grad", "hostile_loop_copies_checkpoint"
    ):
        result = graded[case]
        assert result.score == 50, case
        assert any("train.loop" in f for f in result.integrity_flags), case
        assert any("stand-in" in w for w in result.warnings), case
    assert not graded["reference"].integrity_flags


def test_timeouts_and_oom_are_told_apart(graded: dict[str, SubmissionResult]) -> None:
    loop = graded["hostile_infinite_loop"].check("model.imports")
    bomb = graded["hostile_memory_bomb"].check("model.imports")
    assert loop is not None and loop.status == CheckStatus.TIMEOUT
    assert bomb is not None and bomb.status == CheckStatus.OOM
    assert "CPU-time budget" in loop.message and "MiB" in bomb.message


# Every message a check can give, read by a test: (case, check, status, a phrase of the message).
MESSAGES = [
    ("reference", "model.builds", "passed", "parameters"),
    ("reference", "train.loop", "passed", "reproduces the course loop with the course's loss"),
    ("ok_ignore_pad_targets", "train.loop", "passed", "without the zero-padded targets"),
    ("ok_backward_twice", "train.loop", "passed", "reproduces the course loop"),
    ("reference", "checkpoint.loss", "passed", "without the zero-padded MLM targets"),
    ("no_checkpoint", "files.present", "failed", "Missing: bert_model.pt"),
    ("no_checkpoint", "checkpoint.loss", "failed", "was not submitted"),
    ("untrained_checkpoint", "checkpoint.loss", "failed", "must be ≤ 10.0"),
    ("no_save", "train.loop", "failed", "saved no bert_model.pt"),
    ("renamed_fc2", "model.state_dict_keys", "failed", "unexpected 2: fc_mlm.weight"),
    ("renamed_fc2", "bert.masked_gather", "failed", "Could not apply your own heads"),
    ("renamed_fc2", "bert.matches_reference", "failed", "your model has no fc2.bias, fc2.weight"),
    ("logits_not_gathered", "bert.shapes", "failed", "gather the hidden states at masked_pos"),
    ("template", "encoder_layer.shapes", "todo", "Not written yet"),
    ("template", "bert.masked_gather", "skipped", "needs 'BERT.forward returns"),
    ("no_tying", "bert.weight_tying", "failed", "self.decoder.weight = self.embedding"),
    ("no_tying", "bert.weight_tying", "failed", "exactly what an UNTIED decoder gives"),
    ("tying_copy", "bert.weight_tying", "failed", "UNTIED"),
    ("hostile_untied_emit", "bert.weight_tying", "failed", "not the tied update"),
    ("hostile_causal_patches", "bert.bidirectional", "failed", "could not be judged"),
    ("hostile_junk_checkpoint", "checkpoint.loss", "failed", "must be ≤ 10.0"),
    ("nondeterministic_nsp", "bert.deterministic", "failed", "not deterministic"),
    ("loss_clsf_only", "train.loop", "failed", "the MLM head never changed"),
    ("half_batches", "train.loop", "failed", "differ from the course loop's"),
    # the copy now lands (the loop sees the submission), but the parent judges only the
    # stand-in's recomputed trajectory: a copied checkpoint is not that.
    ("hostile_loop_copies_checkpoint", "train.loop", "failed", "not model.state_dict() of the"),
    ("causal_mask", "bert.bidirectional", "failed", "never with a causal"),
    ("no_pad_mask", "bert.pad_mask", "failed", "Appending 3 [PAD] tokens changed"),
    ("gather_wrong_dim", "bert.masked_gather", "failed", "gathering along dim 1"),
    ("no_decoder_bias", "bert.masked_gather", "failed", "without decoder_bias"),
    ("gelu_norm_swapped", "bert.masked_gather", "failed", "LayerNorm applied before GELU"),
    ("cls_last_position", "bert.nsp_head", "failed", "LAST position"),
    ("no_tanh", "bert.nsp_head", "failed", "without tanh"),
    ("ffn_skipped", "encoder_layer.matches_reference", "failed", "through self.pos_ffn"),
    ("causal_mask", "bert.matches_reference", "failed", "With the reference's weights loaded"),
    ("gather_dim0", "bert.shapes", "error", "Your code raised RuntimeError"),
    ("loss_lm_only", "train.loop", "failed", "the NSP head never changed"),
    ("no_zero_grad", "train.loop", "failed", "optimizer.zero_grad()"),
    ("logits_not_transposed", "train.loop", "error", "raised RuntimeError"),
    ("hostile_exit", "bert.shapes", "error", "before returning a result"),
    ("hostile_infinite_loop", "model.imports", "timeout", "CPU-time budget"),
    ("hostile_memory_bomb", "model.imports", "oom", "MiB"),
    ("hostile_pickle_checkpoint", "checkpoint.loss", "failed", "other than tensors"),
    ("hostile_reads_secrets", "train.loop", "error", "No such file"),
]


@pytest.mark.parametrize(("case", "check_id", "status", "needle"), MESSAGES,
                         ids=[f"{c}-{k}" for c, k, _, _ in MESSAGES])
def test_message(graded: dict[str, SubmissionResult], case: str, check_id: str, status: str,
                 needle: str) -> None:
    check = graded[case].check(check_id)
    assert check is not None, f"{check_id} did not run for {case}"
    assert check.status.value == status, check.message
    assert needle in check.message, check.message


def test_untrusted_checkpoint_path_is_flagged(graded: dict[str, SubmissionResult]) -> None:
    result = graded["renamed_fc2"]
    check = result.check("checkpoint.loss")
    assert check is not None and check.details["path"] == "own model"
    assert any("own-model path" in f for f in result.integrity_flags)
    assert any("scored its outputs" in w for w in result.warnings)
    junk = graded["hostile_junk_checkpoint"].check("checkpoint.loss")
    assert junk is not None and junk.details["path"] == "own model"
    assert junk.details["loss"] > 10.0  # the parent scored the logits; the forged 0.5 is ignored
