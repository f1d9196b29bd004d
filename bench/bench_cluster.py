"""Benchmark the Dask engine: its overhead against local threads, and its scaling over workers.

1. Overhead: the same generated mlm_step class (``--n``, default 16: the reference and five zoo
   mutants in turn, every probe really run) graded at ``--jobs 2`` (threads) and on
   ``--cluster local:2`` (two worker processes, one thread each); prints the wall ratio
   cluster / threads (goal <= 1.1x), for the grading alone and with the cluster's start.
2. Scale: ``--scale`` submissions (default 200) with kits cached, as on any rerun, on a local
   cluster of 1 worker and of 2 workers; prints the throughput ratio (goal >= 1.8x on 2 free
   cores), the ratio of each back-to-back pair (a shared or virtual machine's speed drifts
   between minutes), and, beside them, the machine's own ceiling measured right after: bare
   ``python -c 'import torch; ...'`` processes shaped like a sandboxed worker (torch's import,
   one forked child per probe), two at a time vs one at a time (no grader code).
   By default they are the handed-out template (``--scale-kind template``): each one is really
   graded (intake, its own sandboxed worker with torch imported, every probe run until it
   stops at a TODO, every check and rubric item scored, the row written) but costs little compute,
   so 200 fit in minutes; ``--scale-kind mixed`` uses the overhead class's mix instead.

Each measurement is repeated ``--repeat`` times (default 3) in alternating order (so a load
change on a shared machine hits both sides) and the medians are compared; the load average is
printed before each. Every run must give identical grades (checked). Each student's file carries
its own comment, so no two submissions share a hash. Usage:
    .venv/bin/python bench/bench_cluster.py [--n 16] [--scale 200] [--repeat 3]
        [--scale-kind template|mixed] [--skip-overhead|--skip-scale]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.table import Table

from grader.assignments import get_assignment
from grader.batch import RunPlan, grade_all, intake, prepare_run
from grader.intake import SubmissionInput
from grader.results import SubmissionResult
from grader.sandbox import get_sandbox

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [ROOT / "reference" / "mlm_step" / "mlm_step.py"] + [
    ROOT / "tests" / "zoo" / "mlm_step" / name / "mlm_step.py"
    for name in ("causal_mask", "erf_gelu", "builtin_softmax", "per_row_mean", "no_sqrt_scaling")
]


TEMPLATE = ROOT / "student_template" / "mlm_step" / "mlm_step.py"


def make_class(dest: Path, n: int, sources: list[Path] = SOURCES) -> Path:
    """``n`` mlm_step students cycling through ``sources``, each file made distinct."""
    dest.mkdir(parents=True)
    for i in range(n):
        src = sources[i % len(sources)]
        student = dest / f"s{i:03d}"
        student.mkdir()
        text = src.read_text() + f"\n# submitted by student {i}\n"
        (student / "mlm_step.py").write_text(text)
    return dest


def new_plan(out: Path, jobs: int) -> tuple[RunPlan, Callable[[Path], list[SubmissionInput]]]:
    """A prepared mlm_step run writing to ``out`` (kits and oracle ready, no result cache)."""
    a = get_assignment("mlm_step")
    plan = RunPlan(assignment=a, rubric=a.default_rubric(), sandbox=get_sandbox("auto"),
                   out_dir=out, jobs=jobs, use_cache=False)
    prepare_run(plan)
    return plan, lambda folder: intake(folder, plan)


Timed = tuple[float, float, list[SubmissionResult]]


def threads(class_dir: Path, out: Path, jobs: int) -> Timed:
    """(wall s, wall s, results) of local threads (no start cost to separate)."""
    plan, find = new_plan(out, jobs)
    subs = find(class_dir)
    t0 = time.perf_counter()
    results = grade_all(subs, plan)
    wall = time.perf_counter() - t0
    return wall, wall, results


def cluster(class_dir: Path, out: Path, workers: int) -> Timed:
    """(grading wall s, wall s with the cluster's start and stop, results) on ``local:workers``."""
    from grader.distributed.client import ClusterEngine
    from grader.distributed.cluster import check_cluster, connect

    plan, find = new_plan(out, workers)
    subs = find(class_dir)
    t0 = time.perf_counter()
    conn = connect(None, f"local:{workers}")
    check_cluster(conn, "auto", {}, "mlm_step")
    engine = ClusterEngine(conn, sandbox="auto", resources={})
    try:
        t1 = time.perf_counter()
        results = engine.grade_all(subs, plan)
        grading = time.perf_counter() - t1
        shares = sorted(t.graded for t in engine.throughput.workers.values())
        Console().print(f"  (submissions per worker: {shares})")
    finally:
        engine.close()
    return grading, time.perf_counter() - t0, results


# What a graded template submission costs a machine, without the grader: an interpreter start,
# torch's import, then 25 short forked children (one per probe) that each compute a little.
CEILING_JOB = (
    "import os, torch\n"
    "torch.manual_seed(0)\n"
    "for _ in range(25):\n"
    "    pid = os.fork()\n"
    "    if pid == 0:\n"
    "        x = torch.randn(64, 64); float((x @ x).sum()); os._exit(0)\n"
    "    os.waitpid(pid, 0)\n"
)


def ceiling(jobs: int = 8) -> float:
    """The machine's own 2-process speed-up now: ``jobs`` bare ``python -c CEILING_JOB``
    processes (one thread each, shaped like a sandboxed worker: an interpreter start, torch's
    import, one forked child per probe) run one at a time, then two at a time; returns
    (1 at a time s) / (2 at a time s). No grader code runs: this is what 2 workers could reach
    at best on these cores."""
    import subprocess
    import sys

    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

    def run(parallel: int) -> float:
        t0 = time.perf_counter()
        for start in range(0, jobs, parallel):
            procs = [subprocess.Popen([sys.executable, "-c", CEILING_JOB], env=env)
                     for _ in range(min(parallel, jobs - start))]
            for proc in procs:
                proc.wait()
        return time.perf_counter() - t0

    run(1)  # warm the page cache
    return run(1) / run(2)


def verdicts(results: list[SubmissionResult]) -> list[object]:
    """What must not change with the engine."""
    return [(r.student, r.score, [(c.id, c.status, c.score, c.message) for c in r.checks])
            for r in results]


def load() -> str:
    """The 1-minute load average (what else the shared cores were doing)."""
    return f"{os.getloadavg()[0]:.2f}"


def alternate(repeat: int, a: Callable[[int], Timed], b: Callable[[int], Timed],
              label: tuple[str, str], console: Console) -> tuple[list[Timed], list[Timed]]:
    """Run ``a`` and ``b`` ``repeat`` times each, in the order a b, b a, a b, ..."""
    runs: tuple[list[Timed], list[Timed]] = ([], [])
    for i in range(repeat):
        order = ((0, a), (1, b)) if i % 2 == 0 else ((1, b), (0, a))
        for side, fn in order:
            before = load()
            timed = fn(i)
            runs[side].append(timed)
            console.print(f"  run {i + 1} {label[side]}: {timed[0]:.1f} s grading "
                          f"({timed[1]:.1f} s in all), load {before} before, {load()} after")
    return runs


def median(runs: list[Timed], k: int = 0) -> float:
    """The median of field ``k`` of ``runs``."""
    return statistics.median(t[k] for t in runs)


def same_grades(*sides: list[Timed]) -> bool:
    """Whether every run of every side gave the grades of the first."""
    first = verdicts(sides[0][0][2])
    return all(verdicts(t[2]) == first for side in sides for t in side)


def main() -> None:
    """Run the benchmarks and print their tables."""
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=16, help="class size of the overhead comparison")
    p.add_argument("--scale", type=int, default=200, help="class size of the scale run")
    p.add_argument("--scale-kind", choices=["mixed", "template"], default="template",
                   help="scale-run submissions: the handed-out template (every probe stops at "
                   "a TODO: a sandbox start and little compute), or the overhead class's mix")
    p.add_argument("--repeat", type=int, default=3, help="runs of each side (medians compared)")
    p.add_argument("--skip-overhead", action="store_true")
    p.add_argument("--skip-scale", action="store_true")
    p.add_argument("--ceiling-only", action="store_true",
                   help="only measure the machine's 2-process ceiling")
    args = p.parse_args()
    console = Console()
    if args.ceiling_only:
        console.print(f"machine ceiling, 2 bare torch processes at a time vs 1: "
                      f"{ceiling():.2f}x (load {load()})")
        return
    tmp = Path(tempfile.mkdtemp(prefix="bench-cluster-"))
    try:
        new_plan(tmp / "warm", 1)  # kits built (or verified) once before anything is timed
        if not args.skip_overhead:
            klass = make_class(tmp / "class", args.n)
            console.print(f"overhead: {args.n} mlm_step submissions, {args.repeat} run(s) each")
            t_runs, c_runs = alternate(
                args.repeat,
                lambda i: threads(klass, tmp / f"threads{i}", 2),
                lambda i: cluster(klass, tmp / f"cluster{i}", 2),
                ("--jobs 2", "local:2"), console)
            table = Table(title=f"{args.n} mlm_step submissions: local threads vs Dask "
                          f"(median of {args.repeat})")
            for col in ("engine", "grading s", "with cluster start s"):
                table.add_column(col, justify="right")
            t_wall = median(t_runs)
            c_wall, c_total = median(c_runs), median(c_runs, 1)
            table.add_row("--jobs 2 (threads)", f"{t_wall:.1f}", f"{t_wall:.1f}")
            table.add_row("--cluster local:2", f"{c_wall:.1f}", f"{c_total:.1f}")
            console.print(table)
            console.print(
                f"engine overhead, cluster / threads: [bold]{c_wall / t_wall:.2f}x[/] grading, "
                f"{c_total / t_wall:.2f}x with the cluster's start (goal <= 1.1x); "
                f"grades identical: {same_grades(t_runs, c_runs)}"
            )
        if not args.skip_scale:
            sources = [TEMPLATE] if args.scale_kind == "template" else SOURCES
            klass = make_class(tmp / "scale", args.scale, sources)
            console.print(f"scale: {args.scale} submissions ({args.scale_kind}), "
                          f"{args.repeat} run(s) each")
            one_runs, two_runs = alternate(
                args.repeat,
                lambda i: cluster(klass, tmp / f"w1-{i}", 1),
                lambda i: cluster(klass, tmp / f"w2-{i}", 2),
                ("local:1", "local:2"), console)
            one, two = median(one_runs), median(two_runs)
            # run i of each side ran back to back, so their ratio shares the machine's speed then
            pairs = [a[0] / b[0] for a, b in zip(one_runs, two_runs, strict=True)]
            machine = ceiling()
            table = Table(title=f"scale: {args.scale} mlm_step submissions ({args.scale_kind}, "
                          f"kits cached, median of {args.repeat})")
            for col in ("workers", "grading s", "submissions / min"):
                table.add_column(col, justify="right")
            for n, wall in ((1, one), (2, two)):
                table.add_row(str(n), f"{wall:.1f}", f"{60 * args.scale / wall:.1f}")
            console.print(table)
            console.print(
                f"throughput 2 workers / 1 worker: [bold]{one / two:.2f}x[/] (goal >= 1.8x) "
                f"from the medians; back-to-back pairs {', '.join(f'{r:.2f}x' for r in pairs)} "
                f"(median {statistics.median(pairs):.2f}x); "
                f"grades identical: {same_grades(one_runs, two_runs)}"
            )
            console.print(
                f"the machine's own ceiling now (bare torch processes, 2 at a time vs 1, no "
                f"grader): {machine:.2f}x, load {load()}; the grader reaches "
                f"{one / two / machine:.0%} of it"
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
