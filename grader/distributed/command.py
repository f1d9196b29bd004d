"""``grade`` options for clusters, and opening the engine from them (Dask imported only then)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from rich.console import Console

if TYPE_CHECKING:
    from grader.batch import RunPlan
    from grader.distributed.client import ClusterEngine

INSTALL_HINT = "pip install 'nlpgrade[cluster]'  (dask[distributed])"


def add_cluster_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--scheduler``, ``--cluster`` and ``--resources`` to ``grade``."""
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--scheduler",
        metavar="tcp://HOST:8786",
        help="grade on a running Dask cluster (workers need nlpgrade installed)",
    )
    where.add_argument(
        "--cluster",
        metavar="local:N",
        help="start a local Dask cluster of N worker processes (one thread each) and grade on it",
    )
    parser.add_argument(
        "--resources",
        action="append",
        default=[],
        metavar="NAME=AMOUNT",
        help="worker resources every task needs on a cluster, e.g. GPU=1 (added to what the "
        "rubric's tiers declare)",
    )


def wants_cluster(args: argparse.Namespace) -> bool:
    """Whether ``grade`` was asked to use Dask."""
    return bool(getattr(args, "scheduler", None) or getattr(args, "cluster", None))


def open_engine(args: argparse.Namespace, plan: RunPlan, console: Console) -> ClusterEngine:
    """Connect, check the cluster can take this run, print the dashboard; exit 2 when it cannot."""
    try:
        from grader.distributed.client import ClusterEngine
        from grader.distributed.cluster import ClusterProblem, check_cluster, connect
        from grader.distributed.resources import run_resources
    except ImportError as exc:
        console.print(f"[red]Grading on a cluster needs Dask:[/] {exc}. Install it: {INSTALL_HINT}")
        raise SystemExit(2) from exc
    try:
        resources = run_resources(plan.assignment, plan.rubric, args.resources, plan.tiers)
    except ValueError as exc:
        console.print(f"[red]--resources:[/] {exc}")
        raise SystemExit(2) from exc
    where = args.scheduler or args.cluster
    with console.status(f"Connecting to the Dask cluster ({where})..."):
        try:
            conn = connect(args.scheduler, args.cluster)
        except ClusterProblem as exc:
            console.print(f"[red]Cluster:[/] {exc}")
            raise SystemExit(2) from exc
        try:
            check_cluster(conn, args.sandbox, resources, plan.assignment.name)
        except ClusterProblem as exc:
            conn.close()
            console.print(f"[red]The cluster cannot grade this run:[/] {exc}")
            raise SystemExit(2) from exc
    engine = ClusterEngine(conn, sandbox=args.sandbox, resources=resources)
    needs = ", ".join(f"{k}={v:g}" for k, v in resources.items()) or "none"
    console.print(
        f"Dask cluster: {len(conn.workers())} worker(s), {engine.slots} slot(s), "
        f"resources per task: {needs}"
    )
    if args.scheduler and conn.dashboard:
        console.print(f"Dask dashboard: {conn.dashboard}")
    return engine
