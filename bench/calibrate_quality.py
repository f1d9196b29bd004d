"""Calibrate bert_finetune's quality bar on the rubric's data: the reference at several seeds
against the frozen-feature baseline the parent computes, with binomial noise.

Each seed is the reference ``classifier.py`` (solution markers removed: the zoo's copy) with its
``HPARAMS["seed"]`` changed, graded alone through the real quality tier (own sandbox, the real
offline checkpoint, labels only in the parent). Prints every accuracy, the baseline, one binomial
standard deviation at the part's size, and a suggested ``quality_min_accuracy``: halfway between
the baseline and the reference's worst seed, with its distance to each in standard deviations
(a bar is only worth having when both are >= 2). Minutes of CPU per seed. Usage:
    .venv/bin/python bench/calibrate_quality.py [--seeds 0 1 2] [--data-dir FILIMDB]
        [--train 320] [--seq-len 128]
"""

from __future__ import annotations

import argparse
import hashlib
import math
import statistics
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from grader.assignments import get_assignment
from grader.engine import grade_submission
from grader.sandbox import get_sandbox

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "tests" / "zoo" / "bert_finetune" / "reference" / "classifier.py"


def grade_seed(folder: Path, seed: int, seq_len: int, settings: dict) -> dict:
    """The quality check's details for the reference at ``seed``."""
    source = REFERENCE.read_text()
    source = source.replace('"seed": 0,', f'"seed": {seed},', 1)
    source = source.replace('"seq_len": 128,', f'"seq_len": {seq_len},', 1)
    folder.mkdir()
    (folder / "classifier.py").write_text(source)
    a = get_assignment("bert_finetune")
    rubric = a.default_rubric()
    rubric = rubric.model_copy(update={
        "items": [i for i in rubric.items if i.id == "quality.accuracy"],
        "settings": {**rubric.settings, **settings}})
    prepared = a.prepare(rubric, with_reference=False)
    files = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}
    result = grade_submission(assignment=a, rubric=rubric, prepared=prepared,
                              sandbox=get_sandbox("auto"), student=folder.name,
                              submission_dir=folder, files=files, with_reference=False,
                              tiers=("file", "property", "quality"))
    (check,) = [c for c in result.checks if c.id == "quality.accuracy"]
    if "accuracy" not in check.details:
        raise SystemExit(f"seed {seed}: the quality check did not score: {check.message}")
    n = len(prepared.parts["test"].texts[: int(rubric.setting("quality_eval", 500))])
    return {**check.details, "n_test": n}


def main() -> None:
    """Grade the reference at every seed and print the suggested bar."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--data-dir", default="", help="a FILIMDB folder (default: own reviews)")
    parser.add_argument("--train", type=int, default=320, help="quality_train")
    parser.add_argument("--seq-len", type=int, default=128)
    args = parser.parse_args()
    console = Console()
    settings = {"data_dir": args.data_dir, "quality_train": args.train}
    rows = []
    with tempfile.TemporaryDirectory(prefix="nlpgrade-calibrate-") as tmp:
        for seed in args.seeds:
            t0 = time.perf_counter()
            d = grade_seed(Path(tmp) / f"seed{seed}", seed, args.seq_len, settings)
            rows.append((seed, d, time.perf_counter() - t0))
            console.print(f"seed {seed}: test {d['accuracy']['test']:.3f} "
                          f"(baseline {d['baseline']['test']:.3f}) in {rows[-1][2]:.0f} s")
    table = Table(title=f"quality tier on {args.data_dir or 'the project reviews'}, "
                        f"{args.train} training reviews, seq_len {args.seq_len}")
    for col in ("seed", "test", "test-b", "baseline test", "baseline test-b", "wall s"):
        table.add_column(col, justify="right")
    for seed, d, wall in rows:
        acc, base = d["accuracy"], d["baseline"]
        table.add_row(str(seed), f"{acc['test']:.3f}", f"{acc.get('test-b', math.nan):.3f}",
                      f"{base['test']:.3f}", f"{base.get('test-b', math.nan):.3f}", f"{wall:.0f}")
    console.print(table)
    tests = [d["accuracy"]["test"] for _, d, _ in rows]
    baseline = rows[0][1]["baseline"]["test"]
    n = rows[0][1]["n_test"]
    worst = min(tests)
    bar = (baseline + worst) / 2
    sd = math.sqrt(max(bar * (1 - bar), 1e-9) / n)
    console.print(f"reference test accuracy: mean {statistics.mean(tests):.3f}, worst {worst:.3f}; "
                  f"frozen baseline {baseline:.3f}; one binomial SD at n={n}: {sd:.3f}")
    if worst <= baseline:
        console.print("[red]The reference does not beat the frozen baseline at every seed: no bar "
                      "separates them here; keep the tier's points at 0 or train on more data.[/]")
        return
    console.print(f"suggested quality_min_accuracy = {bar:.3f}: {(worst - bar) / sd:.1f} SD below "
                  f"the reference's worst seed, {(bar - baseline) / sd:.1f} SD above the baseline")


if __name__ == "__main__":
    main()
