"""Hostile submissions: each ends with the right status and changes nothing outside its scratch."""

from __future__ import annotations

import hashlib
import os
import socket
from pathlib import Path

import pytest
import torch

from grader.sandbox import Limits, ProbeStatus, Session

from .conftest import World

REPO = Path(__file__).resolve().parents[2]
QUICK = Limits(wall_s=8, cpu_s=8, memory_mb=512, pids=32, fsize_mb=8)


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
    assert not torch.allclose(torch.zeros(1), torch.ones(1)) and len([1, 2]) == 2
    nxt = sess.run("echo", {"n": 2})
    assert nxt.status is ProbeStatus.OK and nxt.data["double"] == 4


def test_gc_and_stack_walk_find_nothing_of_the_parent(sess: Session) -> None:
    secret = "PARENT-SECRET:" + "expected-logits-0.1234"
    out = sess.run("call", {"func": "snoop"}, limits=QUICK)
    assert out.status is ProbeStatus.OK and out.data["result"] == []
    assert secret  # held by the parent the whole time


def test_reads_of_hidden_material_fail(sess: Session, world: World, isolating: bool) -> None:
    if not isolating:
        pytest.skip("process backend does not isolate the file system")
    paths = [
        "../reference/answer.txt",
        "/submission/../reference/answer.txt",
        str(world.reference / "answer.txt"),
        str(world.bob_secret),
        "/proc/1/environ",
        str(REPO / "grader" / "sandbox" / "session.py"),
        str(REPO / "pyproject.toml"),
        "/submission/shadow_link",
        "/submission/bob_link",
        "/etc/shadow",
    ]
    out = sess.run("call", {"func": "read_paths", "kwargs": {"paths": paths}}, limits=QUICK)
    assert out.status is ProbeStatus.OK
    assert set(out.data["result"].values()) <= {"absent", "denied"}, out.data
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


def test_killing_the_worker_is_refused_or_survived(sess: Session, isolating: bool) -> None:
    starts = sess.stats["worker_starts"]
    out = sess.run("call", {"func": "kill_parent"}, limits=QUICK)
    if isolating:  # refused (bwrap: the worker is another uid) or ignored (docker: pid 1)
        assert out.status is ProbeStatus.OK and out.data["result"] in ("PermissionError", "killed")
    assert sess.run("echo").status is ProbeStatus.OK
    if isolating:
        assert sess.stats["worker_starts"] == starts


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
    out = sess.run("call", {"func": "fork_bomb"}, limits=QUICK.model_copy(update={"wall_s": 1.5}))
    assert out.status in (ProbeStatus.TIMEOUT, ProbeStatus.CRASH)
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
