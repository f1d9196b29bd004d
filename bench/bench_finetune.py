"""Benchmark the default tiers of ``bert_finetune``: time per check and per submission.

Grades zoo cases (default: the reference, the template and two buggy ones) one at a time with
the real sandbox, and prints for each the wall time, the worker start, the unit and interface
tiers and the CPU the run used; the budget is 60 s per submission on 2 cores. Also times the
bare compute of the interface tier (the reference's train + classify on the tiny BERT, in this
process) so the grader's overhead can be read off.

Usage: .venv/bin/python bench/bench_finetune.py [--cases reference template ...]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
UNIT = {"load.model", "vectorize.ids", "vectorize.edges", "vectorize.fields",
        "truncation.head_tail", "schedule.curve", "train.accumulation", "train.clipping",
        "optimizer.adam_adamw", "pretrain.masking"}


def bare_interface() -> float:
    """The reference's train (64 reviews) + classify (32) on the tiny BERT, no sandbox."""
    import importlib.util

    from grader.assignments.bert_finetune import data, hfcache

    hfcache.model_cache("tiny")
    import torch

    torch.set_num_threads(1)
    spec = importlib.util.spec_from_file_location(
        "bench_classifier", ROOT / "reference" / "bert_finetune" / "classifier.py")
    assert spec is not None and spec.loader is not None
    clf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(clf)
    s = data.interface_sample(data.load_parts(""))
    t0 = time.perf_counter()
    params = clf.train(s.train_texts, s.train_labels)
    clf.classify(s.eval_texts, params)
    return time.perf_counter() - t0


def main() -> None:
    """Grade the chosen cases one by one and print a table of times."""
    from grader.assignments.bert_finetune import hfcache

    # before anything imports transformers (the hub client reads these once)
    os.environ.update(hfcache.offline_env(hfcache.cache_path("tiny")))
    os.environ["NLPGRADE_QUICK"] = "1"
    from grader.selftest import grade_zoo

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+",
                        default=["reference", "template", "no_truncation", "accum_not_divided"])
    args = parser.parse_args()
    print(f"{'case':28s} {'wall s':>7s} {'start s':>8s} {'unit s':>7s} {'iface s':>8s} "
          f"{'probes s':>9s} {'score':>6s}")
    for name in args.cases:
        t0 = time.perf_counter()
        _, results = grade_zoo("bert_finetune", jobs=1, only=[name])
        wall = time.perf_counter() - t0
        (r,) = results
        unit = sum(c.duration_s or 0 for c in r.checks if c.id in UNIT)
        iface = sum(c.duration_s or 0 for c in r.checks if c.id not in UNIT)
        print(f"{name:28s} {wall:7.1f} {r.timings.worker_start_s:8.1f} {unit:7.1f} "
              f"{iface:8.1f} {r.timings.probes_s:9.1f} {r.score:6g}")
    print(f"bare compute of the interface tier (reference, in-process): {bare_interface():.2f} s")
    print("budget: 60 s per submission on 2 cores (default tiers)")


if __name__ == "__main__":
    main()
