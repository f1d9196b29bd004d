"""What the worker reports beyond a probe's own outputs: patches of torch/builtins, stuck lines."""

from __future__ import annotations

from grader.sandbox import Limits, ProbeStatus, Session

QUICK = Limits(wall_s=20, cpu_s=20, memory_mb=1024, pids=32)


def test_patches_made_at_import_are_named(sess: Session) -> None:
    out = sess.run("call", {"module": "patch_import", "func": "ok"}, limits=QUICK)
    assert out.status is ProbeStatus.OK, out.message
    assert out.patched == [
        "torch.my_helper (added)",
        "torch.nn.CrossEntropyLoss.forward (replaced)",
        "torch.nn.functional.cross_entropy (replaced)",
        "builtins.round (replaced)",
    ]


def test_patches_made_while_called_are_named(sess: Session) -> None:
    out = sess.run("call", {"func": "monkeypatch"}, limits=QUICK)
    assert out.status is ProbeStatus.OK, out.message
    assert set(out.patched) == {
        "torch.allclose (replaced)",
        "torch.nn.functional.softmax (replaced)",
        "builtins.len (replaced)",
    }


def test_ordinary_torch_use_reports_nothing(sess: Session) -> None:
    out = sess.run("call", {"module": "clean_import", "func": "ok"}, limits=QUICK)
    assert out.status is ProbeStatus.OK, out.message
    assert out.data["result"] == 1
    assert out.patched == []


def test_a_patch_put_back_is_no_change(sess: Session) -> None:
    out = sess.run("call", {"module": "clean_import", "func": "patch_and_restore"}, limits=QUICK)
    assert out.status is ProbeStatus.OK, out.message
    assert out.patched == []


def test_patches_do_not_leak_into_the_next_probe(sess: Session) -> None:
    sess.run("call", {"module": "patch_import", "func": "ok"}, limits=QUICK)
    out = sess.run("echo", {"n": 2})
    assert out.status is ProbeStatus.OK and out.patched == []


def test_wall_timeout_names_the_stuck_line(sess: Session) -> None:
    out = sess.run("call", {"module": "stuck_import", "func": "ok"}, limits=QUICK.model_copy(
        update={"wall_s": 3.0}))
    assert out.status is ProbeStatus.TIMEOUT, out.message
    assert out.stuck_at[-2:] == [
        "stuck_import.py:12 in <module>",
        "stuck_import.py:9 in wait_for_data",
    ]


def test_cpu_timeout_names_the_stuck_line(sess: Session) -> None:
    out = sess.run("call", {"func": "spin"}, limits=QUICK.model_copy(
        update={"cpu_s": 1, "wall_s": 30}))
    assert out.status is ProbeStatus.TIMEOUT, out.message
    assert "CPU-time" in out.message
    assert out.stuck_at and out.stuck_at[-1].startswith("hostile.py:")
    assert out.stuck_at[-1].endswith(" in spin")


def test_no_stuck_line_when_the_probe_ends(sess: Session) -> None:
    out = sess.run("call", {"func": "monkeypatch"}, limits=QUICK)
    assert out.status is ProbeStatus.OK and out.stuck_at == []
