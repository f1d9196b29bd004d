"""Contract of a session on every backend: data, tensors, files, errors, determinism."""

from __future__ import annotations

import torch

from grader.safeload import load_state_dict
from grader.sandbox import ProbeStatus, Session


def test_normal_probe_returns_data_and_tensors(sess: Session) -> None:
    x = torch.arange(6.0).reshape(2, 3)
    out = sess.run("echo", {"n": 21}, {"x": x}, seed=3)
    assert out.status is ProbeStatus.OK, out.message
    assert out.message == "ok" and out.error is None and out.exit_code == 0
    assert out.data["params"] == {"n": 21} and out.data["double"] == 42
    assert out.data["second"] is True  # emit() merges
    assert out.data["vocab"] == ["the", "cat", "sat"]  # kit files are in the cwd
    assert out.data["config"] == "kit"  # kit first on sys.path
    assert out.data["cwd_is_workdir"] and out.data["seed"] == 3
    assert out.data["threads"] == 1 and out.data["deterministic"]
    assert torch.equal(out.tensors["twice"], x * 2)
    assert out.tensors["logits"].shape == (1, 3, 3)
    assert out.cpu_s is not None and out.wall_s > 0


def test_same_request_same_bytes(sess: Session) -> None:
    a = sess.run("echo", {"n": 1}, seed=7)
    b = sess.run("echo", {"n": 1}, seed=7)
    c = sess.run("echo", {"n": 1}, seed=8)
    for key in ("randn", "logits"):
        assert a.tensors[key].numpy().tobytes() == b.tensors[key].numpy().tobytes()
    assert not torch.equal(a.tensors["randn"], c.tensors["randn"])


def test_run_script_prints_and_exports_file(sess: Session) -> None:
    out = sess.run("train")
    assert out.status is ProbeStatus.OK, out.message
    assert "loss 1.2345 args ['--epochs', '1']" in out.stdout_tail
    assert "vocab 3" in out.stdout_tail
    assert set(out.files) == {"bert_model.pt"}  # a missing export is simply absent
    state = load_state_dict(out.files["bert_model.pt"], max_bytes=10 * 2**20)
    assert "emb.weight" in state


def test_not_implemented_is_todo_with_student_frames(sess: Session) -> None:
    out = sess.run("todo")
    assert out.status is ProbeStatus.CRASH
    assert out.error is not None and out.error.todo and out.error.type == "NotImplementedError"
    assert out.error.student_frames[-1].startswith("model.py:")
    assert "in unfinished: raise NotImplementedError" in out.error.student_frames[-1]
    assert "not implemented" in out.message


def test_exception_gives_crash_with_traceback_summary(sess: Session) -> None:
    out = sess.run("broken")
    assert out.status is ProbeStatus.CRASH and out.error is not None
    assert out.error.type == "KeyError" and not out.error.todo
    assert out.error.student_frames == ['model.py:38 in broken: return {}["missing"]']
    assert out.message.startswith("raised KeyError")


def test_unknown_probe(sess: Session) -> None:
    out = sess.run("no_such_probe")
    assert out.status is ProbeStatus.CRASH and "unknown probe" in out.message


def test_segfault_is_crash_with_signal(sess: Session) -> None:
    out = sess.run("call", {"func": "crash_segv"})
    assert out.status is ProbeStatus.CRASH
    assert out.signal == "SIGSEGV" and out.message == "killed by signal SIGSEGV"
    assert sess.run("echo").status is ProbeStatus.OK


def test_non_json_output_does_not_cross_as_pickle(sess: Session) -> None:
    out = sess.run("pickle_out")
    assert out.status is ProbeStatus.CRASH and out.data == {}
    assert "could not write the probe's outputs" in out.message


def test_extra_ro_dir_only_when_asked(world, backend: str) -> None:
    from grader.sandbox import get_sandbox

    spec = world.spec(extra_ro={"/reference_model": world.root / "refmod"}, preload_torch=False)
    with get_sandbox(backend).open(spec) as s:
        out = s.run("call", {"module": "refmod", "func": "x"})
        assert out.status is ProbeStatus.CRASH and out.error.type == "ModuleNotFoundError"
        ok = s.run("extra")
        assert ok.status is ProbeStatus.OK, ok.message
        assert ok.data == {"value": "from-extra"}
        assert s.stats["worker_starts"] == 1 and s.stats["probes"] == 2


def test_dataloader_with_worker_processes(sess: Session) -> None:
    out = sess.run("call", {"module": "model", "func": "loader_sum"})
    assert out.status is ProbeStatus.OK, (out.message, out.stderr_tail[-500:])
    assert out.data["result"] == 66.0
