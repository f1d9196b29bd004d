"""The plug-in interface every assignment implements.

An assignment lives in its own package under ``grader/assignments/<name>/`` (or in another
distribution registered under the ``nlpgrade.assignments`` entry point) and provides:

- ``probes.py``: worker-side code run inside the sandbox (imports only stdlib, torch and
  ``nlpgrade_worker``); it returns raw outputs and never judges;
- a ``CheckRegistry`` of trusted-side checks that judge those outputs;
- ``prepare()``: build what a grading run needs besides the submission (kits, reference data);
- ``session_spec()``: which files each kind of sandbox session mounts.

The core (engine, CLI, exporters) knows nothing else about an assignment.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from grader.checks import CheckRegistry
from grader.rubric import Rubric, load_rubric

if TYPE_CHECKING:
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
    required_files: ClassVar[tuple[str, ...]]
    optional_files: ClassVar[tuple[str, ...]] = ()
    framework_files: ClassVar[tuple[str, ...]] = ()  # handed-out files: a submitted copy is ignored
    checks: ClassVar[CheckRegistry]
    default_seed: ClassVar[int] = 0
    # Worker resources a tier needs on a cluster, e.g. {"quality": {"GPU": 1}}: tasks of a run
    # that uses that tier go only to Dask workers started with those resources.
    tier_resources: ClassVar[dict[str, dict[str, float]]] = {}
    # Rubric settings that name files kits are built from (sent to cluster workers as bytes).
    data_settings: ClassVar[tuple[str, ...]] = ()

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
        return any((folder / f).is_file() for f in self.required_files)

    @abstractmethod
    def prepare(self, rubric: Rubric, *, with_reference: bool) -> Any:
        """Build what every submission's grading shares (kits, cached reference outputs).

        Called once per run in the parent; the returned object is available to checks as
        ``ctx.prepared``. ``with_reference`` is False in ``precheck`` and wherever the reference
        solution is absent.
        """

    @abstractmethod
    def session_spec(self, ctx: GradingContext, session: str) -> SandboxSpec:
        """The sandbox mounts for the named session kind of this submission (``"student"``, ...)."""

    def session_view(self, session: str) -> tuple[str, dict[str, str] | None]:
        """Which worker runs probes of the session kind ``session``, and through which view.

        A view maps ``"kit"`` and/or ``"submission"`` to extra mounts of that worker's spec: a
        probe then sees those folders as its kit and submission, so several kinds of one
        submission share one sandboxed worker (one torch import) instead of one worker each.
        Default: every kind has its own worker and no view.
        """
        return session, None
