"""Cost of starting a probe in each sandbox backend vs a plain subprocess, measured in one run.

Cases: a probe that does not import torch, one that does (the realistic case), and the
per-probe cost inside a warm worker (the zygote forks a child per probe). Prints ratios.

    .venv/bin/python bench/bench_sandbox.py [--repeat 5] [--probes 20]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.table import Table

from grader.sandbox import SandboxSpec, backend_available, get_sandbox

PROBES = """
from nlpgrade_worker import probe

@probe("plain")
def plain(ctx):
    ctx.emit({"v": ctx.import_student("work").plain()})

@probe("torchy")
def torchy(ctx):
    ctx.emit({"v": ctx.import_student("work").torchy()})
"""
WORK = """
def plain():
    return sum(range(1000))

def torchy():
    import torch
    return float(torch.ones(64, 64).matmul(torch.ones(64, 64)).sum())
"""
PLAIN = {
    "plain": "import sys; sys.path.insert(0, sys.argv[1]); import work; work.plain()",
    "torchy": "import sys; sys.path.insert(0, sys.argv[1]); import work; work.torchy()",
}


def _time(fn: Callable[[], object], repeat: int) -> float:
    """Median wall time of ``fn`` over ``repeat`` runs."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _fixtures(root: Path) -> SandboxSpec:
    """A submission with work.py, an empty kit, and the bench probe module."""
    sub, kit = root / "sub", root / "kit"
    sub.mkdir()
    kit.mkdir()
    (sub / "work.py").write_text(WORK)
    (root / "probes.py").write_text(PROBES)
    for p in (root, sub, kit):
        p.chmod(0o755)
    return SandboxSpec(submission_dir=sub, kit_dir=kit, probe_module=root / "probes.py")


def _cold(backend: str, spec: SandboxSpec, probe: str) -> None:
    """Open a session, run one probe, close (what a per-probe sandbox would cost)."""
    with get_sandbox(backend).open(
        spec.model_copy(update={"preload_torch": probe == "torchy"})
    ) as s:
        out = s.run(probe)
        assert out.ok, out.message


def main() -> None:
    """Run the benchmark and print the table."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--probes", type=int, default=20)
    args = ap.parse_args()
    backends = [b for b in ("bwrap", "docker", "process") if backend_available(b)[0]]
    console = Console(width=120)
    table = Table(title="probe start cost (median wall seconds)")
    for col in (
        "backend",
        "case",
        "plain subprocess",
        "sandbox cold",
        "cold / plain",
        "warm probe",
        "plain / warm",
    ):
        table.add_column(col, justify="right" if col != "case" else "left")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        root.chmod(0o755)
        spec = _fixtures(root)
        sub = str(spec.submission_dir)
        plain = {
            case: _time(
                lambda c=case: subprocess.run(  # type: ignore[misc]
                    [sys.executable, "-c", PLAIN[c], sub], check=True
                ),
                args.repeat,
            )
            for case in PLAIN
        }
        for backend in backends:
            for case in ("plain", "torchy"):
                cold = _time(lambda b=backend, c=case: _cold(b, spec, c), args.repeat)
                with get_sandbox(backend).open(spec) as s:
                    s.run(case)  # start the worker (torch imported once)
                    warm = _time(lambda s=s, c=case: s.run(c), args.probes)
                table.add_row(
                    backend,
                    case,
                    f"{plain[case]:.3f}",
                    f"{cold:.3f}",
                    f"{cold / plain[case]:.2f}x",
                    f"{warm:.4f}",
                    f"{plain[case] / warm:.1f}x",
                )
    console.print(table)
    console.print(
        "cold = worker start + one probe + clean-up; warm = one more probe in a running "
        "worker (fork from the torch-loaded zygote, own cgroup and limits)."
    )


if __name__ == "__main__":
    main()
