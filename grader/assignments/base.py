"""The plug-in interface every assignment implements (the only thing the core knows of one).

An assignment lives in its own package under ``grader/assignments/<name>/`` (or in another
distribution registered under the ``nlpgrade.assignments`` entry point) and provides:

- ``probes.py``: worker-side code run inside the sandbox (imports only stdlib, torch, the
  assignment's ``preload_modules`` and ``nlpgrade_worker``); it returns raw outputs, never judges;
- a ``CheckRegistry`` of trusted-side checks that judge those outputs;
- ``prepare()``: build what a grading run needs besides the submission (kits, reference data);
- ``session_spec()``: which files each kind of sandbox session mounts;
- optionally the hooks below (profiles, opt-in tiers, worker environment, read-only assets,
  preloaded modules, kit hash, calibration, precheck options, the zoo's checkpoint name).

Every hook has a default that asks nothing of the core. ``/work/notes/PLUGIN_API.md`` (and
DESIGN.md) describe them for plug-in authors.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, final

from grader.rubric import Rubric, load_rubric

if TYPE_CHECKING:
    from grader.checks import CheckRegistry
    from grader.context import GradingContext
    from grader.sandbox import SandboxSpec

REPO_ROOT = Path(__file__).resolve().parents[2]


def reference_root() -> Path:
    """Where instructor-only reference solutions live (``$NLPGRADE_REFERENCE_ROOT`` or the repo)."""
    return Path(os.environ.get("NLPGRADE_REFERENCE_ROOT", REPO_ROOT / "reference"))


def rubric_root() -> Path:
    """Where default rubrics live: ``$NLPGRADE_RUBRIC_ROOT``, else the package's ``rubrics``."""
    if "NLPGRADE_RUBRIC_ROOT" in os.environ:
        return Path(os.environ["NLPGRADE_RUBRIC_ROOT"])
    repo = REPO_ROOT / "rubrics"
    return repo if repo.is_dir() else Path(__file__).resolve().parent.parent / "rubrics"


class Assignment(ABC):
    """One gradable assignment. Subclasses set the class attributes and implement the hooks."""

    name: ClassVar[str]
    title: ClassVar[str]
    # Staged names. A name ending in "/" is a folder (a ``save_pretrained`` directory): every
    # regular file under the shallowest folder of that name is staged below the same name.
    required_files: ClassVar[tuple[str, ...]]
    optional_files: ClassVar[tuple[str, ...]] = ()
    framework_files: ClassVar[tuple[str, ...]] = ()  # handed-out files: a submitted copy is ignored
    checks: ClassVar[CheckRegistry]
    default_seed: ClassVar[int] = 0
    # Profile name -> one line of help: the choices of ``--profile`` for this assignment (the
    # value becomes the rubric setting ``profile``). Empty: the assignment has no profiles.
    profiles: ClassVar[dict[str, str]] = {}
    # The assignment ``grade`` and the Gradescope commands use without ``--assignment`` (when
    # exactly one installed plug-in says so; ``$NLPGRADE_ASSIGNMENT`` wins).
    default_choice: ClassVar[bool] = False
    # Check tiers besides file/property/reference that run only when ``grade --tier`` names them
    # (never in precheck), e.g. a minutes-long "quality" tier for GPU workers.
    optional_tiers: ClassVar[tuple[str, ...]] = ()
    # Worker resources a tier needs on a cluster, e.g. {"quality": {"GPU": 1}}: tasks of a run
    # that uses that tier go only to Dask workers started with those resources.
    tier_resources: ClassVar[dict[str, dict[str, float]]] = {}
    # Rubric settings that name files kits are built from (sent to cluster workers as bytes).
    data_settings: ClassVar[tuple[str, ...]] = ()
    # Modules the sandbox's zygote imports after torch and before any probe forks (shared,
    # copy-on-write, by every probe of a session), e.g. ("transformers",).
    preload_modules: ClassVar[tuple[str, ...]] = ()
    # Extras of the nlpgrade package a grading machine needs for this assignment, e.g.
    # ("bert-finetune",): Gradescope's setup.sh installs ``nlpgrade[those]``.
    package_extras: ClassVar[tuple[str, ...]] = ()
    # The submitted file a zoo case's ``checkpoint = "..."`` is copied in as (``--self-test``).
    checkpoint_file: ClassVar[str | None] = None

    @property
    def package_dir(self) -> Path:
        """The folder of the assignment's package."""
        import sys

        return Path(sys.modules[type(self).__module__].__file__).resolve().parent  # type: ignore[arg-type]

    @property
    def probe_module(self) -> Path:
        """The worker-side probe file mounted into the sandbox."""
        return self.package_dir / "probes.py"

    def reference_dir(self) -> Path | None:
        """The instructor's full solution, or None where it is absent (a student's install)."""
        path = reference_root() / self.name
        return path if path.is_dir() else None

    def default_rubric(self) -> Rubric:
        """The rubric shipped with the grader for this assignment."""
        return load_rubric(rubric_root() / f"{self.name}.toml")

    def detect(self, folder: Path) -> bool:
        """Whether ``folder`` looks like a working copy of this assignment (for ``precheck``)."""
        return any((folder / f).is_file() for f in self.required_files if not f.endswith("/"))

    @abstractmethod
    def prepare(self, rubric: Rubric, *, with_reference: bool) -> Any:
        """Build what every submission's grading shares (kits, cached reference outputs).

        Called once per run in the parent; the returned object is available to checks as
        ``ctx.prepared``. ``with_reference`` is False in ``precheck`` and wherever the reference
        solution is absent.
        """

    @abstractmethod
    def session_spec(self, ctx: GradingContext, session: str) -> SandboxSpec:
        """The sandbox mounts for the named session kind of this submission (``"student"``, ...).

        The spec may set ``env`` (worker variables; a value naming an ``extra_ro`` mount point is
        resolved per backend), ``preload`` and ``extra_ro`` (read-only assets) itself, or leave
        them to ``worker_env``/``read_only_assets``/``preload_modules``, applied to every session.
        """

    # -- optional hooks (defaults ask nothing of the core) ------------------------------------
    def session_view(self, session: str) -> tuple[str, dict[str, str] | None]:
        """Which worker runs probes of the session kind ``session``, and through which view.

        A view maps ``"kit"`` and/or ``"submission"`` to extra mounts of that worker's spec: a
        probe then sees those folders as its kit and submission, so several kinds of one
        submission share one sandboxed worker (one torch import) instead of one worker each.
        Default: every kind has its own worker and no view.
        """
        return session, None

    def worker_env(self, ctx: GradingContext, session: str) -> dict[str, str]:
        """Extra worker environment for every session (``HF_HUB_OFFLINE=1``); spec.env wins."""
        return {}

    def read_only_assets(self, ctx: GradingContext, session: str) -> dict[str, Path]:
        """Read-only mounts for every session: mount point in the worker -> host path."""
        return {}

    def kit_hash(self, prepared: Any) -> str:
        """The content hash of what ``prepare`` built (part of the cache key); "" for none."""
        return ""

    def calibrate_run(self, plan: Any) -> None:
        """Once per run, in the parent, after ``prepare`` and only with the reference; ``plan``
        is the run's ``grader.batch.RunPlan`` (not named here: batch imports this module)."""
        return None

    def precheck_settings(self, *, train: bool) -> dict[str, Any]:
        """Rubric settings ``precheck`` overrides (``train``: False with ``--no-train``)."""
        return {}

    def precheck_checks(self, *, train: bool) -> tuple[str, ...]:
        """Informational checks ``precheck`` runs besides the rubric's (even without points)."""
        return ()

    @final
    def sandbox_spec(self, ctx: GradingContext, session: str) -> SandboxSpec:
        """``session_spec`` completed with the hooks every session shares (what the core opens)."""
        spec = self.session_spec(ctx, session)
        return spec.model_copy(
            update={
                "env": {**self.worker_env(ctx, session), **spec.env},
                "extra_ro": {**self.read_only_assets(ctx, session), **spec.extra_ro},
                "preload": tuple(dict.fromkeys((*self.preload_modules, *spec.preload))),
            }
        )
