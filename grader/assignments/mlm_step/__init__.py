"""``mlm_step``: one MLM pre-training step with a hand-written backward pass and SGD.

Students submit ``mlm_step.py`` with ``train_mlm_pretraining_step`` and ``mlm_loss``. The grader
judges the returned updates part by part against a float64 autograd oracle
(``reference/mlm_step/oracle.py``, loaded only where the reference is), scans the source for
autograd and built-in layers, and, without the reference (``precheck``), compares the student's
update with finite differences of their own loss.
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, ClassVar

from grader.assignments.base import Assignment
from grader.assignments.mlm_step import cases as C
from grader.assignments.mlm_step.checks import registry
from grader.cachedir import cache_root, owned_dir
from grader.checks import CheckRegistry
from grader.rubric import Rubric

if TYPE_CHECKING:
    from grader.context import GradingContext
    from grader.sandbox import SandboxSpec


@dataclass
class MlmPrepared:
    """What every submission's grading shares: an (empty) kit and the oracle's results per case."""

    kit_dir: Path
    oracle: dict[C.Case, Any] | None = None
    info: dict[str, Any] = field(default_factory=dict)


def load_oracle(reference_dir: Path) -> ModuleType:
    """Import ``oracle.py`` from the instructor's reference folder (trusted parent only)."""
    path = reference_dir / "oracle.py"
    spec = importlib.util.spec_from_file_location("nlpgrade_mlm_step_oracle", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load the mlm_step oracle from {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while building classes
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(spec.name, None)
        raise
    return module


def oracle_results(oracle: ModuleType, cases: list[C.Case]) -> dict[C.Case, Any]:
    """The oracle's exact step for every case (float64 autograd; well under a second)."""
    results: dict[C.Case, Any] = {}
    for case in cases:
        inputs = C.build_inputs(case)
        results[case] = oracle.oracle_step(
            inputs["token_ids"], inputs["w_emb"], inputs["pos_embed"],
            C.unstack_blocks(inputs["blocks"]), inputs["w_head"],
            case.mask_id, case.heads, case.lr, case.seed,
        )
    return results


class MlmStepAssignment(Assignment):
    """The plug-in object the core discovers as ``ASSIGNMENT``."""

    name: ClassVar[str] = "mlm_step"
    title: ClassVar[str] = "One MLM training step with a hand-written backward pass"
    required_files: ClassVar[tuple[str, ...]] = ("mlm_step.py",)
    checks: ClassVar[CheckRegistry] = registry

    def prepare(self, rubric: Rubric, *, with_reference: bool) -> MlmPrepared:
        """An empty kit directory, plus the oracle's outputs when the reference is present."""
        # An empty folder of ours in the cache (a sandbox running as nobody lists it), never a
        # fixed path in /tmp that another user could pre-create.
        kit = owned_dir(cache_root() / "kits" / f"{self.name}-empty", mode=0o755)
        prepared = MlmPrepared(kit_dir=kit)
        ref = self.reference_dir() if with_reference else None
        if ref is not None and (ref / "oracle.py").is_file():
            prepared.oracle = oracle_results(load_oracle(ref), C.value_matrix())
        return prepared

    def session_spec(self, ctx: GradingContext, session: str) -> SandboxSpec:
        """Every probe runs in the ``student`` session: the submission and the empty kit."""
        from grader.sandbox import Limits, SandboxSpec

        cpu = float(ctx.setting("probe_cpu_s", 30.0))  # CPU budget; the wall net is 4x that
        return SandboxSpec(
            submission_dir=ctx.submission_dir,
            kit_dir=ctx.prepared.kit_dir,
            probe_module=self.probe_module,
            limits=Limits(cpu_s=cpu, memory_mb=2048),
        )


ASSIGNMENT = MlmStepAssignment()
