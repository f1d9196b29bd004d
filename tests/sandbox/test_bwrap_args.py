"""The bwrap command line: mounts that live under /tmp on the host stay visible in the sandbox."""

from __future__ import annotations

from pathlib import Path

from grader.sandbox import SandboxSpec
from grader.sandbox.bwrap_args import build_command


def test_tmp_tmpfs_comes_before_binds_under_tmp(tmp_path: Path) -> None:
    sub = tmp_path / "sub"
    sub.mkdir()
    probe = tmp_path / "probes.py"
    probe.write_text("")
    spec = SandboxSpec(submission_dir=sub, kit_dir=sub, probe_module=probe,
                       extra_ro={"/tmp/ci-clone/extra": sub})
    cmd = build_command("bwrap", spec, tmp_path / "scratch", True, 64, ["python"])
    tmpfs_at = [i for i, a in enumerate(cmd) if a == "--tmpfs" and cmd[i + 1] == "/tmp"]
    binds_under_tmp = [i for i, a in enumerate(cmd) if a in ("--ro-bind", "--bind")
                       and cmd[i + 2].startswith("/tmp/")]
    assert tmpfs_at and binds_under_tmp
    assert tmpfs_at[0] < min(binds_under_tmp)
