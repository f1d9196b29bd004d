"""Worker lifecycle: at shutdown a worker stops its reference sandboxes and removes its files."""

from __future__ import annotations

from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

PLUGIN_NAME = "nlpgrade"


class GraderWorkerPlugin(WorkerPlugin):
    """Registered by the client on every worker (and on workers that join or restart later)."""

    def teardown(self, worker: Any) -> None:
        """Close the worker's grading state (reference sandboxes, staged files)."""
        from grader.distributed.task import STATE

        STATE.close()
