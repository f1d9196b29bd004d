"""Command-line entry points: ``grade`` for instructors and CI, ``precheck`` for students."""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from grader import __version__
from grader.assignments import all_assignments, get_assignment
from grader.batch import RunPlan, default_jobs, grade_all, intake, prepare_run
from grader.distributed.command import add_cluster_arguments, open_engine, wants_cluster
from grader.exporters.stats import tally
from grader.intake import SubmissionInput
from grader.results import SubmissionResult, SubmissionStatus
from grader.rubric import Rubric, load_rubric
from grader.sandbox import Sandbox, SandboxUnavailable, get_sandbox


def _rubric(assignment_name: str, path: str | None, profile: str | None) -> Rubric:
    assignment = get_assignment(assignment_name)
    rubric = load_rubric(Path(path)) if path else assignment.default_rubric()
    if profile:
        rubric = rubric.model_copy(update={"settings": {**rubric.settings, "profile": profile}})
    rubric.validate_checks(assignment.checks.ids())
    return rubric


def _sandbox(name: str, console: Console) -> Sandbox:
    try:
        sandbox = get_sandbox(name)
    except SandboxUnavailable as exc:
        console.print(f"[red]Sandbox '{name}' is not available:[/] {exc}")
        raise SystemExit(2) from exc
    for warning in sandbox.warnings:
        console.print(f"[yellow]sandbox:[/] {warning}")
    return sandbox


def grade_parser() -> argparse.ArgumentParser:
    """Arguments of ``grade``."""
    p = argparse.ArgumentParser(prog="grade", description="Grade a class of submissions.")
    p.add_argument("submissions", nargs="?", type=Path, help="folder of submissions")
    p.add_argument(
        "--assignment",
        default=None,
        help="assignment plug-in (default: bert_pretrain; with --self-test: every zoo)",
    )
    p.add_argument(
        "--profile",
        choices=["official", "small"],
        help="profile the checkpoints were trained in (overrides the rubric)",
    )
    p.add_argument("--rubric", help="rubric TOML (default: the assignment's rubrics/<name>.toml)")
    p.add_argument("--out", type=Path, default=Path("grading-out"), help="output folder")
    p.add_argument("--jobs", "-j", type=int, default=None, help="parallel graders (default: cores)")
    p.add_argument("--sandbox", default="auto", choices=["auto", "bwrap", "docker", "process"])
    p.add_argument("--only", nargs="+", default=(), metavar="STUDENT", help="grade only these")
    p.add_argument(
        "--roster",
        type=Path,
        metavar="CSV",
        help="Canvas gradebook export (Grades > Export): fills ID / SIS columns of "
        "grades_canvas.csv by matching login, SIS id or name; mismatches are warned",
    )
    p.add_argument("--no-cache", action="store_true", help="grade again even if unchanged")
    p.add_argument(
        "--no-reference",
        action="store_true",
        help="property checks only (as precheck), even where the reference exists",
    )
    p.add_argument(
        "--self-test",
        action="store_true",
        help="grade the reference, template and the zoo; fail on any unexpected score",
    )
    add_cluster_arguments(p)
    p.add_argument("--version", action="version", version=f"nlpgrade {__version__}")
    return p


def _run_class(args: argparse.Namespace, console: Console) -> list[SubmissionResult]:
    from grader.exporters import RosterError, export_all, load_roster

    try:
        roster = load_roster(args.roster) if args.roster else None
    except RosterError as exc:
        console.print(f"[red]--roster:[/] {exc}")
        raise SystemExit(2) from exc
    assignment = get_assignment(args.assignment)
    rubric = _rubric(args.assignment, args.rubric, args.profile)
    sandbox = _sandbox(args.sandbox, console)
    with_reference = not args.no_reference and assignment.reference_dir() is not None
    if not with_reference:
        console.print("[yellow]No reference solution here: reference checks are skipped.[/]")
    jobs = args.jobs or default_jobs()
    plan = RunPlan(
        assignment=assignment,
        rubric=rubric,
        sandbox=sandbox,
        out_dir=args.out,
        jobs=jobs,
        use_cache=not args.no_cache,
        with_reference=with_reference,
    )
    engine = open_engine(args, plan, console) if wants_cluster(args) else None
    if engine is not None:
        jobs = engine.slots
    t0 = time.perf_counter()
    with console.status("Building kits and calibrating (cached after the first run)..."):
        prepare_run(plan)
    subs = intake(args.submissions, plan, args.only)
    console.print(
        f"[bold]{assignment.title}[/]: {len(subs)} submission(s), {jobs} grader(s), "
        f"sandbox {sandbox.name}, profile {rubric.setting('profile', '?')}"
    )
    done: list[tuple[SubmissionResult, bool]] = []  # (result, from the cache), as they finish
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        overall = progress.add_task("class", total=len(subs))
        workers = [
            progress.add_task(f"  grader {i + 1}: idle", total=None, start=False)
            for i in range(jobs)
        ]

        def on_start(slot: int, sub: SubmissionInput) -> None:
            progress.update(workers[slot % jobs], description=f"  grader {slot + 1}: {sub.student}")

        def on_done(result: SubmissionResult, cached: bool) -> None:
            done.append((result, cached))
            counts = tally([r for r, _ in done])
            if any(c for _, c in done):
                counts["cached"] = sum(c for _, c in done)
            text = ", ".join(f"{k} {v}" for k, v in counts.items())
            progress.update(overall, advance=1, description=f"class ({text})")

        try:
            grade = engine.grade_all if engine is not None else grade_all
            results = grade(subs, plan, on_start=on_start, on_done=on_done)
        finally:
            if engine is not None:
                engine.close()
        for task in workers:
            progress.remove_task(task)
    if engine is not None:
        console.print(engine.throughput.table())
    export_all(results, args.out, console=console, roster=roster)
    console.print(f"Graded {len(results)} submission(s) in {time.perf_counter() - t0:.1f} s.")
    return results


def grade_main(argv: list[str] | None = None) -> int:
    """``grade SUBMISSIONS_DIR``: grade a class and write the reports."""
    args = grade_parser().parse_args(argv)
    console = Console(stderr=False)
    if args.self_test:
        args.out = args.out if args.out != Path("grading-out") else Path("grading-out-selftest")
        from grader.selftest import run_self_test

        return run_self_test(args, console)
    if args.submissions is None:
        grade_parser().error("SUBMISSIONS_DIR is required (or --self-test)")
    args.assignment = args.assignment or "bert_pretrain"
    if not args.submissions.is_dir():
        console.print(f"[red]{args.submissions} is not a folder.[/]")
        return 2
    results = _run_class(args, console)
    return 1 if any(r.status == SubmissionStatus.GRADER_ERROR for r in results) else 0


def precheck_parser() -> argparse.ArgumentParser:
    """Arguments of ``precheck``."""
    p = argparse.ArgumentParser(
        prog="precheck", description="Check your assignment files before you submit."
    )
    p.add_argument("folder", nargs="?", type=Path, default=Path("."), help="your assignment folder")
    p.add_argument("--assignment", help="assignment (default: detected from the folder)")
    p.add_argument("--sandbox", default="auto", choices=["auto", "bwrap", "docker", "process"])
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--no-train", action="store_true", help="skip the short training run")
    return p


def _detect(folder: Path) -> str | None:
    found = [a.name for a in all_assignments().values() if a.detect(folder)]
    return found[0] if len(found) == 1 else None


def precheck_main(argv: list[str] | None = None) -> int:
    """``precheck [DIR]``: the reference-free checks of the student's own files."""
    from grader.precheck import precheck_json, print_checklist, run_precheck

    args = precheck_parser().parse_args(argv)
    console = Console(stderr=args.json)
    folder = args.folder.resolve()
    name = args.assignment or _detect(folder)
    if name is None:
        console.print(
            f"[red]Could not tell which assignment {folder} is.[/] Run precheck in the "
            "folder with your model.py (or pass --assignment)."
        )
        return 2
    sandbox = _sandbox(args.sandbox, console)
    with tempfile.TemporaryDirectory(prefix="precheck-") as tmp:
        result = run_precheck(
            get_assignment(name), folder, Path(tmp), sandbox, console, train=not args.no_train
        )
    if args.json:
        sys.stdout.write(precheck_json(result, get_assignment(name)))
    else:
        print_checklist(console, result, get_assignment(name))
    visible = [c for c in result.checks if c.status.value != "skipped"]
    return 0 if visible and all(c.status.value == "passed" for c in visible) else 1


if __name__ == "__main__":
    raise SystemExit(grade_main())
