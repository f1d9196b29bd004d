"""Backend selection, the bwrap mount plan, and clean-up of a session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from grader.sandbox import (
    ProbeStatus,
    SandboxError,
    SandboxUnavailable,
    backend_available,
    get_sandbox,
)

from .conftest import World

REPO = Path(__file__).resolve().parents[2]


def test_unknown_backend() -> None:
    assert backend_available("nope")[0] is False
    with pytest.raises(SandboxUnavailable, match="unknown sandbox"):
        get_sandbox("nope")


def test_auto_prefers_bwrap() -> None:
    expected = "bwrap" if backend_available("bwrap")[0] else "process"
    assert get_sandbox("auto").name == expected


def test_process_backend_says_it_does_not_isolate() -> None:
    sb = get_sandbox("process")
    assert sb.isolates is False and any("no isolation" in w for w in sb.warnings)


def test_bwrap_binds_nothing_of_the_repo_but_worker_and_venv(world: World) -> None:
    if not backend_available("bwrap")[0]:
        pytest.skip("no bwrap")
    from grader.sandbox.bwrap_args import build_command

    sb = get_sandbox("bwrap")
    cmd = build_command(sb.binary, world.spec(), world.root / "scratch", True, None, ["/x"])
    sources = [cmd[i + 1] for i, a in enumerate(cmd) if a in ("--ro-bind", "--bind")]
    in_repo = {s for s in sources if s == str(REPO) or s.startswith(f"{REPO}/")}
    allowed = {
        str(REPO / "grader" / "worker"),
        str(REPO / ".venv"),
        str(Path(__file__).parent / "fixtures" / "probes.py"),
    }
    assert in_repo <= allowed
    assert "--unshare-net" in cmd and "--die-with-parent" in cmd and "--clearenv" in cmd


def test_unreadable_submission_is_reported(world: World, tmp_path: Path) -> None:
    if not backend_available("bwrap")[0] or os.geteuid() != 0:
        pytest.skip("root-mode bwrap only")
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    with (
        get_sandbox("bwrap").open(world.spec(submission_dir=private)) as s,
        pytest.raises(SandboxError, match="world-readable"),
    ):
        s.run("echo")


def test_close_removes_scratch_and_cgroups(world: World, backend: str) -> None:
    s = get_sandbox(backend).open(world.spec(preload_torch=False))
    assert s.run("call", {"func": "daemon"}).status is ProbeStatus.OK
    root = s._state["dirs"].root
    cg = s._state.get("cgroups")
    s.close()
    assert not root.exists()
    if cg is not None:
        assert not any(d.exists() for d in cg.roots.values())
    with pytest.raises(SandboxError):
        s.run("echo")


@pytest.mark.slow
def test_worker_killed_by_probe_is_restarted(world: World, backend: str) -> None:
    with get_sandbox(backend).open(world.spec(preload_torch=False)) as s:
        out = s.run("call", {"func": "kill_parent"})
        survived = out.status is ProbeStatus.OK  # refused (bwrap) or pid 1 (docker)
        if not survived:
            assert out.status is ProbeStatus.CRASH and "worker died" in out.message
        assert s.run("call", {"func": "alive", "kwargs": {"pid": 1}}).status is ProbeStatus.OK
        assert s.stats["worker_starts"] == (1 if survived else 2)


def test_broken_probe_module_fails_loudly(world: World, backend: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad_probes.py"
    bad.write_text("import nlpgrade_worker\nraise ImportError('probe module is broken')\n")
    tmp_path.chmod(0o755)
    bad.chmod(0o644)
    with get_sandbox(backend).open(world.spec(probe_module=bad, preload_torch=False)) as s:
        with pytest.raises(SandboxError, match="probe module is broken"):
            s.run("echo")
        assert s.stats["worker_starts"] == 0
