"""Connect to a cluster (``--scheduler tcp://HOST:8786``) or start one (``--cluster local:N``).

A local cluster has N worker processes with one thread each; it listens on 127.0.0.1 only (the
scheduler's HTTP endpoints on a free loopback port). Before a class starts, every worker is asked
whether it can grade (same versions and grader code, a sandbox that isolates) and the run's
resources are checked against the workers', so a cluster that cannot take the tasks says so up
front instead of leaving them queued for ever.

A local cluster also runs Dask's housekeeping less often (``QUIET``): by default its processes
take about a tenth of a core while idle (the workers' statistical profiler wakes every 10 ms and
takes the GIL from the grading thread; event-loop ticks every 20 ms, memory checks every 100 ms),
which local threads do not pay.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

import dask
import torch
from distributed import Client, LocalCluster

import grader
from grader.distributed.plugin import PLUGIN_NAME, GraderWorkerPlugin
from grader.distributed.resources import missing_resources
from grader.distributed.task import preflight
from grader.fingerprint import grader_code_hash

LOCAL_RE = re.compile(r"^local:(\d{1,4})$")

# Dask housekeeping a grading cluster does not need that often (idle cost 0.107 -> 0.015 of a
# core for local:2 here); only the dashboard's profile and system pages see the difference.
QUIET = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "5s",
    "distributed.worker.memory.monitor-interval": "1s",
}


class ClusterProblem(RuntimeError):
    """The cluster cannot grade this run (the message says why and what to do)."""


def parse_local(text: str) -> int:
    """``local:N`` -> N (1 or more)."""
    m = LOCAL_RE.match(text.strip())
    if not m or int(m.group(1)) < 1:
        raise ClusterProblem(f"--cluster takes local:N with N >= 1 worker processes, not {text!r}")
    return int(m.group(1))


@dataclass
class Connection:
    """A Dask client and, for ``local:N``, the cluster it started (closed with it)."""

    client: Client
    local: LocalCluster | None = None

    @property
    def dashboard(self) -> str:
        """The scheduler's dashboard link ("" when it has none)."""
        try:
            return str(self.client.dashboard_link or "")
        except (KeyError, AttributeError):
            return ""

    def workers(self) -> dict[str, dict[str, Any]]:
        """Every worker the scheduler knows, by address (nthreads, resources, ...)."""
        try:
            info = self.client.scheduler_info(n_workers=-1)
        except TypeError:  # distributed < 2025: every worker is listed anyway
            info = self.client.scheduler_info()
        return dict(info["workers"])

    def close(self) -> None:
        """Disconnect; stop the local cluster if this started it."""
        self.client.close()
        if self.local is not None:
            self.local.close()


def connect(scheduler: str | None, cluster: str | None, *, wait_s: float = 60.0) -> Connection:
    """A client on the scheduler at ``scheduler``, or on a new ``local:N`` cluster."""
    if cluster:
        n = parse_local(cluster)
        with dask.config.set(QUIET):  # the scheduler, nannies and (through them) the workers
            local = LocalCluster(
                n_workers=n,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address="127.0.0.1:0",  # the HTTP endpoints, on loopback, any port
                silence_logs=logging.ERROR,
            )
        conn = Connection(Client(local), local)
    else:
        try:
            conn = Connection(Client(scheduler, timeout=wait_s))
        except OSError as exc:
            raise ClusterProblem(
                f"no Dask scheduler answered at {scheduler} ({exc}); start one with "
                "`dask scheduler` and workers with `dask worker {scheduler}`"
            ) from exc
    try:
        conn.client.wait_for_workers(1, timeout=wait_s)
    except TimeoutError as exc:
        conn.close()
        raise ClusterProblem(
            f"the scheduler at {scheduler} has no workers after {wait_s:.0f} s; start some with "
            f"`dask worker {scheduler} --nthreads 1` on machines with nlpgrade installed"
        ) from exc
    conn.client.register_plugin(GraderWorkerPlugin(), name=PLUGIN_NAME)
    return conn


def check_cluster(
    conn: Connection, sandbox: str, resources: dict[str, float], assignment: str = ""
) -> None:
    """Fail up front when no worker has the resources or any worker cannot grade safely (or,
    given ``assignment``, lacks its plug-in)."""
    missing = missing_resources(conn.workers(), resources)
    if missing:
        raise ClusterProblem(missing)
    answers = conn.client.run(
        preflight, sandbox, grader.__version__, torch.__version__, grader_code_hash(), assignment
    )
    problems = [problem for problem in answers.values() if problem]
    if problems:
        raise ClusterProblem("; ".join(sorted(problems)))
