"""Every per-probe limit has a test: wall, CPU, memory, processes, file size, output, logs."""

from __future__ import annotations

from grader.sandbox import Limits, ProbeStatus, Session

SMALL = Limits(wall_s=10, cpu_s=10, memory_mb=512, pids=16, fsize_mb=4, output_mb=2, log_kb=4)


def _small(**kw: object) -> Limits:
    return SMALL.model_copy(update=kw)


def test_wall_clock_timeout_then_next_probe_ok(sess: Session) -> None:
    out = sess.run("call", {"func": "ignore_sigterm"}, limits=_small(wall_s=1.5))
    assert out.status is ProbeStatus.TIMEOUT, out.message
    assert out.message.startswith("sat idle until its 1.5 s wall-clock limit")
    assert sess.run("echo").status is ProbeStatus.OK


def test_cpu_time_limit(sess: Session) -> None:
    out = sess.run("call", {"func": "spin"}, limits=_small(cpu_s=1, wall_s=30))
    assert out.status is ProbeStatus.TIMEOUT, out.message
    assert out.message == "ran out of its 1 s CPU-time budget"


def test_memory_limit_oom_kill(sess: Session) -> None:
    out = sess.run(
        "call", {"func": "alloc_gradually", "kwargs": {"step_mb": 32}}, limits=_small(memory_mb=300)
    )
    assert out.status is ProbeStatus.OOM, out.message
    assert "300 MiB" in out.message
    assert sess.run("echo").status is ProbeStatus.OK


def test_allocating_50_gb_is_oom(sess: Session) -> None:
    out = sess.run("call", {"func": "alloc", "kwargs": {"gb": 50}}, limits=_small())
    assert out.status is ProbeStatus.OOM, out.message


def test_process_limit(sess: Session) -> None:
    out = sess.run("call", {"func": "spawn", "kwargs": {"n": 100}}, limits=_small(pids=8))
    assert out.status is ProbeStatus.OK, out.message
    assert out.data["result"] < 8


def test_file_size_limit(sess: Session) -> None:
    out = sess.run("call", {"func": "big_file", "kwargs": {"gb": 10}}, limits=_small(fsize_mb=4))
    assert out.status is ProbeStatus.CRASH
    assert "File too large" in out.message and "4 MiB" in out.message


def test_output_tensor_cap(sess: Session) -> None:
    out = sess.run("big_output", {"mb": 3}, limits=_small(output_mb=2))
    assert out.status is ProbeStatus.CRASH and out.message.startswith("output rejected")
    assert out.tensors == {}
    assert sess.run("big_output", {"mb": 1}, limits=_small(output_mb=2)).status is ProbeStatus.OK


def test_exported_file_cap(sess: Session) -> None:
    out = sess.run("export_big", {"mb": 3}, limits=_small(output_mb=2))
    assert out.status is ProbeStatus.CRASH and "cap" in out.message and out.files == {}


def test_log_tail_cap(sess: Session) -> None:
    out = sess.run("call", {"func": "print_lots", "kwargs": {"kb": 64}}, limits=_small(log_kb=4))
    assert out.status is ProbeStatus.OK
    assert len(out.stdout_tail.encode()) <= 4 * 1024
    assert out.stdout_tail.rstrip().endswith(f"line {64 * 16 - 1:08d} " + "x" * 49)


def test_peak_memory_reported(sess: Session) -> None:
    out = sess.run("echo")
    assert out.peak_mem_mb is not None and out.peak_mem_mb > 0


def test_limits_hold_without_cgroups(world, backend: str, monkeypatch) -> None:
    """A laptop without writable cgroups: rlimits + the worker's own kill still work."""
    import grader.sandbox.session as session_mod
    from grader.sandbox import get_sandbox

    no_cgroups = lambda *a: (None, "test: no cgroups")  # noqa: E731
    monkeypatch.setattr(session_mod, "create_session_cgroups", no_cgroups)
    with get_sandbox(backend).open(world.spec(preload_torch=False)) as s:
        out = s.run("call", {"func": "spin"}, limits=_small(cpu_s=1, wall_s=30))
        assert out.status is ProbeStatus.TIMEOUT, out.message
        assert "CPU-time budget" in out.message
        big = s.run("call", {"func": "alloc", "kwargs": {"gb": 50}}, limits=_small())
        assert big.status is ProbeStatus.OOM, big.message
        after = s.run("call", {"func": "daemon"}, limits=_small())
        pid = after.data["result"]
        assert s.run("call", {"func": "alive", "kwargs": {"pid": pid}}).data["result"] is False
        if backend != "docker":
            assert any("cgroups" in w for w in s.warnings)
        assert s.stats["worker_starts"] == 1  # the timed-out probe was killed by the worker
