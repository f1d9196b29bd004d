"""Pick a backend by name: ``auto`` (bwrap, else docker), bwrap, docker, process.

``auto`` never falls back to ``process`` silently: grading other people's code without isolation
must be asked for by name (``--sandbox process``). Only a student checking their own files
(``precheck``) passes ``own_code=True``, which lets ``auto`` end at ``process`` with a warning.
"""

from __future__ import annotations

import functools

from .base import Sandbox, SandboxUnavailable

NAMES = ("auto", "bwrap", "docker", "process")
AUTO_ORDER = ("bwrap", "docker")
FIX = (
    "install bubblewrap (pip install 'nlpgrade[sandbox]', or apt install bubblewrap), or make a "
    "Docker engine reachable (pip install 'nlpgrade[docker]'); to grade WITHOUT isolation anyway "
    "(student code can then read and change your files and kill the grader), pass "
    "--sandbox process explicitly"
)
OWN_CODE_NOTE = (
    "no bwrap or docker here, so your code runs as a plain process with your user's rights "
    "(fine for your own files; install bubblewrap for the same isolation as the grader)"
)


@functools.cache
def backend_available(name: str) -> tuple[bool, str]:
    """(usable here, reason or detail) for ``bwrap``, ``docker`` or ``process`` (cached)."""
    if name == "process":
        return True, "always available (no isolation)"
    if name == "bwrap":
        from .bwrap import probe_bwrap

        return probe_bwrap()
    if name == "docker":
        from .docker_backend import probe_docker

        return probe_docker()
    return False, f"unknown sandbox {name!r}; choose one of {', '.join(NAMES)}"


def resolve_auto(own_code: bool = False) -> tuple[str, str | None]:
    """(backend name, note to show once) that ``auto`` means here; SandboxUnavailable if none."""
    reasons = []
    for name in AUTO_ORDER:
        ok, why = backend_available(name)
        if ok:
            return name, None
        reasons.append(f"{name}: {why}")
    if own_code:
        return "process", OWN_CODE_NOTE
    raise SandboxUnavailable(
        "--sandbox auto found no isolating sandbox (" + "; ".join(reasons) + "). Fix: " + FIX
    )


def get_sandbox(name: str = "auto", *, own_code: bool = False) -> Sandbox:
    """A backend instance; ``SandboxUnavailable`` (with the reason and the fix) when none runs.

    ``own_code``: the code to run is the caller's own (``precheck``), so ``auto`` may end at the
    non-isolating ``process`` backend, saying so in ``sandbox.warnings``.
    """
    note = None
    if name == "auto":
        name, note = resolve_auto(own_code)
    ok, why = backend_available(name)
    if not ok:
        raise SandboxUnavailable(f"sandbox {name!r} is not available: {why}")
    sandbox: Sandbox
    if name == "bwrap":
        from .bwrap import BwrapSandbox

        sandbox = BwrapSandbox()
    elif name == "docker":
        from .docker_backend import DockerSandbox

        sandbox = DockerSandbox()
    else:
        from .process import WARNING, ProcessSandbox

        sandbox = ProcessSandbox()
        if note is not None:  # one sentence for the student instead of the grader-facing one
            sandbox.warnings[:] = [note if w == WARNING else w for w in sandbox.warnings]
    return sandbox
