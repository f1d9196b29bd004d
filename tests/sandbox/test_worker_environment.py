"""One worker environment for every backend: the core's variables, the assignment's own, mount
points resolved per backend, preloaded modules imported before the probe runs."""

from __future__ import annotations

import pytest

from grader.sandbox import ProbeStatus, SandboxSpec, get_sandbox
from grader.sandbox.base import WorkerView
from grader.sandbox.bwrap_args import environment
from grader.sandbox.environment import resolve_mounts, worker_environment


def _view(extra: dict[str, str]) -> WorkerView:
    return WorkerView(kit="/k", submission="/s", probe_module="/p", scratch="/x", lib="/l",
                      extra=extra)


def test_mount_points_resolve_to_the_backend_path() -> None:
    mounts = {"/hf": "/host/cache/hf", "/hf/hub": "/elsewhere"}
    assert resolve_mounts("/hf", mounts) == "/host/cache/hf"
    assert resolve_mounts("/hf/models", mounts) == "/host/cache/hf/models"
    assert resolve_mounts("/hf/hub/x", mounts) == "/elsewhere/x"  # the longest mount wins
    assert resolve_mounts("/hfx", mounts) == "/hfx" and resolve_mounts("1", mounts) == "1"


def test_extra_env_is_added_and_cannot_override_the_core(world) -> None:
    spec = world.spec(extra_ro={"/hf": world.root}, env={"HF_HOME": "/hf", "HF_HUB_OFFLINE": "1"})
    env = worker_environment(spec, _view({"/hf": "/host/hf"}), home="/h", tmp="/t", path="/bin")
    assert env["HF_HOME"] == "/host/hf" and env["HF_HUB_OFFLINE"] == "1"
    assert env["PYTHONHASHSEED"] == "0" and env["HOME"] == "/h" and env["OMP_NUM_THREADS"] == "1"
    for bad in ({"HOME": "/x"}, {"PYTHONPATH": "/x"}, {"LD_PRELOAD": "/x"}, {"lower": "1"}):
        with pytest.raises(ValueError):
            worker_environment(world.spec(env=bad), _view({}), home="/h", tmp="/t", path="/bin")


def test_bwrap_sets_the_same_environment_with_mounts_at_their_points(world) -> None:
    spec = world.spec(extra_ro={"/hf": world.root}, env={"HF_HOME": "/hf/hub"})
    args = environment(spec)
    pairs = {args[i + 1]: args[i + 2] for i, a in enumerate(args) if a == "--setenv"}
    assert args[0] == "--clearenv" and pairs["HF_HOME"] == "/hf/hub"
    assert pairs["USER"] == "nobody" and pairs["PATH"] == "/usr/bin:/bin"


def test_worker_sees_env_assets_and_preloads(world, backend: str) -> None:
    spec: SandboxSpec = world.spec(
        extra_ro={"/assets": world.root / "refmod"},
        env={"ASSET_FILE": "/assets/refmod.py", "NLPGRADE_TEST_FLAG": "on"},
        preload=("wave", "no_such_module_for_preload"),
        preload_torch=False,
    )
    with get_sandbox(backend).open(spec) as s:
        out = s.run("environment", {"names": ["NLPGRADE_TEST_FLAG", "PYTHONHASHSEED"],
                                    "modules": ["wave", "no_such_module_for_preload"]})
        assert out.status is ProbeStatus.OK, (out.message, out.stderr_tail[-500:])
        assert out.data["env"] == {"NLPGRADE_TEST_FLAG": "on", "PYTHONHASHSEED": "0"}
        assert "VALUE" in out.data["asset_text"]  # read through the variable, on every backend
        assert out.data["loaded"] == ["wave"]  # imported by the zygote, before the probe
        assert set(s.ready_info["preload_failed"]) == {"no_such_module_for_preload"}
