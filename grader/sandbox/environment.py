"""The worker's environment, built once for every backend (bwrap, docker, process).

The core sets a fixed, minimal set of variables (paths, locale, hash seed, thread counts); an
assignment adds its own through ``SandboxSpec.env`` (e.g. ``HF_HUB_OFFLINE=1``). A value naming an
``extra_ro`` mount point (``/hf`` or ``/hf/hub``) is rewritten to where the backend shows that
mount to the worker: the same path under bwrap and docker, the host path in the process backend.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from .base import WorkerView
from .models import SandboxSpec

ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")
# Names an assignment may not set: the core's own, and what changes how Python or the loader start.
RESERVED_PREFIXES = ("LD_", "PYTHON", "DYLD_")


def base_environment(*, home: str, tmp: str, path: str, threads: int) -> dict[str, str]:
    """The variables the core sets for every worker, whatever the backend."""
    return {
        "PATH": path,
        "HOME": home,
        "TMPDIR": tmp,
        "LANG": "C.UTF-8",
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
        "MPLCONFIGDIR": tmp,
    }


def check_extra_env(extra: Mapping[str, str], reserved: Mapping[str, str]) -> None:
    """Refuse (``ValueError``) a malformed name, a non-string value or a reserved name."""
    for key, value in extra.items():
        if not ENV_NAME.fullmatch(key):
            raise ValueError(f"worker env name {key!r} is not of the form [A-Z_][A-Z0-9_]*")
        if not isinstance(value, str) or "\0" in value:
            raise ValueError(f"worker env {key} must be a string without NUL bytes")
        if key in reserved or key.startswith(RESERVED_PREFIXES):
            raise ValueError(f"worker env {key} is set by the grader and cannot be overridden")


def resolve_mounts(value: str, mounts: Mapping[str, str]) -> str:
    """``value`` with a leading ``extra_ro`` mount point replaced by its path in the worker."""
    for dest in sorted(mounts, key=len, reverse=True):
        if value == dest or value.startswith(dest.rstrip("/") + "/"):
            return mounts[dest] + value[len(dest) :]
    return value


def worker_environment(
    spec: SandboxSpec,
    view: WorkerView,
    *,
    home: str,
    tmp: str,
    path: str,
    extra_base: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The complete environment of a worker: the core's variables, ``extra_base`` (a backend's
    own, e.g. ``USER``), then the assignment's ``spec.env`` with mount points resolved."""
    env = base_environment(home=home, tmp=tmp, path=path, threads=spec.threads)
    env.update(extra_base or {})
    check_extra_env(spec.env, env)
    env.update({k: resolve_mounts(v, view.extra) for k, v in spec.env.items()})
    return env
