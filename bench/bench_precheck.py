"""Benchmark `precheck`: seconds on a correct submission and on the template, against the bare
compute of the same work (model probes + the short training run, in-process, no sandbox).

The budget is 20 s on a 2-core laptop CPU for the `small` profile. Prints the ratio
precheck / bare, i.e. what the sandbox, the worker starts and the grader cost on top.

Usage: .venv/bin/python bench/bench_precheck.py [--sandbox auto|bwrap|process]
"""

from __future__ import annotations

import argparse
import os
import pickle
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from grader.assignments import get_assignment
from grader.assignments.bert_pretrain import inputs
from grader.assignments.bert_pretrain.kit import build_kit
from grader.precheck import run_precheck
from grader.sandbox import get_sandbox

ROOT = Path(__file__).resolve().parents[1]


def bare(kit_dir: Path, student: Path) -> float:
    """The same work without the grader: forward probes and one epoch on the kit subset."""
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        for f in kit_dir.iterdir():
            os.symlink(f, Path(tmp) / f.name)
        cwd = os.getcwd()
        os.chdir(tmp)
        sys.path[:0] = [str(kit_dir), str(student)]
        t0 = time.perf_counter()
        try:
            from model import BERT  # type: ignore[import-not-found]

            torch.manual_seed(0)
            model = BERT()
            x = inputs.forward_inputs(model.decoder.weight.shape[0], 5)
            with torch.no_grad():
                for prefix in ("", "pad.", "alt."):
                    model(x[f"{prefix}input_ids"], x[f"{prefix}segment_ids"], x["masked_pos"])
            with open("batches.pkl", "rb") as fh:
                batches = pickle.load(fh)
            opt = torch.optim.Adam(model.parameters(), lr=1e-3)
            crit = torch.nn.CrossEntropyLoss()
            for batch in batches:
                ids, seg, tok, pos, nxt = map(torch.LongTensor, zip(*batch))
                lm, clsf = model(ids, seg, pos)
                loss = crit(lm.transpose(1, 2), tok) + crit(clsf, nxt)
                opt.zero_grad()
                loss.backward()
                opt.step()
        finally:
            os.chdir(cwd)
            del sys.path[:2]
        return time.perf_counter() - t0


def main() -> None:
    """Run the benchmark and print its table."""
    p = argparse.ArgumentParser()
    p.add_argument("--sandbox", default="auto")
    args = p.parse_args()
    console = Console()
    a6 = get_assignment("bert_pretrain")
    sandbox = get_sandbox(args.sandbox)
    kit = build_kit("small")  # cached; built once before timing
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-precheck-") as tmp:
        for name, src in (
            ("correct (alice)", ROOT / "examples/bert_pretrain/alice_correct"),
            ("template", ROOT / "student_template/bert_pretrain"),
        ):
            folder = Path(tmp) / name.split()[0]
            shutil.copytree(src, folder)
            t0 = time.perf_counter()
            result = run_precheck(a6, folder, Path(tmp) / "scratch", sandbox, train=True)
            rows.append((name, time.perf_counter() - t0, result))
        bare_s = bare(kit.dir, ROOT / "examples/bert_pretrain/alice_correct")
    table = Table(title=f"precheck, sandbox {sandbox.name}, {os.cpu_count()} cores")
    for col in (
        "submission",
        "seconds",
        "worker starts s",
        "probes s",
        "vs 20 s budget",
        "vs bare compute",
    ):
        table.add_column(col, justify="right")
    for name, secs, result in rows:
        t = result.timings
        table.add_row(
            name,
            f"{secs:.1f}",
            f"{t.worker_start_s:.1f}",
            f"{t.probes_s:.1f}",
            f"{secs / 20:.0%}",
            f"{secs / bare_s:.2f}x" if "correct" in name else "-",
        )
    console.print(table)
    console.print(f"bare compute of the same work (in-process, 1 thread): {bare_s:.1f} s")


if __name__ == "__main__":
    main()
