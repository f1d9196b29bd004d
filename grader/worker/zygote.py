"""The sandboxed worker main loop: import torch once, then fork one child per probe.

Protocol (JSON lines): the parent sends a config line, the worker answers ``ready``; then for
each probe: ``{"cmd": "run", "dir": ...}`` -> ``{"event": "forked", "pid": n}``;
``{"cmd": "go"}`` (after the parent moved the child into its cgroup) -> ``{"event": "exit", ...}``.
The worker never judges a probe; it only reports how the child ended.
"""

from __future__ import annotations

import importlib.util
import json
import os
import selectors
import sys
import tempfile
import traceback
from pathlib import Path
from typing import IO, Any

from . import procs
from .child import run_child
from .patches import Snapshot
from .registry import PROBES
from .setup_child import deterministic
from .tracebacks import summarize


class Channel:
    """JSON lines over the two control fds, moved away from fds 0/1."""

    def __init__(self) -> None:
        self._in: IO[bytes] = os.fdopen(os.dup(0), "rb", buffering=0)
        self._out_fd = os.dup(1)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        os.dup2(2, 1)  # stray prints in the worker go to its log, not to the protocol
        self._buf = b""

    def fds(self) -> list[int]:
        """The control fds (closed in every child)."""
        return [self._in.fileno(), self._out_fd]

    def recv(self) -> dict[str, Any] | None:
        """Next message, or None on EOF."""
        while b"\n" not in self._buf:
            chunk = self._in.read(65536)
            if not chunk:
                return None
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return json.loads(line)

    def send(self, msg: dict[str, Any]) -> None:
        """Write one message."""
        data = json.dumps(msg).encode() + b"\n"
        while data:
            data = data[os.write(self._out_fd, data) :]


def _load_probes(path: str) -> None:
    """Import the assignment's probe module (registers its probes)."""
    spec = importlib.util.spec_from_file_location("nlpgrade_probes", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load probe module {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["nlpgrade_probes"] = module
    spec.loader.exec_module(module)


def _preload(names: Any) -> dict[str, str]:
    """Import the assignment's preloaded modules once, before any fork; name -> error text."""
    failed: dict[str, str] = {}
    for name in names:
        try:
            importlib.import_module(str(name))
        except Exception as exc:  # student code that needs it then fails with the real error
            failed[str(name)] = f"{type(exc).__name__}: {exc}"[:500]
    return failed


def _start(cfg: dict[str, Any]) -> tuple[dict[str, Any], Snapshot]:
    """Import torch (once) and the probes; return the ready message and the torch snapshot."""
    procs.prctl(procs.PR_SET_DUMPABLE, 0)
    procs.prctl(procs.PR_SET_CHILD_SUBREAPER, 1)
    torch_version = None
    if cfg.get("preload_torch", True):
        import safetensors.torch  # noqa: F401
        import torch

        torch.set_num_threads(int(cfg["threads"]))
        deterministic(torch)
        tempfile.gettempdir()
        torch_version = torch.__version__
    failed = _preload(cfg.get("preload", ()))
    _load_probes(cfg["probe_module"])
    watch = Snapshot(harness_files=(str(cfg["probe_module"]),))
    return {
        "event": "ready",
        "pid": os.getpid(),
        "probes": sorted(PROBES),
        "python": sys.version.split()[0],
        "torch": torch_version,
        "preload_failed": failed,
        "uid": os.getuid(),
    }, watch


def _run_one(ch: Channel, cfg: dict[str, Any], pdir: str, watch: Snapshot) -> bool:
    """Fork, hand over to the parent for the go, wait, sweep leftovers; False on EOF."""
    procs.reap()  # zombies of processes the parent killed through the cgroup
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(w)
        for fd in ch.fds():
            os.close(fd)
        run_child(cfg, Path(pdir), r, watch)
    os.close(r)
    ch.send({"event": "forked", "pid": pid})
    msg = ch.recv()
    os.write(w, b"g" if msg and msg.get("cmd") == "go" else b"x")
    os.close(w)
    status, ru, alive = _wait_child(ch, pid)
    alive = alive and msg is not None
    leftover = procs.kill_descendants()
    ch.send(
        {
            "event": "exit",
            "status": status,
            "cpu_s": ru.ru_utime + ru.ru_stime,
            "maxrss_kb": ru.ru_maxrss,
            "leftover": leftover,
        }
    )
    return msg is not None and alive


def _wait_child(ch: Channel, pid: int) -> tuple[int, Any, bool]:
    """Wait for the child; a ``kill`` command (or EOF) SIGKILLs it and every descendant.

    Returns (wait status, rusage, whether the parent is still there).
    """
    try:
        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError):  # old kernel: the parent kills via cgroup or worker
        _, status, ru = os.wait4(pid, 0)
        return status, ru, True
    alive = True
    sel = selectors.DefaultSelector()
    sel.register(pidfd, selectors.EVENT_READ)
    sel.register(ch.fds()[0], selectors.EVENT_READ)
    try:
        while True:
            for key, _ in sel.select():
                if key.fd == pidfd:
                    _, status, ru = os.wait4(pid, 0)
                    return status, ru, alive
                msg = ch.recv() if alive else None
                if msg is None or msg.get("cmd") == "kill":
                    alive = alive and msg is not None
                    procs.signal_descendants()
                    if not alive:
                        sel.unregister(ch.fds()[0])
    finally:
        sel.close()
        os.close(pidfd)


def main() -> None:
    """Entry point of the worker process."""
    ch = Channel()
    cfg = ch.recv()
    if cfg is None:
        return
    try:
        ready, watch = _start(cfg)
        ch.send(ready)
    except BaseException as exc:
        traceback.print_exc()
        ch.send({"event": "fatal", "error": summarize(exc, [])})
        os._exit(1)
    while True:
        msg = ch.recv()
        if msg is None or msg.get("cmd") == "quit":
            break
        if msg.get("cmd") == "run" and not _run_one(ch, cfg, msg["dir"], watch):
            break
    procs.kill_descendants()
    os._exit(0)
