"""The forked probe child: waits for the go, sets limits, runs one probe, writes outputs."""

from __future__ import annotations

import builtins
import contextlib
import faulthandler
import json
import os
import signal
import sys
import traceback
from pathlib import Path
from typing import Any

from .context import ProbeContext
from .netfilter import deny_network
from .outputs import write_done, write_json, write_tensors
from .patches import Snapshot
from .registry import PROBES
from .setup_child import (
    apply_rlimits,
    drop_identity,
    populate_workdir,
    redirect_logs,
    seed_everything,
)
from .tracebacks import summarize

REQUEST_MAX = 16 * 1024 * 1024


def _close_other_fds() -> None:
    """Close every fd above 2 (the control channel must not reach student code)."""
    try:
        fds = [int(n) for n in os.listdir("/proc/self/fd")]
    except OSError:
        fds = list(range(3, 1024))
    for fd in fds:
        if fd > 2:
            with contextlib.suppress(OSError):
                os.close(fd)


def _read_request(path: Path) -> dict[str, Any]:
    """Read the parent's request JSON (size-capped)."""
    with open(path, "rb") as fh:
        return json.loads(fh.read(REQUEST_MAX))


def _load_inputs(path: Path) -> dict[str, Any]:
    """Load the input tensors the parent sent, if any."""
    if not path.exists():
        return {}
    from safetensors.torch import load_file

    return dict(load_file(str(path)))


def _write_outputs(ctx: ProbeContext, out: Path, error: dict[str, Any] | None) -> None:
    """Write data, tensors, exports, error and the harness's own facts (``meta.json``).

    An unserialisable output becomes the error.
    """
    write_json(out / "meta.json", {"patched": ctx.patched})
    try:
        write_json(out / "result.json", ctx.data)
        if ctx.tensors:
            write_tensors(out / "tensors.safetensors", ctx.tensors)
        write_json(out / "files.json", ctx.exports)
    except BaseException as exc:
        error = error or summarize(exc, [])
        error["message"] = f"could not write the probe's outputs: {error['message']}"
    if error is not None:
        write_json(out / "error.json", error)


def _before(budget: float) -> float:
    """When to dump the stack for a budget of ``budget`` seconds: shortly before it ends."""
    return max(0.05, budget - min(1.0, budget / 4))


def _arm_stack_dump(out: Path, limits: dict[str, Any]) -> None:
    """Have the stack of every thread written to ``out/stack.txt`` before the probe is stopped.

    Whatever stops it, the dump comes first: a wall-clock timer fires shortly before the wall
    budget, a CPU-time timer (ITIMER_PROF, SIGPROF) shortly before the CPU budget (the parent
    then kills the tree), and SIGXCPU (the CPU rlimit) dumps before it kills. The dumps are
    written by faulthandler's C handlers, so a probe stuck inside C code is seen too. The parent
    reads the file on a timeout only.
    """
    fd = os.open(out / "stack.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with contextlib.suppress(ValueError, RuntimeError, OSError, AttributeError):
        faulthandler.register(signal.SIGXCPU, file=fd, all_threads=True, chain=True)
        faulthandler.register(signal.SIGPROF, file=fd, all_threads=True, chain=False)
        cpu = float(limits.get("cpu_s", 0) or 0)
        if cpu > 0:
            signal.setitimer(signal.ITIMER_PROF, _before(cpu))
    wall = float(limits.get("wall_s", 0) or 0)
    if wall > 0:
        faulthandler.dump_traceback_later(_before(wall), file=fd)


def _disarm_stack_dump() -> None:
    """The probe function returned: no dump while its outputs are written."""
    faulthandler.cancel_dump_traceback_later()
    with contextlib.suppress(ValueError, OSError, AttributeError):
        signal.setitimer(signal.ITIMER_PROF, 0)


def _restore(saved: dict[str, Any]) -> None:
    """Put the builtins back as they were before the probe ran."""
    builtins.__dict__.clear()
    builtins.__dict__.update(saved)


def run_child(cfg: dict[str, Any], pdir: Path, go_fd: int, watch: Snapshot | None = None) -> None:
    """Body of the forked child; always ends in ``os._exit``.

    ``watch``: the zygote's snapshot of torch/builtins, taken before any student code ran.
    """
    me = os.getpid()
    code = 0
    try:
        os.setsid()
        go = os.read(go_fd, 1)
        os.close(go_fd)
        if go != b"g":
            os._exit(70)
        drop_identity(cfg.get("child_uid"), cfg.get("child_gid"))
        out, work = pdir / "out", pdir / "work"
        redirect_logs(out)
        _close_other_fds()
        req = _read_request(pdir / "in" / "request.json")
        _arm_stack_dump(out, req["limits"])
        apply_rlimits(req["limits"], bool(req.get("cgroup")))
        if cfg.get("deny_network"):
            deny_network()
        seed_everything(int(req["seed"]), int(cfg["threads"]))
        extra = {k: Path(v) for k, v in cfg.get("extra", {}).items()}
        view = req.get("view") or {}  # this probe's kit/submission: extra mounts of the session
        kit = extra[view["kit"]] if "kit" in view else Path(cfg["kit"])
        sub = extra[view["submission"]] if "submission" in view else Path(cfg["submission"])
        populate_workdir(work, kit)
        os.chdir(work)
        roots = [str(sub), str(kit), *map(str, extra.values())]
        error: dict[str, Any] | None = None
        saved_builtins = dict(builtins.__dict__)
        ctx = ProbeContext(
            params={},
            inputs={},
            workdir=work,
            seed=int(req["seed"]),
            kit=kit,
            submission=sub,
            extra=extra,
            watch=watch,
        )
        try:
            ctx.params = req.get("params") or {}
            ctx.inputs = _load_inputs(pdir / "in" / "inputs.safetensors")
            fn = PROBES.get(req["probe"])
            if fn is None:
                raise LookupError(f"unknown probe {req['probe']!r}")
            fn(ctx)
            _disarm_stack_dump()
        except BaseException as exc:
            _disarm_stack_dump()
            ctx.note_patches(builtins.__dict__.copy())
            _restore(saved_builtins)
            error = summarize(exc, roots)
        ctx.note_patches(builtins.__dict__.copy())
        _restore(saved_builtins)  # student code may have patched len, print, ...
        if os.getpid() != me:  # a process the student forked came back through the probe
            os._exit(0)
        _write_outputs(ctx, out, error)
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        write_done(out / "done")
    except BaseException:
        with contextlib.suppress(BaseException):
            traceback.print_exc()
            sys.stderr.flush()
        code = 71
    os._exit(code)
