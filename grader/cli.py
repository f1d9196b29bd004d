"""Command-line entry points: ``grade`` for instructors and CI, ``precheck`` for students.

Exit codes of ``grade`` are defined in ``grader.run_summary`` (0 all graded, 1 some rows not
fully graded, 2 usage/configuration error, 3 grader failure); ``precheck`` exits 0 when every
check it can run passes, 1 otherwise, 2 on a usage error.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.logging import RichHandler

from grader import __version__, versions
from grader.distributed.command import add_cluster_arguments, open_engine, wants_cluster
from grader.results import SubmissionResult
from grader.run_summary import (
    EXIT_GRADER_FAILURE,
    EXIT_USAGE,
    GradeSummary,
    failure,
    summarize,
)

if TYPE_CHECKING:  # the heavy modules (torch) load only when a command runs: --version is fast
    from grader.assignments.base import Assignment
    from grader.intake import SubmissionInput
    from grader.rubric import Rubric
    from grader.sandbox import Sandbox

log = logging.getLogger("grader")
DEFAULT_OUT = Path("grading-out")
PROFILE_HELP = (
    "the assignment's profile (its plug-in lists them; an unknown name is refused with the "
    "list; default: the rubric's)"
)
SANDBOX_HELP = (
    "where student code runs: bwrap (bubblewrap namespaces, no network; Linux), docker (the "
    "nlpgrade worker image through a Docker engine), process (a plain subprocess with limits "
    "only, NO isolation: for your own code), auto (bwrap, else docker; never process, except "
    "for precheck) (default: %(default)s)"
)


class UsageError(Exception):
    """A problem with the command line or the configuration it names (exit code 2)."""


def torch_missing(console: Console) -> bool:
    """Say so (once, with the fix) when PyTorch is not installed: the checks need it."""
    import importlib.util

    if importlib.util.find_spec("torch") is not None:
        return False
    want = versions.grading_pins().get("torch", "")
    console.print(
        "[red]PyTorch is not installed in this Python[/] "
        f"({sys.executable}): the checks run your model with it. Install it first, e.g. "
        f"pip install 'torch=={want}' --index-url https://download.pytorch.org/whl/cpu"
        if want
        else "[red]PyTorch is not installed in this Python.[/]"
    )
    return True


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--version", action="version", version=f"nlpgrade {__version__}")
    p.add_argument(
        "-v", "--verbose", action="count", default=0, help="more log output (-vv: debug)"
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress or tables; errors only")


def setup_logging(verbose: int, quiet: bool) -> None:
    """The ``grader`` logger to stderr: warnings by default, -v info, -vv debug, -q errors."""
    level = (
        logging.ERROR if quiet else (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]
    )
    handler = RichHandler(console=Console(stderr=True), show_path=False, show_time=verbose > 1)
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.handlers[:] = [handler]
    log.setLevel(level)
    log.propagate = False


def check_profile(assignment: Assignment, profile: str | None) -> None:
    """Refuse (``UsageError``) a ``--profile`` the assignment does not offer."""
    if profile is None or profile in assignment.profiles:
        return
    offered = ", ".join(sorted(assignment.profiles))
    raise UsageError(
        f"--profile {profile!r}: {assignment.name} offers "
        + (f"these profiles: {offered}" if offered else "no profiles")
    )


def check_tiers(assignment: Assignment, tiers: list[str]) -> tuple[str, ...]:
    """The opt-in tiers asked for with ``--tier``; ``UsageError`` for one the assignment lacks."""
    unknown = [t for t in tiers if t not in assignment.optional_tiers]
    if unknown:
        offered = ", ".join(assignment.optional_tiers) or "none"
        raise UsageError(
            f"--tier {', '.join(unknown)}: {assignment.name} has no such opt-in tier "
            f"(it offers: {offered})"
        )
    return tuple(dict.fromkeys(tiers))


def _rubric(assignment_name: str, path: str | None, profile: str | None) -> Rubric:
    from grader.assignments import get_assignment
    from grader.rubric import load_rubric

    try:
        assignment = get_assignment(assignment_name)
    except KeyError as exc:
        raise UsageError(str(exc.args[0])) from exc
    check_profile(assignment, profile)
    try:
        rubric = load_rubric(Path(path)) if path else assignment.default_rubric()
        if profile:
            settings = {**rubric.settings, "profile": profile}
            rubric = rubric.model_copy(update={"settings": settings})
        rubric.validate_checks(assignment.checks.ids())
    except (KeyError, ValueError, OSError) as exc:  # pydantic/TOML errors are ValueErrors
        raise UsageError(f"rubric {path or assignment_name!r}: {exc}") from exc
    return rubric


def _sandbox(
    name: str, console: Console, *, show_warnings: bool = True, own_code: bool = False
) -> Sandbox:
    from rich.markup import escape

    from grader.sandbox import SandboxUnavailable, get_sandbox

    try:
        sandbox = get_sandbox(name, own_code=own_code)  # auto never falls back unless own_code
    except SandboxUnavailable as exc:
        console.print(f"[red]Sandbox '{name}' is not available:[/] {escape(str(exc))}")
        raise SystemExit(EXIT_USAGE) from exc
    log.info("sandbox: %s (isolates: %s)", sandbox.name, sandbox.isolates)
    if show_warnings:
        for warning in sandbox.warnings:
            console.print(f"[yellow]sandbox:[/] {warning}")
    return sandbox


def grade_parser() -> argparse.ArgumentParser:
    """Arguments of ``grade``."""
    p = argparse.ArgumentParser(
        prog="grade",
        description="Grade a class of submissions.",
        epilog="Exit codes: 0 every submission graded; 1 some rows not fully graded (invalid, "
        "nothing submitted, incomplete: crashed or timed out); 2 usage or configuration error; "
        "3 grader failure.",
    )
    p.add_argument("submissions", nargs="?", type=Path, help="folder of submissions")
    p.add_argument(
        "--assignment",
        default=None,
        help="assignment plug-in (default: the installed plug-in that declares itself the "
        "default, or $NLPGRADE_ASSIGNMENT; with --self-test: every zoo)",
    )
    p.add_argument("--profile", help=PROFILE_HELP + " (overrides the rubric)")
    p.add_argument(
        "--tier",
        action="append",
        default=[],
        metavar="NAME",
        help="also run this opt-in tier of the assignment (e.g. a long quality tier); repeatable",
    )
    p.add_argument("--rubric", help="rubric TOML (default: the assignment's rubrics/<name>.toml)")
    p.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help="output folder (default: %(default)s; with --self-test: grading-out-selftest)",
    )
    p.add_argument("--jobs", "-j", type=int, default=None, help="parallel graders (default: cores)")
    p.add_argument(
        "--sandbox",
        default="auto",
        choices=["auto", "bwrap", "docker", "process"],
        help=SANDBOX_HELP,
    )
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
    p.add_argument(
        "--json",
        action="store_true",
        help="print a JSON summary (counts, one row per submission, exit code) on stdout; "
        "everything else goes to stderr",
    )
    add_cluster_arguments(p)
    _add_common(p)
    return p


def _run_class(
    args: argparse.Namespace, console: Console, chatter: Console
) -> list[SubmissionResult]:
    """Grade the class; ``console`` carries messages, ``chatter`` progress and tables (-q)."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    from grader.assignments import get_assignment
    from grader.batch import RunPlan, default_jobs, grade_all, intake, prepare_run
    from grader.exporters import RosterError, export_all, load_roster
    from grader.exporters.stats import tally

    try:
        roster = load_roster(args.roster) if args.roster else None
    except RosterError as exc:
        console.print(f"[red]--roster:[/] {exc}")
        raise SystemExit(EXIT_USAGE) from exc
    try:
        assignment = get_assignment(args.assignment)
    except KeyError as exc:
        raise UsageError(f"unknown assignment {args.assignment!r}") from exc
    rubric = _rubric(args.assignment, args.rubric, args.profile)
    tiers = check_tiers(assignment, args.tier)
    sandbox = _sandbox(args.sandbox, console)
    log.info("versions: %s", ", ".join(f"{k} {v}" for k, v in _versions().items()))
    for drift in versions.pin_drift():
        log.warning("not the course's grading environment: %s", drift)
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
        tiers=tiers,
    )
    engine = open_engine(args, plan, console) if wants_cluster(args) else None
    if engine is not None:
        jobs = engine.slots
    t0 = time.perf_counter()
    with chatter.status("Building kits and calibrating (cached after the first run)..."):
        prepare_run(plan)
    subs = intake(args.submissions, plan, args.only)
    chatter.print(
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
    with Progress(*columns, console=chatter, transient=False, disable=chatter.quiet) as progress:
        overall = progress.add_task("class", total=len(subs))
        workers = [
            progress.add_task(f"  grader {i + 1}: idle", total=None, start=False)
            for i in range(jobs)
        ]

        def on_start(slot: int, sub: SubmissionInput) -> None:
            progress.update(workers[slot % jobs], description=f"  grader {slot + 1}: {sub.student}")

        def on_done(result: SubmissionResult, cached: bool) -> None:
            log.debug(
                "%s: %s %g/%g%s",
                result.student,
                result.status.value,
                result.score,
                result.max_score,
                " (cached)" if cached else "",
            )
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
        chatter.print(engine.throughput.table())
    export_all(results, args.out, console=chatter, roster=roster)
    chatter.print(f"Graded {len(results)} submission(s) in {time.perf_counter() - t0:.1f} s.")
    return results


def _versions() -> dict[str, str]:
    names = ("torch", "numpy", "pydantic", "safetensors")
    found = {"python": sys.version.split()[0], "nlpgrade": __version__}
    return found | {n: versions.installed(n) or "absent" for n in names}


def _emit(summary: GradeSummary, as_json: bool) -> int:
    if as_json:
        sys.stdout.write(summary.model_dump_json(indent=2) + "\n")
        sys.stdout.flush()
    return summary.exit_code


def grade_main(argv: list[str] | None = None) -> int:
    """``grade SUBMISSIONS_DIR``: grade a class and write the reports (exit codes: see above)."""
    args = grade_parser().parse_args(argv)
    setup_logging(args.verbose, args.quiet)
    console = Console(stderr=args.json)
    chatter = Console(stderr=args.json, quiet=args.quiet)
    if args.self_test:
        args.out = args.out if args.out != DEFAULT_OUT else Path("grading-out-selftest")
        from grader.selftest import run_self_test

        _sandbox(args.sandbox, console, show_warnings=False)  # a clear error now, not mid-run
        return run_self_test(args, chatter)
    if args.submissions is None:
        grade_parser().error("SUBMISSIONS_DIR is required (or --self-test)")
    if torch_missing(console):
        return _emit(failure(EXIT_USAGE, "PyTorch is not installed"), args.json)
    if not args.submissions.is_dir():
        console.print(f"[red]{args.submissions} is not a folder.[/]")
        return _emit(failure(EXIT_USAGE, f"{args.submissions} is not a folder"), args.json)
    t0 = time.perf_counter()
    try:
        args.assignment = args.assignment or _default_assignment()
        results = _run_class(args, console, chatter)
    except UsageError as exc:
        console.print(f"[red]{exc}[/]")
        return _emit(failure(EXIT_USAGE, str(exc), args.assignment), args.json)
    except SystemExit as exc:  # a refusal already explained (sandbox, roster, cluster): exit 2
        if exc.code == EXIT_USAGE:
            _emit(
                failure(EXIT_USAGE, "refused before grading (see stderr)", args.assignment),
                args.json,
            )
        raise
    except Exception as exc:  # a grader bug: say so, keep the traceback for -v
        log.debug("grader failure", exc_info=True)
        console.print(f"[red]The grader failed:[/] {type(exc).__name__}: {exc} (run with -vv)")
        return _emit(failure(EXIT_GRADER_FAILURE, f"{type(exc).__name__}: {exc}"), args.json)
    summary = summarize(results, args.assignment, args.out, time.perf_counter() - t0)
    if summary.exit_code and not args.json:
        console.print(f"exit code {summary.exit_code}: {summary.exit_meaning} ({summary.counts})")
    return _emit(summary, args.json)


def precheck_parser() -> argparse.ArgumentParser:
    """Arguments of ``precheck``."""
    p = argparse.ArgumentParser(
        prog="precheck",
        description="Check your assignment files before you submit.",
        epilog="Exit codes: 0 every check precheck can run passes; 1 something to fix; "
        "2 usage error.",
    )
    p.add_argument(
        "folder",
        nargs="?",
        type=Path,
        default=Path("."),
        help="your assignment folder (default: the current folder)",
    )
    p.add_argument("--assignment", help="assignment (default: detected from the folder)")
    p.add_argument(
        "--sandbox",
        default="auto",
        choices=["auto", "bwrap", "docker", "process"],
        help=SANDBOX_HELP,
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--no-train", action="store_true", help="skip the short training run")
    p.add_argument("--profile", help=PROFILE_HELP)
    _add_common(p)
    return p


def process_backend_note(sandbox: Sandbox) -> str:
    """One paragraph, said once, on what running without a sandbox means on this machine."""
    from grader.sandbox import backend_available

    usable, why = backend_available("bwrap")
    if usable:
        why = "you asked for --sandbox process"
    where = {"darwin": "macOS", "win32": "Windows"}.get(sys.platform, "this machine")
    text = (
        f"precheck runs your code without a sandbox on {where} ({why}): as a plain process "
        "with time and memory limits, as your own user. That is fine for checking your own "
        "files; it is not isolation, so never run it on someone else's code."
    )
    if not sys.platform.startswith("linux"):
        text += " Your code can also reach the network here (nothing blocks it off Linux)."
    if sys.platform == "win32":
        text += " Windows has no fork(), which precheck needs: run it inside WSL (Ubuntu)."
    return text


def _default_assignment() -> str:
    """The plug-ins' default assignment; ``UsageError`` when there is none."""
    from grader.assignments import default_assignment

    try:
        return default_assignment()
    except KeyError as exc:
        raise UsageError(str(exc.args[0])) from exc


def _detect(folder: Path) -> str | None:
    from grader.assignments import all_assignments

    found = [a.name for a in all_assignments().values() if a.detect(folder)]
    return found[0] if len(found) == 1 else None


def precheck_main(argv: list[str] | None = None) -> int:
    """``precheck [DIR]``: the reference-free checks of the student's own files."""
    args = precheck_parser().parse_args(argv)  # first: --version/--help must not load torch
    setup_logging(args.verbose, args.quiet)
    console = Console(stderr=args.json, quiet=args.quiet)
    if torch_missing(console):
        return EXIT_USAGE
    from grader.assignments import get_assignment
    from grader.precheck import precheck_json, print_checklist, run_precheck

    folder = args.folder.resolve()
    name = args.assignment or _detect(folder)
    if name is None:
        from grader.assignments import all_assignments

        hints = "; ".join(
            f"{a.name}: {', '.join(a.required_files)}" for a in all_assignments().values()
        )
        console.print(
            f"[red]Could not tell which assignment {folder} is.[/] Run precheck in the folder "
            f"that holds your assignment's files ({hints}), or pass --assignment."
        )
        return 2
    try:
        check_profile(get_assignment(name), args.profile)
    except (KeyError, UsageError) as exc:
        console.print(f"[red]{exc.args[0]}[/]")
        return EXIT_USAGE
    sandbox = _sandbox(args.sandbox, console, show_warnings=False, own_code=True)
    if not sandbox.isolates:
        console.print(f"[yellow]Note:[/] {process_backend_note(sandbox)}")
    for drift in versions.verdict_drift():
        console.print(f"[yellow]Note:[/] {drift}.")
    with tempfile.TemporaryDirectory(prefix="precheck-") as tmp:
        result = run_precheck(
            get_assignment(name),
            folder,
            Path(tmp),
            sandbox,
            console,
            train=not args.no_train,
            profile=args.profile,
        )
    if args.json:
        sys.stdout.write(precheck_json(result, get_assignment(name)))
    else:
        print_checklist(console, result, get_assignment(name))
    visible = [c for c in result.checks if c.status.value != "skipped"]
    return 0 if visible and all(c.status.value == "passed" for c in visible) else 1


if __name__ == "__main__":
    raise SystemExit(grade_main())
