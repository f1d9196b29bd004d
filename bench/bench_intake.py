"""Benchmark intake on a huge sparse upload: a 3 GB ``bert_model.pt`` is left out unread.

The size cap is checked from the file's metadata, so the time is that of a tiny submission
(no timing is asserted in the tests; this prints the figures instead). Prints the median of
``--runs`` intakes of a 3 GB sparse checkpoint next to the same submission without it.

Usage: .venv/bin/python bench/bench_intake.py [--runs 5] [--gb 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from grader.intake import discover

EXPECTED = ("model.py", "train.py")
OPTIONAL = ("bert_model.pt",)


def _one(root: Path, gb: float) -> tuple[float, str]:
    """Seconds for one intake of a submission with a ``gb``-GB sparse checkpoint (0: none)."""
    subs, staging = root / "subs", root / "staging"
    alice = subs / "alice"
    alice.mkdir(parents=True)
    (alice / "model.py").write_text("class BERT:\n    pass\n")
    (alice / "train.py").write_text("print('training')\n")
    if gb:
        with open(alice / "bert_model.pt", "wb") as fh:
            fh.truncate(int(gb * 1024**3))
    t0 = time.perf_counter()
    rows = discover(subs, staging, expected_files=EXPECTED, optional_files=OPTIONAL)
    return time.perf_counter() - t0, rows[0].status


def main() -> None:
    """Print intake seconds with and without the huge sparse checkpoint."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--gb", type=float, default=3.0)
    args = p.parse_args()
    figures: dict[str, list[float]] = {"huge": [], "small": []}
    status = ""
    for _ in range(args.runs):
        for kind, gb in (("huge", args.gb), ("small", 0.0)):
            with tempfile.TemporaryDirectory(prefix="nlpgrade-bench-intake-") as tmp:
                seconds, st = _one(Path(tmp), gb)
            figures[kind].append(seconds)
            status = st if kind == "huge" else status
    huge, small = statistics.median(figures["huge"]), statistics.median(figures["small"])
    print(f"intake, {args.gb:g} GB sparse bert_model.pt: median {huge * 1000:.1f} ms "
          f"over {args.runs} runs (status {status})")
    print(f"intake, same submission without it:      median {small * 1000:.1f} ms")
    print(f"ratio huge / small: {huge / small:.2f}x")


if __name__ == "__main__":
    main()
