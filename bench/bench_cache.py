"""Benchmark the result cache: a rerun of ``grade`` on an unchanged class regrades nothing.

Grades the example class (``examples/bert_pretrain``, small profile) into a fresh output folder,
then runs the same command again and prints both times, their ratio and how many results were
rewritten (must be 0). This replaces the timing bound the tests used to assert.

Usage: .venv/bin/python bench/bench_cache.py [--jobs 2] [--class-dir examples/bert_pretrain]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import tempfile
import time
from pathlib import Path

from grader.cli import grade_main
from grader.results import SubmissionResult

ROOT = Path(__file__).resolve().parents[1]


def _graded_at(out: Path) -> dict[str, object]:
    return {
        p.stem: SubmissionResult.model_validate_json(p.read_text()).graded_at
        for p in sorted((out / "results").glob("*.json"))
    }


def _grade(class_dir: Path, out: Path, jobs: int) -> float:
    argv = [str(class_dir), "--profile", "small", "--jobs", str(jobs), "--out", str(out)]
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        rc = grade_main(argv)
    if rc not in (0, 1):  # 1: some row is not fully graded (the examples have such rows)
        raise SystemExit(f"grade exited with {rc}")
    return time.perf_counter() - t0


def main() -> None:
    """Print the first run, the cached rerun and how many results the rerun rewrote."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--class-dir", type=Path, default=ROOT / "examples" / "bert_pretrain")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="nlpgrade-bench-cache-") as tmp:
        out = Path(tmp) / "out"
        first = _grade(args.class_dir, out, args.jobs)
        before = _graded_at(out)
        rerun = _grade(args.class_dir, out, args.jobs)
        after = _graded_at(out)
    rewritten = sum(1 for n, t in before.items() if after.get(n) != t)
    print(f"grade {args.class_dir.name} ({len(before)} submissions, --jobs {args.jobs}): "
          f"first run {first:.1f} s, cached rerun {rerun:.2f} s ({first / rerun:.0f}x faster)")
    print(f"results rewritten by the rerun: {rewritten} (must be 0)")


if __name__ == "__main__":
    main()
