"""Assignment plug-ins: found as sub-packages here (each exporting ``ASSIGNMENT``) or through the
``nlpgrade.assignments`` entry-point group of other installed distributions."""

from __future__ import annotations

import importlib
import os
import pkgutil
from functools import cache
from importlib.metadata import entry_points

from grader.assignments.base import Assignment

__all__ = ["Assignment", "all_assignments", "default_assignment", "get_assignment"]


@cache
def all_assignments() -> dict[str, Assignment]:
    """Every installed assignment by name."""
    found: dict[str, Assignment] = {}
    for info in pkgutil.iter_modules(__path__):
        if not info.ispkg:
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        assignment = getattr(module, "ASSIGNMENT", None)
        if isinstance(assignment, Assignment):
            found[assignment.name] = assignment
    for ep in entry_points(group="nlpgrade.assignments"):
        assignment = ep.load()
        if isinstance(assignment, Assignment):
            found.setdefault(assignment.name, assignment)
    return found


def default_assignment() -> str:
    """The assignment used without ``--assignment``: ``$NLPGRADE_ASSIGNMENT``, else the one
    plug-in declaring ``default_choice``, else the only one installed (``KeyError`` otherwise)."""
    assignments = all_assignments()
    wanted = os.environ.get("NLPGRADE_ASSIGNMENT")
    if wanted:
        return wanted
    chosen = [a.name for a in assignments.values() if a.default_choice]
    if len(chosen) == 1:
        return chosen[0]
    if len(assignments) == 1:
        return next(iter(assignments))
    known = ", ".join(sorted(assignments)) or "none"
    raise KeyError(f"no default assignment: pass --assignment (installed: {known})")


def get_assignment(name: str) -> Assignment:
    """The assignment called ``name``; a clear error lists the known ones otherwise."""
    assignments = all_assignments()
    if name not in assignments:
        known = ", ".join(sorted(assignments)) or "none"
        raise KeyError(f"unknown assignment {name!r}; installed assignments: {known}")
    return assignments[name]
