"""Benchmark `grade` on a generated class: --jobs 1 vs --jobs 2, and where the time goes.

Generates N submissions (default 20) from the examples and the mutant zoo, each with its own
train.py (a comment with the student's name, so no training run is shared), grades the class at
--jobs 1 and at --jobs 2 in this one run, checks the grades are identical, and prints:

- the wall-time ratio jobs1 / jobs2;
- grader time per submission (jobs 1 wall / N) against the bare floor of the same probes
  (``bench_floor.py``: one plain process per submission, no sandbox or IPC, plus the parent's own
  trusted compute), measured for one submission of each source in this same run;
- the grader's own overhead (everything but probe compute, worker starts and reference runs) as
  a share of the time spent inside probes; worker (sandbox + torch import) starts likewise.

Usage: .venv/bin/python bench/bench_grade.py [--n 20] [--sandbox auto] [--no-floor]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from grader.assignments import get_assignment
from grader.batch import RunPlan, grade_all, intake, prepare_run
from grader.results import SubmissionResult
from grader.sandbox import get_sandbox

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_floor import floor, record  # a sibling script, not a package

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [
    ROOT / "examples" / "bert_pretrain" / n
    for n in (
        "alice_correct",
        "dave_no_tying",
        "erin_causal_mask",
        "frank_loss_lm_only",
        "bob_template",
        "carol_syntax_error",
    )
]
SOURCES += [
    ROOT / "tests" / "zoo" / "bert_pretrain" / n
    for n in (
        "no_pad_mask",
        "gelu_norm_swapped",
        "cls_last_position",
        "ok_advanced_indexing",
        "no_zero_grad",
        "ffn_skipped",
        "no_decoder_bias",
        "ok_torch_tensor",
    )
]
CHECKPOINT = ROOT / "examples" / "bert_pretrain" / "alice_correct" / "bert_model.pt"


def make_class(dest: Path, n: int) -> None:
    """``n`` students cycling through the sources, each train.py made unique."""
    for i in range(n):
        src = SOURCES[i % len(SOURCES)]
        student = dest / f"s{i:02d}_{src.name}"
        shutil.copytree(src, student)
        if not (student / "bert_model.pt").exists() and "template" not in src.name:
            shutil.copy2(CHECKPOINT, student / "bert_model.pt")
        train = student / "train.py"
        train.write_text(train.read_text() + f"\n# submitted by {student.name}\n")


def run(
    class_dir: Path, out: Path, jobs: int, sandbox: str, store: Path | None = None
) -> tuple[float, list[SubmissionResult], dict[str, list[dict[str, object]]]]:
    """Grade the class with ``jobs`` graders: wall seconds, results, and (with ``store``) the
    probe requests of each submission, recorded for the floor."""
    a = get_assignment("bert_pretrain")
    rubric = a.default_rubric()
    rubric = rubric.model_copy(update={"settings": {**rubric.settings, "profile": "small"}})
    plan = RunPlan(
        assignment=a,
        rubric=rubric,
        sandbox=get_sandbox(sandbox),
        out_dir=out,
        jobs=jobs,
        use_cache=False,
    )
    prepare_run(plan)  # kits and calibration are cached: not part of the timing
    subs = intake(class_dir, plan)
    if store is None:
        return (*_timed(subs, plan), {})
    with record(store) as found:
        wall, results = _timed(subs, plan)
    return wall, results, found


def _timed(subs: list[object], plan: RunPlan) -> tuple[float, list[SubmissionResult]]:
    t0 = time.perf_counter()
    results = grade_all(subs, plan)
    return time.perf_counter() - t0, results


def floor_per_submission(results: list[SubmissionResult],
                         found: dict[str, list[dict[str, object]]]) -> float:
    """Mean bare floor over the class: one replay per source, shared by that source's copies."""
    by_source: dict[str, float] = {}
    per_student = {Path(folder).name: recs for folder, recs in found.items()}
    total = 0.0
    for r in results:
        source = r.student.split("_", 1)[1]
        if source not in by_source:
            recs = next((v for k, v in per_student.items() if k.endswith(r.student)), [])
            by_source[source] = (floor(recs)["total_s"] if recs else 0.0) + r.timings.reference_s
        total += by_source[source]
    return total / len(results)


def verdicts(results: list[SubmissionResult]) -> list[object]:
    """What must not change with parallelism."""
    return [(r.student, r.score, [(c.id, c.status, c.message) for c in r.checks]) for r in results]


def main() -> None:
    """Run the benchmark and print its table."""
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=20)
    p.add_argument("--sandbox", default="auto")
    p.add_argument("--reverse", action="store_true", help="grade at --jobs 2 first (order check)")
    p.add_argument("--jobs", type=int, choices=(1, 2), help="only this one run (no speed-up)")
    p.add_argument("--no-floor", action="store_true", help="skip the bare-floor replay (always "
                   "skipped with --jobs 2: the floor is compared with the one-worker run)")
    args = p.parse_args()
    console = Console()
    with tempfile.TemporaryDirectory(prefix="bench-grade-") as tmp:
        class_dir = Path(tmp) / "class"
        class_dir.mkdir()
        make_class(class_dir, args.n)
        # The floor is one process per submission: compare it with the one-worker run only.
        store = None if args.no_floor or args.jobs == 2 else Path(tmp) / "store"
        order = [2, 1] if args.reverse else [1, 2]
        runs: dict[int, tuple[float, list[SubmissionResult], dict[str, Any]]] = {}
        for jobs in [args.jobs] if args.jobs else order:
            runs[jobs] = run(class_dir, Path(tmp) / f"j{jobs}", jobs, args.sandbox,
                             store if jobs == (args.jobs or 1) else None)
        first = args.jobs or 1
        per_sub = runs[first][0] / args.n
        bare = None if store is None else floor_per_submission(runs[first][1], runs[first][2])
    table = Table(title=f"grade: {args.n} submissions, sandbox {get_sandbox(args.sandbox).name}")
    for col in ("jobs", "wall s", "probes s", "worker starts s", "worker starts",
                "parent compute s", "grader overhead s", "starts / probes"):
        table.add_column(col, justify="right")
    for jobs, (wall, res, _) in sorted(runs.items()):
        probes = sum(r.timings.probes_s for r in res)
        starts = sum(r.timings.worker_start_s for r in res)
        ref = sum(r.timings.reference_s for r in res)
        total = sum(r.timings.total_s for r in res)
        table.add_row(str(jobs), f"{wall:.1f}", f"{probes:.1f}", f"{starts:.1f}",
                      str(sum(r.timings.worker_starts for r in res)), f"{ref:.1f}",
                      f"{total - probes - starts - ref:.1f}", f"{starts / probes:.1%}")
    console.print(table)
    if bare is not None:
        console.print(
            f"grader / bare floor per submission (jobs {first}): [bold]{per_sub / bare:.2f}x[/] "
            f"({per_sub:.2f} s vs {bare:.2f} s: one plain process, torch imported once, the same "
            "probes, plus the parent's own compute)"
        )
    if len(runs) == 2:
        (wall1, res1, _), (wall2, res2, _) = runs[1], runs[2]
        console.print(
            f"speed-up jobs 2 vs 1: [bold]{wall1 / wall2:.2f}x[/] ({wall1:.1f} s vs "
            f"{wall2:.1f} s); grades identical: {verdicts(res1) == verdicts(res2)}"
        )


if __name__ == "__main__":
    main()
