"""Worker lifecycle: a grading worker's profiler is stopped; at shutdown it stops its reference
sandboxes and removes its files."""

from __future__ import annotations

from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

PLUGIN_NAME = "nlpgrade"


class GraderWorkerPlugin(WorkerPlugin):
    """Registered by the client on every worker (and on workers that join or restart later)."""

    def setup(self, worker: Any) -> None:
        """Stop the statistical profiler (every 10 ms it samples the running task's stack under
        the GIL, slowing the grading thread; only the dashboard's profile page uses it)."""
        for name in ("profile", "profile-cycle"):
            callback = getattr(worker, "periodic_callbacks", {}).get(name)
            if callback is not None:
                callback.stop()

    def teardown(self, worker: Any) -> None:
        """Close the worker's grading state (reference sandboxes, staged files)."""
        from grader.distributed.task import STATE

        STATE.close()
