"""``grade --self-test``: the grader grades known submissions and must give their known scores.

Cases come from ``tests/zoo/<assignment>/expected.toml`` in the repository: the reference, the
generated template, single-bug mutants, allowed variations and hostile submissions, each with the
exact score and the checks that must fail. Any difference fails the run.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field
from rich.console import Console
from rich.table import Table

from grader.assignments import get_assignment
from grader.assignments.base import REPO_ROOT
from grader.batch import RunPlan, grade_all, intake, prepare_run
from grader.compat import tomllib
from grader.engine import PATCHED_FLAG
from grader.results import CheckStatus, SubmissionResult
from grader.sandbox import get_sandbox


class ZooCase(BaseModel):
    """One known submission and what grading it must give."""

    path: str  # folder, relative to the repository root
    score: float
    failing: list[str] = Field(default_factory=list)  # checks that must not pass
    flags: list[str] = Field(default_factory=list)  # each must be part of an integrity flag
    checkpoint: str | None = None  # copied in as the assignment's checkpoint_file if absent
    note: str = ""
    # What `precheck` must give (checked by the assignment's own tests, where they set them).
    precheck_score: float | None = None
    precheck_failing: list[str] | None = None


class Zoo(BaseModel):
    """The cases of one assignment."""

    assignment: str
    profile: str | None = None
    checkpoint: str | None = None  # default checkpoint for cases without their own
    cases: dict[str, ZooCase]


def load_zoo(assignment: str, root: Path = REPO_ROOT) -> Zoo:
    """Read ``tests/zoo/<assignment>/expected.toml``."""
    with (root / "tests" / "zoo" / assignment / "expected.toml").open("rb") as fh:
        return Zoo.model_validate(tomllib.load(fh))


def zoo_assignments(root: Path = REPO_ROOT) -> list[str]:
    """Assignments with a zoo (``tests/zoo/<name>/expected.toml``)."""
    return sorted(p.parent.name for p in (root / "tests" / "zoo").glob("*/expected.toml"))


def build_class(
    zoo: Zoo,
    dest: Path,
    only: list[str] | None = None,
    root: Path = REPO_ROOT,
) -> None:
    """Lay out the zoo as a class folder (one sub-folder per case) under ``dest``; a case's
    checkpoint is copied in as the assignment's ``checkpoint_file``."""
    as_name = get_assignment(zoo.assignment).checkpoint_file
    for name, case in zoo.cases.items():
        if only and name not in only:
            continue
        target = dest / name
        shutil.copytree(root / case.path, target, symlinks=True)
        ckpt = case.checkpoint or zoo.checkpoint
        if not ckpt or ckpt == "none":
            continue
        if as_name is None:
            raise ValueError(
                f"zoo {zoo.assignment}: case {name} names a checkpoint but the assignment "
                "declares no checkpoint_file to copy it in as"
            )
        if not (target / as_name).exists():
            shutil.copy2(root / ckpt, target / as_name)


def mismatches(zoo: Zoo, results: list[SubmissionResult]) -> dict[str, list[str]]:
    """For each case, what differs from its expectation (empty when it grades as expected)."""
    problems: dict[str, list[str]] = {}
    by_student = {r.student: r for r in results}
    for name, case in zoo.cases.items():
        result = by_student.get(name)
        if result is None:
            continue
        issues = []
        if abs(result.score - case.score) > 1e-6:
            issues.append(f"score {result.score:g}, expected {case.score:g}")
        for check_id in case.failing:
            got = result.check(check_id)
            if got is not None and got.status == CheckStatus.PASSED:
                issues.append(f"{check_id} passed but must fail")
        for text in case.flags:
            if not any(text in flag for flag in result.integrity_flags):
                issues.append(f"no integrity flag mentions {text!r}")
        for flag in result.integrity_flags:
            # Every case says which patches of torch it makes: none is the default.
            if flag.startswith(PATCHED_FLAG) and not any(t in flag for t in case.flags):
                issues.append(f"unexpected integrity flag: {flag[:200]}")
        if issues:
            problems[name] = issues
    return problems


def grade_zoo(
    assignment_name: str,
    *,
    sandbox: str = "auto",
    jobs: int = 2,
    only: list[str] | None = None,
    out_dir: Path | None = None,
) -> tuple[Zoo, list[SubmissionResult]]:
    """Grade every zoo case of ``assignment_name`` in one class run."""
    assignment = get_assignment(assignment_name)
    zoo = load_zoo(assignment_name)
    rubric = assignment.default_rubric()
    if zoo.profile:
        rubric = rubric.model_copy(update={"settings": {**rubric.settings, "profile": zoo.profile}})
    with tempfile.TemporaryDirectory(prefix="nlpgrade-zoo-") as tmp:
        class_dir = Path(tmp) / "class"
        class_dir.mkdir()
        build_class(zoo, class_dir, only)
        plan = RunPlan(
            assignment=assignment,
            rubric=rubric,
            sandbox=get_sandbox(sandbox),
            out_dir=out_dir or Path(tmp) / "out",
            jobs=jobs,
            use_cache=False,
            with_reference=True,
        )
        prepare_run(plan)
        results = grade_all(intake(class_dir, plan), plan)
    return zoo, results


def run_self_test(args: argparse.Namespace, console: Console) -> int:
    """Grade every zoo; print a table; exit status 1 on any unexpected score."""
    names = [args.assignment] if args.assignment else zoo_assignments()
    failed = False
    for name in names:
        zoo, results = grade_zoo(
            name,
            sandbox=args.sandbox,
            jobs=args.jobs or 2,
            only=list(args.only) or None,
            out_dir=args.out / "self-test" / name,
        )
        problems = mismatches(zoo, results)
        table = Table(title=f"self-test: {name}")
        for col in ("case", "score", "expected", "verdict"):
            table.add_column(col)
        for r in results:
            exp: Any = zoo.cases[r.student].score
            bad = problems.get(r.student)
            table.add_row(
                r.student,
                f"{r.score:g}",
                f"{exp:g}",
                "[red]" + "; ".join(bad) + "[/]" if bad else "[green]ok[/]",
            )
        console.print(table)
        failed = failed or bool(problems)
    return 1 if failed else 0
