"""Benchmark `grade` on a generated class: --jobs 1 vs --jobs 2, and where the time goes.

Generates N submissions (default 20) from the examples and the mutant zoo, each with its own
train.py (a comment with the student's name, so no training run is shared), grades the class at
--jobs 1 and at --jobs 2 in this one run, checks the grades are identical, and prints:

- the wall-time ratio jobs1 / jobs2;
- the grader's own overhead (everything but probe compute, worker starts and reference runs) as
  a share of the time spent inside probes; worker (sandbox + torch import) starts likewise.

Usage: .venv/bin/python bench/bench_grade.py [--n 20] [--sandbox auto]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from grader.assignments import get_assignment
from grader.batch import RunPlan, grade_all, intake, prepare_run
from grader.results import SubmissionResult
from grader.sandbox import get_sandbox

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
    class_dir: Path, out: Path, jobs: int, sandbox: str
) -> tuple[float, list[SubmissionResult]]:
    """Grade the class with ``jobs`` graders; returns wall seconds and results."""
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
    t0 = time.perf_counter()
    results = grade_all(subs, plan)
    return time.perf_counter() - t0, results


def verdicts(results: list[SubmissionResult]) -> list[object]:
    """What must not change with parallelism."""
    return [(r.student, r.score, [(c.id, c.status, c.message) for c in r.checks]) for r in results]


def main() -> None:
    """Run the benchmark and print its table."""
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=20)
    p.add_argument("--sandbox", default="auto")
    p.add_argument("--reverse", action="store_true", help="grade at --jobs 2 first (order check)")
    args = p.parse_args()
    console = Console()
    with tempfile.TemporaryDirectory(prefix="bench-grade-") as tmp:
        class_dir = Path(tmp) / "class"
        class_dir.mkdir()
        make_class(class_dir, args.n)
        if args.reverse:
            wall2, res2 = run(class_dir, Path(tmp) / "j2", 2, args.sandbox)
            wall1, res1 = run(class_dir, Path(tmp) / "j1", 1, args.sandbox)
        else:
            wall1, res1 = run(class_dir, Path(tmp) / "j1", 1, args.sandbox)
            wall2, res2 = run(class_dir, Path(tmp) / "j2", 2, args.sandbox)
    same = verdicts(res1) == verdicts(res2)
    table = Table(title=f"grade: {args.n} submissions, sandbox {get_sandbox(args.sandbox).name}")
    for col in (
        "jobs",
        "wall s",
        "probes s",
        "worker starts s",
        "reference s",
        "grader overhead s",
        "overhead / probes",
        "starts / probes",
    ):
        table.add_column(col, justify="right")
    for jobs, wall, res in ((1, wall1, res1), (2, wall2, res2)):
        probes = sum(r.timings.probes_s for r in res)
        starts = sum(r.timings.worker_start_s for r in res)
        ref = sum(r.timings.reference_s for r in res)
        total = sum(r.timings.total_s for r in res)
        overhead = total - probes - starts - ref
        table.add_row(
            str(jobs),
            f"{wall:.1f}",
            f"{probes:.1f}",
            f"{starts:.1f}",
            f"{ref:.1f}",
            f"{overhead:.1f}",
            f"{overhead / probes:.1%}",
            f"{starts / probes:.1%}",
        )
    console.print(table)
    console.print(
        f"speed-up jobs 2 vs 1: [bold]{wall1 / wall2:.2f}x[/] "
        f"({wall1:.1f} s vs {wall2:.1f} s); grades identical: {same}"
    )


if __name__ == "__main__":
    main()
