"""``Session``: one sandboxed worker per submission, one forked, limited child per probe."""

from __future__ import annotations

import contextlib
import json
import logging
import time
import weakref
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save as save_safetensors

from .cgroups import ProbeCgroup, SessionCgroups, create_session_cgroups
from .channel import Channel, ChannelTimeout, WorkerGone
from .cpuwatch import CpuWatch, find_host_pid
from .models import Limits, ProbeOutcome, ProbeStatus, SandboxSpec
from .outcome import RawEnd, classify, decode_wait
from .outputs import ProbeOutputs, read_logs, read_outputs
from .scratch import SessionDirs
from .stackdump import read_stack
from .worker_api import Backend, SandboxError, Worker

log = logging.getLogger("grader")

KILL_GRACE_S = 5.0
POLL_S = 0.25  # how often a running probe's CPU time is read


def _cleanup(state: dict[str, Any]) -> None:
    """Kill the worker, remove cgroups and dirs (also run by the finalizer)."""
    worker: Worker | None = state.pop("worker", None)
    if worker is not None:
        with contextlib.suppress(Exception):
            worker.channel.send({"cmd": "quit"})
        worker.kill()
    cg: SessionCgroups | None = state.pop("cgroups", None)
    if cg is not None:
        cg.destroy()
    dirs: SessionDirs | None = state.pop("dirs", None)
    if dirs is not None:
        dirs.remove()


class Session:
    """Runs probes of one submission. Use as a context manager; ``close()`` cleans up.

    The worker starts on the first ``run`` and again after a probe that killed it.
    Exported files (``ProbeOutcome.files``) live until ``close()``. ``stats`` counts
    ``worker_starts``, ``probes``, ``worker_kills`` and the seconds spent in worker start
    (``worker_start_s``) and in probes (``probe_s``); ``warnings`` lists the backend's
    warnings plus any found at start (e.g. cgroups not writable).
    """

    def __init__(self, sandbox: Backend, spec: SandboxSpec) -> None:
        self.sandbox = sandbox
        self.spec = spec
        self.warnings: list[str] = list(sandbox.warnings)
        self.stats: dict[str, Any] = {
            "worker_starts": 0,
            "probes": 0,
            "worker_start_s": 0.0,
            "probe_s": 0.0,
            "worker_kills": 0,
        }
        self._state: dict[str, Any] = {}
        self._finalizer = weakref.finalize(self, _cleanup, self._state)
        self._closed = False
        self.ready_info: dict[str, Any] = {}

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Kill everything left, remove cgroups and scratch."""
        self._closed = True
        self._finalizer()

    def _dirs(self) -> SessionDirs:
        if "dirs" not in self._state:
            self._state["dirs"] = SessionDirs(self.sandbox.scratch_owner())
            if self.sandbox.want_cgroups():
                cg, why = create_session_cgroups(float(self.spec.threads))
                if cg is None:
                    self.warnings.append(
                        f"{why}: memory enforced by RLIMIT_AS only, processes by RLIMIT_NPROC, "
                        "CPU time read per process tree from /proc; no CPU share of its own, so "
                        "a busy neighbour slows probes (a starved probe is retried, not failed)"
                    )
                elif not cg.cpu_share:
                    self.warnings.append(
                        "no cpu cgroup controller: probes have no CPU share of their own, so a "
                        "busy neighbour slows them (a starved probe is retried, not failed)"
                    )
                self._state["cgroups"] = cg
        return self._state["dirs"]

    def _worker(self) -> Worker:
        """The running worker, started (torch imported) on first use or after a fatal probe."""
        if self._closed:
            raise SandboxError("session is closed")
        worker: Worker | None = self._state.get("worker")
        if worker is not None:
            return worker
        dirs = self._dirs()
        t0 = time.monotonic()
        view = self.sandbox.view(self.spec, dirs)
        self._state["view"] = view
        worker = self.sandbox.launch(self.spec, dirs, view, self._state.get("cgroups"))
        uid_gid = self.sandbox.child_ids()
        cfg = {
            "kit": view.kit,
            "submission": view.submission,
            "extra": view.extra,
            "probe_module": view.probe_module,
            "threads": self.spec.threads,
            "preload_torch": self.spec.preload_torch,
            "preload": list(self.spec.preload),
            "deny_network": self.sandbox.deny_network,
            "child_uid": uid_gid[0] if uid_gid else None,
            "child_gid": uid_gid[1] if uid_gid else None,
        }
        try:
            worker.channel.send(cfg)
            msg = worker.channel.recv(self.spec.start_timeout_s)
        except (WorkerGone, ChannelTimeout) as exc:
            msg = {"event": "fatal", "error": {"message": type(exc).__name__}}
        if msg.get("event") != "ready":
            worker.kill()
            raise SandboxError(
                f"{self.sandbox.name} worker did not start: "
                f"{msg.get('error', {}).get('message')}\n{self._log_tail()}"
            )
        self._state["worker"] = worker
        self.stats["worker_starts"] += 1
        self.stats["worker_start_s"] += time.monotonic() - t0
        self.ready_info = msg
        for name, error in (msg.get("preload_failed") or {}).items():
            log.warning("worker could not preload %s: %s", name, str(error)[:300])
        return worker

    def _log_tail(self) -> str:
        """Last lines of the worker's own log (start-up errors)."""
        log = self._dirs().root / "worker.log"
        with contextlib.suppress(OSError):
            return log.read_text(errors="replace")[-4000:]
        return ""

    def _kill_worker(self) -> None:
        worker: Worker | None = self._state.pop("worker", None)
        if worker is not None:
            worker.kill()
            self.stats["worker_kills"] += 1

    # -- one probe -------------------------------------------------------------------------
    def _write_request(
        self,
        pdir: Path,
        probe: str,
        params: dict[str, Any],
        inputs: dict[str, torch.Tensor],
        seed: int,
        limits: Limits,
        cgroup: bool,
        view: dict[str, str] | None = None,
    ) -> None:
        req = {
            "probe": probe,
            "params": params,
            "seed": seed,
            "limits": limits.model_dump(),
            "cgroup": cgroup,
            "view": view or {},
        }
        (pdir / "in" / "request.json").write_text(json.dumps(req))
        if inputs:
            plain = {k: v.detach().cpu().contiguous() for k, v in inputs.items()}
            (pdir / "in" / "inputs.safetensors").write_bytes(save_safetensors(plain))

    def _probe_cgroup(self, limits: Limits) -> ProbeCgroup | None:
        cg: SessionCgroups | None = self._state.get("cgroups")
        return cg.new_probe(limits.memory_mb, limits.pids) if cg is not None else None

    def _adopt(self, pcg: ProbeCgroup | None, ns_pid: int) -> None:
        """Move the freshly forked (still waiting) child into its probe cgroup."""
        cg: SessionCgroups | None = self._state.get("cgroups")
        if pcg is None or cg is None:
            return
        for _ in range(200):
            host = cg.host_pid(ns_pid)
            if host is not None:
                pcg.add(host)
                return
            time.sleep(0.005)
        raise SandboxError(f"could not find the probe child (pid {ns_pid} in the sandbox)")

    def run(
        self,
        probe: str,
        params: dict[str, Any] | None = None,
        inputs: dict[str, torch.Tensor] | None = None,
        *,
        seed: int = 0,
        limits: Limits | None = None,
        view: dict[str, str] | None = None,
    ) -> ProbeOutcome:
        """Run one probe in a fresh child of the worker, under ``limits``.

        ``view`` names extra mounts of the spec the probe sees as its ``kit``/``submission``.
        """
        unknown = set(view or {}) - {"kit", "submission"}
        missing = {v for v in (view or {}).values() if v not in self.spec.extra_ro}
        if unknown or missing:
            raise SandboxError(f"bad probe view {view!r}: only kit/submission, over extra mounts")
        lim = limits or self.spec.limits
        worker = self._worker()
        dirs = self._dirs()
        pdir = dirs.new_probe_dir()
        pcg = self._probe_cgroup(lim)
        raw = RawEnd()
        ooms_before = worker.oom_kills() if pcg is None else None
        t0 = time.monotonic()
        try:
            self._write_request(
                pdir, probe, params or {}, inputs or {}, seed, lim, pcg is not None, view
            )
            ch = worker.channel
            ns_pid: int | None = None
            try:
                ch.send({"cmd": "run", "dir": f"{self._state['view'].scratch}/{pdir.name}"})
                forked = ch.recv(30.0)
                ns_pid = int(forked["pid"])
                try:
                    self._adopt(pcg, ns_pid)
                except SandboxError:
                    self._kill_worker()
                    raise
                watch = CpuWatch(pcg, None if pcg is not None else self._host_pid(ns_pid))
                ch.send({"cmd": "go"})
                t0 = time.monotonic()
                msg = self._wait(ch, lim, watch, t0, raw)
                if msg is None:
                    msg = self._stop_timed_out(pcg)
            except ChannelTimeout:  # the worker did not even fork
                raw.worker_died = True
                msg = None
                self._kill_worker()
            except WorkerGone:
                raw.worker_died = True
                msg = None
                self._kill_worker()
            wall = time.monotonic() - t0
            if msg is not None:
                raw.wait_status = int(msg["status"])
                raw.cpu_s = max(float(msg["cpu_s"]), raw.cpu_s or 0.0)
            peak = None
            if pcg is not None:
                tree_cpu = pcg.cpu_s()
                if tree_cpu is not None:
                    raw.cpu_s = max(tree_cpu, raw.cpu_s or 0.0)
                raw.oom_kills = pcg.oom_kills()
                peak = pcg.peak_mb()
                pcg.remove()
                self._state["cgroups"].release(pcg)
            if ooms_before is not None and "worker" in self._state:
                raw.oom_kills = (worker.oom_kills() or 0) - ooms_before
            if peak is None and msg is not None:
                peak = float(msg["maxrss_kb"]) / 1024
            outs = self._collect(pdir, lim, raw)
        finally:
            if pcg is not None:
                pcg.remove()
            dirs.remove_probe_dir(pdir)
        self.stats["probes"] += 1
        self.stats["probe_s"] += wall
        return self._outcome(probe, lim, raw, outs, wall, peak)

    def _host_pid(self, ns_pid: int) -> int | None:
        """Host pid of the probe child when it has no cgroup (to measure its CPU from /proc)."""
        if not self.sandbox.pid_namespace:
            return ns_pid
        proc = getattr(self._state.get("worker"), "proc", None)
        return find_host_pid(proc.pid, ns_pid) if proc is not None else None

    def _wait(
        self, ch: Channel, lim: Limits, watch: CpuWatch, t0: float, raw: RawEnd
    ) -> dict[str, Any] | None:
        """The probe's exit message; None when it must be stopped (``raw`` says why).

        The budget is the tree's CPU time, checked every ``POLL_S``; the wall-clock net
        catches a probe that sleeps, blocks, or never gets the CPU on an overloaded host.
        """
        deadline = t0 + lim.wall_s
        while True:
            left = deadline - time.monotonic()
            try:
                return ch.recv(max(0.0, min(POLL_S, left)))
            except ChannelTimeout:
                pass
            used = watch.cpu_s()
            if used is not None and used >= lim.cpu_s:
                raw.timed_out, raw.cpu_over, raw.cpu_s = True, True, used
                return None
            if time.monotonic() >= deadline:
                raw.timed_out, raw.cpu_s = True, used
                raw.starved = watch.starved(time.monotonic() - t0)
                return None

    def _stop_timed_out(self, pcg: ProbeCgroup | None) -> dict[str, Any] | None:
        """Kill a probe past its deadline; keep the worker if it reports back, else kill it."""
        worker: Worker | None = self._state.get("worker")
        if worker is not None:
            with contextlib.suppress(ChannelTimeout, WorkerGone):
                if pcg is not None:
                    pcg.kill_all()
                else:
                    worker.channel.send({"cmd": "kill"})
                return worker.channel.recv(KILL_GRACE_S)
        self._kill_worker()
        return None

    def _collect(self, pdir: Path, lim: Limits, raw: RawEnd) -> ProbeOutputs:
        """Read the outputs (only logs when the probe was stopped)."""
        dest = self._dirs().files / f"{pdir.name}"
        if raw.timed_out or raw.worker_died:
            outs = ProbeOutputs()
            read_logs(pdir, lim, outs)
        else:
            outs = read_outputs(pdir, lim, dest)
            raw.done, raw.error, raw.rejected = outs.done, outs.error, outs.rejected
        view = self._state.get("view")
        if view is not None and not outs.done:  # where a stopped probe was (timeouts only)
            outs.stack = read_stack(pdir / "out", view.submission)
        return outs

    def _outcome(
        self,
        probe: str,
        lim: Limits,
        raw: RawEnd,
        outs: ProbeOutputs,
        wall: float,
        peak: float | None,
    ) -> ProbeOutcome:
        status, message = classify(raw, lim)
        code, sig = decode_wait(raw.wait_status)
        stuck = outs.stack if status is ProbeStatus.TIMEOUT else []
        return ProbeOutcome(
            probe=probe,
            status=status,
            data=outs.data,
            tensors=outs.tensors,
            error=outs.error,
            message=message,
            exit_code=code,
            signal=sig,
            stdout_tail=outs.stdout_tail,
            stderr_tail=outs.stderr_tail,
            wall_s=wall,
            cpu_s=raw.cpu_s,
            peak_mem_mb=peak,
            files=outs.files,
            patched=outs.patched,
            stuck_at=stuck,
        )
