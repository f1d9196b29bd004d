"""The worker side without a cluster: ``grade_task`` grades like local threads from bytes alone,
stages the reference privately, and refuses clearly when its kit, rubric, versions or grader code
differ."""

from __future__ import annotations

import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from grader.assignments import get_assignment
from grader.batch import RunPlan, grade_one, intake, prepare_run
from grader.context import SharedMemo
from grader.distributed.spec import RunSpec, TaskSpec, run_spec
from grader.distributed.task import STATE, WorkerRefused, grade_task
from grader.intake import SubmissionInput
from grader.results import SubmissionResult
from grader.sandbox import get_sandbox
from tests.distributed.helpers import make_class, verdicts


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunPlan, list]]:
    root = tmp_path_factory.mktemp("task")
    a = get_assignment("mlm_step")
    plan = RunPlan(assignment=a, rubric=a.default_rubric(), sandbox=get_sandbox("auto"),
                   out_dir=root / "out", jobs=1)
    prepare_run(plan)
    subs = intake(make_class(root / "class", 3), plan)
    yield plan, subs
    STATE.close()


def _blobs(sub: SubmissionInput) -> dict[str, bytes]:
    assert sub.staged_dir is not None
    return {sha: (sub.staged_dir / name).read_bytes() for name, sha in sub.files.items()}


def _remote(plan: RunPlan, sub: SubmissionInput, run: RunSpec | None = None) -> SubmissionResult:
    spec, reference = run_spec(plan, "auto")
    run = run or spec
    ref = {sha: (reference / name).read_bytes() for name, sha in spec.reference.items()}
    task = TaskSpec(run=run, submission=sub.model_copy(update={"staged_dir": None}))
    text, worker, seconds = grade_task(task.model_dump_json(), _blobs(sub), ref)
    assert worker and seconds > 0
    return SubmissionResult.model_validate_json(text)


@pytest.mark.slow
def test_a_task_grades_exactly_like_local_threads(setup: tuple[RunPlan, list]) -> None:
    plan, subs = setup
    ok = [s for s in subs if s.status == "ok"]
    assert len(ok) == 2
    local = [grade_one(s, plan, SharedMemo()) for s in ok]
    remote = [_remote(plan, s) for s in ok]
    assert verdicts(remote) == verdicts(local)
    assert remote[0].score == 100.0 and remote[1].score < 100.0  # the reference, then a mutant


@pytest.mark.slow
def test_the_reference_comes_from_the_bytes_sent_into_a_private_folder(
    setup: tuple[RunPlan, list],
) -> None:
    plan, subs = setup
    _remote(plan, subs[0])
    staged = sorted(STATE.root.glob("reference-*/mlm_step"))
    assert len(staged) == 1
    assert (staged[0] / "oracle.py").read_bytes() == (
        plan.assignment.reference_dir() / "oracle.py"  # type: ignore[operator]
    ).read_bytes()
    assert stat.S_IMODE(STATE.root.stat().st_mode) == 0o700
    assert not list(STATE.root.glob("sub-*")), "a graded submission's copy is removed"


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"kit_hash": "0123456789abcdef"}, "built kit"),
        ({"grader_version": "0.0.0"}, "same versions"),
        ({"grader_code_hash": "0" * 64}, "other nlpgrade code than the client"),
        ({"rubric_hash": "f" * 64}, "rubric differently"),
    ],
)
def test_a_worker_that_would_grade_differently_refuses(
    setup: tuple[RunPlan, list], change: dict[str, str], says: str
) -> None:
    plan, subs = setup
    spec, _ = run_spec(plan, "auto")
    with pytest.raises(WorkerRefused, match=says):
        _remote(plan, subs[0], spec.model_copy(update=change))


def test_only_an_explicit_process_sandbox_accepts_no_isolation() -> None:
    from grader.distributed.task import open_sandbox

    assert open_sandbox("process").name == "process"
    assert open_sandbox("auto").isolates  # bwrap works on this machine


@pytest.mark.slow
def test_a_course_corpus_travels_as_bytes_and_the_worker_kit_matches(tmp_path: Path) -> None:
    """A rubric's ``corpus`` names a file on the client only; the worker gets its bytes."""
    from grader.assignments.bert_pretrain.kit import DEFAULT_CORPUS
    from grader.distributed.blobs import BlobError
    from grader.distributed.task import WorkerState

    corpus = tmp_path / "client-only" / "data_clean.txt"
    corpus.parent.mkdir()
    shutil.copy2(DEFAULT_CORPUS, corpus)
    a = get_assignment("bert_pretrain")
    rubric = a.default_rubric()
    settings = {**rubric.settings, "profile": "small", "corpus": str(corpus)}
    rubric = rubric.model_copy(update={"settings": settings})
    plan = RunPlan(assignment=a, rubric=rubric, sandbox=get_sandbox("auto"),
                   out_dir=tmp_path / "out", with_reference=False)
    prepare_run(plan)
    spec, _ = run_spec(plan, "auto")
    sha = spec.data["corpus"][1]
    state = WorkerState()
    try:
        worker = state.prepared(spec, {sha: corpus.read_bytes()})
        assert worker.plan.kit_hash == plan.kit_hash
        staged = Path(str(worker.plan.rubric.setting("corpus", "")))
        assert staged.read_bytes() == corpus.read_bytes()
        assert state.root in staged.parents and corpus.parent not in staged.parents
        other = spec.model_copy(update={"data": {"corpus": ("data_clean.txt", "0" * 64)}})
        with pytest.raises(BlobError, match="no bytes were sent"):
            state.prepared(other, {sha: corpus.read_bytes()})
    finally:
        state.close()


def test_preflight_names_other_code_and_a_missing_assignment() -> None:
    import torch

    import grader
    from grader.distributed.task import preflight
    from grader.fingerprint import grader_code_hash

    same = (grader.__version__, torch.__version__, grader_code_hash())
    assert preflight("auto", *same, "mlm_step") == ""
    assert "other nlpgrade code" in preflight("auto", *same[:2], "0" * 64, "mlm_step")
    assert "unknown assignment 'no_such'" in preflight("auto", *same, "no_such")


def test_the_opt_in_tiers_asked_for_travel_to_the_worker(tmp_path: Path) -> None:
    """``grade --tier quality --cluster ...``: the worker grades with the tiers the client asked
    for (its cache key says so), and a run without them is another prepared plan."""
    from grader.distributed.task import WorkerState

    a = get_assignment("bert_finetune")
    plan = RunPlan(assignment=a, rubric=a.default_rubric(), sandbox=get_sandbox("auto"),
                   out_dir=tmp_path / "out", with_reference=False, tiers=("quality",))
    prepare_run(plan)
    spec, _ = run_spec(plan, "auto")
    assert spec.tiers == ("quality",)
    plain = spec.model_copy(update={"tiers": ()})
    assert plain.plan_key() != spec.plan_key()
    state = WorkerState()
    try:
        assert state.prepared(spec, {}).plan.tiers == ("quality",)
        assert state.prepared(plain, {}).plan.tiers == ()
    finally:
        state.close()
