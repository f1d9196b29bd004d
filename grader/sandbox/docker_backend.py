"""The ``docker`` backend: the worker runs in a container of the project's image.

Same contract as bwrap: ``network_mode=none``, read-only root with a tmpfs /tmp, memory with
no extra swap, a pids limit, no capabilities, ``no-new-privileges``, a non-root user. The
control channel is the container's attached stdin/stdout (Docker's multiplexed stream).
"""

from __future__ import annotations

import contextlib
import functools
import os
from pathlib import Path
from typing import Any

from . import hostpaths
from .base import Sandbox, SandboxError, Worker, WorkerView
from .bwrap_args import LIB, container_view
from .cgroups import SessionCgroups, oom_kills_of_pid
from .channel import Channel
from .environment import worker_environment
from .models import SandboxSpec
from .popen_worker import BOOT
from .scratch import SessionDirs

DEFAULT_IMAGE = "nlpgrade-worker:latest"
PYTHON = "/opt/venv/bin/python"
DOCKER_PATH = "/opt/venv/bin:/usr/bin:/bin"  # the image's own (Dockerfile)
UID = (10001, 10001)
WORKER_OVERHEAD_MB = 1024  # the zygote with torch imported, on top of a probe's budget


def image_name() -> str:
    """The image to run (``NLPGRADE_DOCKER_IMAGE`` or ``nlpgrade-worker:latest``)."""
    return os.environ.get("NLPGRADE_DOCKER_IMAGE", DEFAULT_IMAGE)


@functools.cache
def probe_docker() -> tuple[bool, str]:
    """Whether the SDK, an engine and the image are there (cached)."""
    try:
        import docker
    except ImportError:
        return False, "the Docker SDK is missing: pip install 'nlpgrade[docker]'"
    try:
        client = docker.from_env(timeout=10)
        client.ping()
    except Exception as exc:
        return False, f"no Docker engine reachable ({type(exc).__name__})"
    try:
        client.images.get(image_name())
    except Exception:
        return False, f"image {image_name()} is missing: build it with scripts/docker_image.sh"
    return True, image_name()


class DockerChannel(Channel):
    """Channel over an attach socket: stdout arrives in 8-byte-header frames."""

    def __init__(self, fd: int) -> None:
        super().__init__(os.dup(fd), os.dup(fd))
        self._raw = b""

    def _decode(self, chunk: bytes) -> bytes:
        self._raw += chunk
        out = b""
        while len(self._raw) >= 8:
            size = int.from_bytes(self._raw[4:8], "big")
            if len(self._raw) < 8 + size:
                break
            if self._raw[0] == 1:  # stdout
                out += self._raw[8 : 8 + size]
            self._raw = self._raw[8 + size :]
        return out


class DockerWorker(Worker):
    """A started container running the zygote."""

    def __init__(self, client: Any, spec: SandboxSpec, dirs: SessionDirs, view: WorkerView) -> None:
        self._log = dirs.root / "worker.log"
        mem = f"{spec.limits.memory_mb + WORKER_OVERHEAD_MB}m"
        volumes = {
            str(hostpaths.WORKER_SRC): {"bind": f"{LIB}/nlpgrade_worker", "mode": "ro"},
            str(spec.probe_module.resolve()): {"bind": view.probe_module, "mode": "ro"},
            str(spec.submission_dir.resolve()): {"bind": view.submission, "mode": "ro"},
            str(spec.kit_dir.resolve()): {"bind": view.kit, "mode": "ro"},
            str(dirs.scratch): {"bind": view.scratch, "mode": "rw"},
        }
        for dest, src in spec.extra_ro.items():
            volumes[str(Path(src).resolve())] = {"bind": dest, "mode": "ro"}
        env = worker_environment(spec, view, home="/tmp", tmp="/tmp", path=DOCKER_PATH)
        self.container = client.containers.create(
            image_name(),
            command=[PYTHON, "-s", "-P", "-c", BOOT, LIB],
            stdin_open=True,
            tty=False,
            detach=True,
            network_mode="none",
            read_only=True,
            tmpfs={"/tmp": f"size={max(64, 2 * spec.limits.fsize_mb)}m,mode=1777"},
            mem_limit=mem,
            memswap_limit=mem,
            pids_limit=spec.limits.pids + 16,
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            user=f"{UID[0]}:{UID[1]}",
            volumes=volumes,
            working_dir=view.scratch,
            environment=env,
            hostname="nlpgrade",
            labels={"nlpgrade": "worker"},
        )
        sock = self.container.attach_socket(
            params={"stdin": 1, "stdout": 1, "stderr": 0, "stream": 1}
        )
        self._sock = getattr(sock, "_sock", sock)
        self.container.start()
        self.container.reload()
        self._pid = int(self.container.attrs["State"].get("Pid") or 0)
        self.channel = DockerChannel(self._sock.fileno())

    def oom_kills(self) -> int | None:
        """The container cgroup's OOM-kill counter, read on the host when we can."""
        return oom_kills_of_pid(self._pid) if self._pid else None

    def kill(self) -> None:
        """Save the worker's stderr, then remove the container."""
        with contextlib.suppress(Exception):
            self._log.write_bytes(self.container.logs(stdout=False, stderr=True)[-65536:])
        with contextlib.suppress(Exception):
            self.container.remove(force=True)
        self.channel.close()
        with contextlib.suppress(OSError):
            self._sock.close()


class DockerSandbox(Sandbox):
    """Docker: the worker in the project's image, no network, read-only, unprivileged."""

    name = "docker"
    isolates = True

    def __init__(self) -> None:
        super().__init__()
        import docker

        self.client = docker.from_env(timeout=60)
        self.warnings.append(
            "docker backend: per-probe memory by RLIMIT_AS; the container's "
            "memory limit (with no extra swap) holds the whole worker"
        )

    def scratch_owner(self) -> tuple[int, int] | None:
        """The image's non-root user must write the probe dirs."""
        return UID if os.geteuid() == 0 else None

    def want_cgroups(self) -> bool:
        """Probes are limited inside the container, not by host cgroups."""
        return False

    def view(self, spec: SandboxSpec, dirs: SessionDirs) -> WorkerView:
        """Same in-container paths as bwrap."""
        return container_view(spec)

    def launch(
        self, spec: SandboxSpec, dirs: SessionDirs, view: WorkerView, cgroups: SessionCgroups | None
    ) -> Worker:
        """Create and start the container."""
        try:
            return DockerWorker(self.client, spec, dirs, view)
        except Exception as exc:
            raise SandboxError(f"docker worker did not start: {exc}") from exc
