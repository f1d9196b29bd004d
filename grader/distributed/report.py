"""Per-worker throughput of a cluster run: how many submissions each worker graded, how fast."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from rich.table import Table


@dataclass
class WorkerTally:
    """One worker's share of the class."""

    graded: int = 0
    busy_s: float = 0.0


@dataclass
class Throughput:
    """Tallies per worker address, and the wall time since the first task was submitted."""

    started: float = field(default_factory=time.perf_counter)
    workers: dict[str, WorkerTally] = field(default_factory=dict)

    def add(self, worker: str, seconds: float) -> None:
        """Count one submission that ``worker`` graded in ``seconds``."""
        tally = self.workers.setdefault(worker, WorkerTally())
        tally.graded += 1
        tally.busy_s += seconds

    def table(self) -> Table:
        """The summary table: submissions, busy seconds and submissions per minute per worker."""
        wall = max(time.perf_counter() - self.started, 1e-9)
        table = Table(title=f"Cluster throughput ({wall:.1f} s wall)")
        for name, justify in (("worker", "left"), ("graded", "right"), ("busy s", "right"),
                              ("s / submission", "right"), ("per minute", "right")):
            table.add_column(name, justify=justify)  # type: ignore[arg-type]
        total = WorkerTally()
        for address in sorted(self.workers):
            tally = self.workers[address]
            total.graded += tally.graded
            total.busy_s += tally.busy_s
            table.add_row(address, *self._figures(tally, wall))
        table.add_row("all", *self._figures(total, wall), style="bold")
        return table

    @staticmethod
    def _figures(tally: WorkerTally, wall: float) -> tuple[str, str, str, str]:
        each = tally.busy_s / tally.graded if tally.graded else 0.0
        return (str(tally.graded), f"{tally.busy_s:.1f}", f"{each:.2f}",
                f"{60 * tally.graded / wall:.1f}")
