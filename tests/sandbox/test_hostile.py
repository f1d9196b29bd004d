"""Hostile submissions: each ends with the right status and changes nothing outside its scratch."""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch

from grader.sandbox import Limits, ProbeStatus, Session, get_sandbox

from .conftest import World, _chmod_tree

REPO = Path(__file__).resolve().parents[2]
QUICK = Limits(wall_s=8, cpu_s=8, memory_mb=512, pids=32, fsize_mb=8)
LONG = {"wall_s": 90, "cpu_s": 90}


def _tree_digest(root: Path) -> str:
    """Hash of every path, link target and file content under ``root``."""
    h = hashlib.sha256()
    for dirpath, dirnames, files in sorted(os.walk(root)):
        dirnames.sort()
        for name in sorted(files + dirnames):
            p = Path(dirpath) / name
            h.update(str(p).encode())
            if p.is_symlink():
                h.update(os.readlink(p).encode())
            elif p.is_file():
                h.update(p.read_bytes())
    return h.hexdigest()


def test_fake_result_files_change_nothing_outside(
    sess: Session, world: World, isolating: bool
) -> None:
    targets = [
        world.results / "results.json",
        str(world.alice / "results.json"),
        str(world.kit / "results.json"),
        str(REPO / "results.json"),
        "/submission/results.json",
        "/kit/results.json",
        "/results.json",
        "/scratch/results.json",
        "/opt/nlpgrade/results.json",
        "../out/result.json",
        "/tmp/results.json",
        "results.json",
    ]
    if not isolating:
        pytest.skip("process backend does not isolate the file system")
    before = {p: _tree_digest(p) for p in (world.root, REPO / "grader")}
    params = {"func": "write_everywhere", "kwargs": {"paths": [str(t) for t in targets]}}
    out = sess.run("call", params, limits=QUICK)
    assert out.status is ProbeStatus.OK
    assert set(out.data["result"]) <= {"/tmp/results.json", "results.json", "../out/result.json"}
    assert {p: _tree_digest(p) for p in before} == before
    assert not (REPO / "results.json").exists()


def test_fake_json_and_passed_lines_are_only_evidence(sess: Session) -> None:
    out = sess.run("call", {"func": "fake_output"}, limits=QUICK)
    assert out.status is ProbeStatus.CRASH and out.data == {}
    assert out.error is not None and out.error.type == "RuntimeError"
    assert "PASSED" in out.stdout_tail and "PASSED" in out.stderr_tail
    assert sess.run("echo").status is ProbeStatus.OK  # the protocol was not confused


@pytest.mark.parametrize("kind", ["os", "sys"])
def test_exit_mid_probe(sess: Session, kind: str) -> None:
    out = sess.run("call", {"func": "exit_now", "kwargs": {"kind": kind}}, limits=QUICK)
    assert out.status is ProbeStatus.CRASH and out.data == {}
    if kind == "os":
        assert out.message == "exited with code 0 before returning a result (os._exit?)"
    else:
        assert out.message == "called sys.exit(0) before returning a result"


def test_monkeypatching_stays_in_the_probe(sess: Session) -> None:
    out = sess.run("call", {"func": "monkeypatch"}, limits=QUICK)
    assert out.status is ProbeStatus.OK, out.message
    t = out.tensors["t"]
    assert type(t) is torch.Tensor and not torch.equal(t, torch.ones(3))
    # The next probe of the same worker (a fresh fork of the zygote) sees the real functions.
    nxt = sess.run("call", {"func": "patched_state"}, limits=QUICK)
    assert nxt.status is ProbeStatus.OK, nxt.message
    assert nxt.data["result"] == {"len": 2, "allclose": False, "softmax": [0.5, 0.5]}
    assert sess.run("echo", {"n": 2}).data["double"] == 4


def test_another_sessions_secret_is_out_of_reach(
    world: World, backend: str, sess: Session, tmp_path: Path
) -> None:
    """A victim session holds a secret (request, memory, a file in its cwd) while the attacker
    hunts for it in gc, /proc (environ, cmdline, other processes' cwd), /dev/shm, /tmp, /scratch.

    The process backend does not isolate: there the hunt must FIND it, which proves the hunt works.
    """
    prefix = "PARENT-" + "SECRET:"
    secret = prefix + secrets.token_hex(16)
    bob = tmp_path / "bob"
    shutil.copytree(world.alice, bob, symlinks=True)
    _chmod_tree(tmp_path)
    assert sess.run("echo").status is ProbeStatus.OK  # the attacker's worker is up
    with get_sandbox(backend).open(world.spec(submission_dir=bob, preload_torch=False)) as victim:
        assert victim.run("call", {"func": "alive", "kwargs": {"pid": 1}}).ok  # no torch import
        pool = ThreadPoolExecutor(1)
        hold = {"func": "hold_secret", "kwargs": {"secret": secret}}
        held = pool.submit(lambda: victim.run("call", hold, limits=QUICK.model_copy(update=LONG)))
        scratch = victim._state["dirs"].scratch
        while not list(scratch.glob("p*/work/held.txt")) and not held.done():
            time.sleep(0.05)
        hunt = {"func": "hunt", "kwargs": {"prefix": prefix}}
        out = sess.run("call", hunt, limits=QUICK.model_copy(update=LONG))
        for work in scratch.glob("p*/work"):
            (work / "release").touch()
        assert held.result(timeout=60).data["result"] == "released"
        pool.shutdown()
    assert out.status is ProbeStatus.OK, out.message
    if backend == "process":
        assert any("held.txt" in f or "/in/" in f for f in out.data["result"]), out.data
    else:
        assert out.data["result"] == [], out.data


def test_reads_of_hidden_material_fail(
    sess: Session, world: World, backend: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Secrets planted where an attacker looks: the reference, another student's staged files,
    the output folder, the cache. The process backend does not isolate: there they must be read
    (which proves the paths are right and the test can fail)."""
    cache = tmp_path_factory.mktemp("cache")
    planted = {
        world.reference / "answer.txt": "REFERENCE-SECRET",
        world.bob_secret: "BOB-SECRET",
        world.results / "carol.json": "RESULTS-SECRET",
        cache / "calibration.json": "CACHE-SECRET",
    }
    for path, text in planted.items():
        path.write_text(text)
        path.chmod(0o644)
    cache.chmod(0o755)
    paths = [
        "../reference/answer.txt",
        "/submission/../reference/answer.txt",
        *(str(p) for p in planted),
        "/proc/1/environ",
        str(REPO / "grader" / "sandbox" / "session.py"),
        str(REPO / "reference" / "bert_pretrain" / "model.py"),
        str(REPO / "pyproject.toml"),
        "/submission/shadow_link",
        "/submission/bob_link",
        "/etc/shadow",
    ]
    out = sess.run("call", {"func": "read_paths", "kwargs": {"paths": paths}}, limits=QUICK)
    assert out.status is ProbeStatus.OK
    got = out.data["result"]
    if backend == "process":
        assert all(got[str(p)] == text for p, text in planted.items()), got
        return
    assert set(got.values()) <= {"absent", "denied"}, got
    mem = sess.run("call", {"func": "read_ppid_mem"}, limits=QUICK)
    assert mem.data["result"] != "read"


def test_identity_inside_the_sandbox(sess: Session, backend: str) -> None:
    expected_uid = {"bwrap": 65534, "docker": 10001}.get(backend)
    if expected_uid is None or os.geteuid() != 0:
        pytest.skip("checks the identity of root-mode bwrap and docker")
    out = sess.run("call", {"func": "identity"}, limits=QUICK)
    info = out.data["result"]
    assert info["uid"] == expected_uid and info["CapEff"] == "0000000000000000"
    assert info["NoNewPrivs"] == "1" and info["hostname"] == "nlpgrade"
    assert {"kit", "submission", "scratch", "proc", "tmp"} <= set(info["root"])
    assert set(info["env"]) <= {
        "PATH",
        "HOME",
        "USER",
        "LOGNAME",
        "LANG",
        "PYTHONHASHSEED",
        "PYTHONDONTWRITEBYTECODE",
        "OMP_NUM_THREADS",
        "MKL_NUM_THREADS",
        "MPLCONFIGDIR",
        "TMPDIR",
        "PWD",
        "HOSTNAME",
    }


def test_killing_the_worker(sess: Session, backend: str) -> None:
    """bwrap (root): the probe runs as another uid, so kill() is refused; docker: the worker is pid
    1 of its namespace, so SIGKILL from inside is ignored; process: it dies and is restarted."""
    if backend == "bwrap" and os.geteuid() != 0:
        pytest.skip("rootless bwrap: the probe shares the worker's uid (see test_backends)")
    starts = sess.stats["worker_starts"]
    out = sess.run("call", {"func": "kill_parent"}, limits=QUICK)
    if backend == "process":
        assert out.status is ProbeStatus.CRASH and "worker died" in out.message
    else:
        expected = {"bwrap": "PermissionError", "docker": "killed"}[backend]
        assert out.status is ProbeStatus.OK and out.data["result"] == expected
    assert sess.run("echo").status is ProbeStatus.OK
    assert sess.stats["worker_starts"] == starts + (backend == "process")


def test_socket_to_local_server_is_refused(sess: Session) -> None:
    """bwrap/docker: own network namespace; process: the seccomp socket filter."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    out = sess.run("call", {"func": "connect", "kwargs": {"port": port}}, limits=QUICK)
    srv.setblocking(False)
    with pytest.raises(BlockingIOError):  # nobody connected
        srv.accept()
    srv.close()
    assert out.status is ProbeStatus.OK and out.data["result"] != "connected"


@pytest.mark.slow
def test_fork_bomb_is_contained(sess: Session) -> None:
    bomb = QUICK.model_copy(update={"cpu_s": 1.5, "wall_s": 6.0})
    out = sess.run("call", {"func": "fork_bomb"}, limits=bomb)
    # Stopped: by its CPU budget, a crash, or (on a loaded host) the wall net while starved.
    stopped = (ProbeStatus.TIMEOUT, ProbeStatus.CRASH, ProbeStatus.HOST_OVERLOAD)
    assert out.status in stopped, out.message
    assert sess.run("echo").status is ProbeStatus.OK


def test_daemon_is_killed_after_the_probe(sess: Session) -> None:
    out = sess.run("call", {"func": "daemon"}, limits=QUICK)
    assert out.status is ProbeStatus.OK
    pid = out.data["result"]
    check = sess.run("call", {"func": "alive", "kwargs": {"pid": pid}}, limits=QUICK)
    assert check.status is ProbeStatus.OK and check.data["result"] is False


def test_huge_file_leaves_nothing_big(sess: Session) -> None:
    out = sess.run("call", {"func": "big_file", "kwargs": {"gb": 10}}, limits=QUICK)
    assert out.status is ProbeStatus.CRASH
    scratch = sess._state["dirs"].root
    total = sum(f.stat().st_size for f in scratch.rglob("*") if f.is_file() and not f.is_symlink())
    assert total < 1024 * 1024


def test_exported_symlink_is_refused(sess: Session, world: World) -> None:
    out = sess.run("export_link", {"target": str(world.bob_secret)}, limits=QUICK)
    assert out.status is ProbeStatus.CRASH and out.files == {}
    assert "not a plain file" in out.message or "cannot open" in out.message


@pytest.mark.parametrize("name", ["/etc/evil", "../work/etc/evil", "etc/../etc/evil", ""])
def test_exported_names_cannot_escape(sess: Session, world: World, name: str) -> None:
    target = world.results / "evil"
    out = sess.run(
        "export_raw",
        {"name": name.replace("/etc/evil", str(target)) if name.startswith("/") else name},
        limits=QUICK,
    )
    assert out.status is ProbeStatus.CRASH and "bad exported file name" in out.message
    assert not target.exists() and out.files == {}
