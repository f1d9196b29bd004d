"""The hooks of ``Assignment``: every session's spec gets the plug-in's env, assets and preloads."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from grader.assignments.base import Assignment
from grader.checks import CheckRegistry
from grader.sandbox import SandboxSpec


class Demo(Assignment):
    name: ClassVar[str] = "demo"
    title: ClassVar[str] = "demo"
    required_files: ClassVar[tuple[str, ...]] = ("a.py", "saved/")
    checks: ClassVar[CheckRegistry] = CheckRegistry()
    preload_modules: ClassVar[tuple[str, ...]] = ("json", "wave")

    def __init__(self, root: Path) -> None:
        self.root = root

    def prepare(self, rubric: Any, *, with_reference: bool) -> None:
        return None

    def session_spec(self, ctx: Any, session: str) -> SandboxSpec:
        return SandboxSpec(submission_dir=self.root, kit_dir=self.root, probe_module=self.root,
                           env={"B": "spec"}, preload=("wave", "csv"),
                           extra_ro={"/own": self.root / "own"})

    def worker_env(self, ctx: Any, session: str) -> dict[str, str]:
        return {"A": session, "B": "hook"}

    def read_only_assets(self, ctx: Any, session: str) -> dict[str, Path]:
        return {"/hf": self.root / "hf", "/own": self.root / "other"}


def test_sandbox_spec_merges_the_hooks_and_the_spec_wins(tmp_path: Path) -> None:
    spec = Demo(tmp_path).sandbox_spec(None, "student")
    assert spec.env == {"A": "student", "B": "spec"}
    assert spec.extra_ro == {"/hf": tmp_path / "hf", "/own": tmp_path / "own"}
    assert spec.preload == ("json", "wave", "csv")  # once each, the plug-in's first


def test_defaults_ask_nothing_and_folders_do_not_detect(tmp_path: Path) -> None:
    demo = Demo(tmp_path)
    assert demo.kit_hash(object()) == "" and demo.calibrate_run(object()) is None
    assert demo.precheck_settings(train=True) == {} and demo.precheck_checks(train=False) == ()
    assert demo.profiles == {} and demo.optional_tiers == () and demo.checkpoint_file is None
    (tmp_path / "saved").mkdir()
    assert not demo.detect(tmp_path)
    (tmp_path / "a.py").write_text("")
    assert demo.detect(tmp_path)


def test_a_check_of_an_opt_in_tier_has_a_result() -> None:
    """A verdict of an opt-in tier (``quality``) is recorded like any other, and round-trips."""
    from grader.results import CheckResult, CheckStatus

    result = CheckResult(id="quality.accuracy", title="q", tier="quality",
                         status=CheckStatus.PASSED, score=1.0)
    assert CheckResult.model_validate_json(result.model_dump_json()).tier == "quality"
