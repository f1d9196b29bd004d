"""``ProbeContext``: what a probe function receives (params, inputs, student imports, outputs)."""

from __future__ import annotations

import importlib
import os
import runpy
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from .patches import Snapshot


class ProbeContext:
    """Per-probe state handed to a probe function inside the sandbox."""

    def __init__(
        self,
        *,
        params: dict[str, Any],
        inputs: dict[str, Any],
        workdir: Path,
        seed: int,
        kit: Path,
        submission: Path,
        extra: dict[str, Path],
        watch: Snapshot | None = None,
    ) -> None:
        self.params = params
        self.inputs = inputs
        self.workdir = workdir
        self.seed = seed
        self._kit = kit
        self._submission = submission
        self._extra = extra
        self._base_path = list(sys.path)
        self.data: dict[str, Any] = {}
        self.tensors: dict[str, Any] = {}
        self.exports: list[str] = []
        self._watch = watch
        self.patched: list[str] = []  # what student code changed in torch/builtins (a hint)

    @property
    def submission(self) -> Path:
        """The student's files (read-only)."""
        return self._submission

    @property
    def kit(self) -> Path:
        """The assignment kit (read-only)."""
        return self._kit

    def extra(self, name: str) -> Path:
        """Where the extra read-only dir the spec mounts as ``name`` is, in this backend."""
        if name not in self._extra:
            raise KeyError(f"no extra read-only dir mounted at {name!r}")
        return Path(self._extra[name])

    def _set_path(self, extra_path: str | None) -> None:
        """Put the kit first, then the submission (then an extra dir) on ``sys.path``."""
        front = [str(self._kit), str(self._submission)]
        if extra_path is not None:
            if extra_path not in self._extra:
                raise KeyError(f"no extra read-only dir mounted at {extra_path!r}")
            front.append(str(self._extra[extra_path]))
        sys.path[:] = front + self._base_path
        importlib.invalidate_caches()

    def note_patches(self, builtin_ns: dict[str, Any] | None = None) -> None:
        """Record what student code changed in torch/builtins since the zygote's snapshot."""
        if self._watch is None:
            return
        try:
            names = self._watch.changes(builtin_ns)
        except Exception as exc:  # student code broke something the comparison needs
            names = [f"(the comparison failed: {type(exc).__name__})"]
        for name in names:
            if name not in self.patched:
                self.patched.append(name)

    def import_student(self, name: str, extra_path: str | None = None) -> ModuleType:
        """Import module ``name`` from the kit/submission (fresh in every probe)."""
        self._set_path(extra_path)
        try:
            return importlib.import_module(name)
        finally:
            self.note_patches()

    def run_script(self, name: str, argv: list[str] | None = None) -> dict[str, Any]:
        """Run the submission's (or kit's) script ``name`` as ``__main__`` in the workdir."""
        self._set_path(None)
        path = self._submission / name
        if not path.is_file():
            path = self._kit / name
        if not path.is_file():
            raise FileNotFoundError(f"{name} is not in the submission")
        old_argv = sys.argv
        sys.argv = [name, *(argv or [])]
        try:
            return runpy.run_path(str(path), run_name="__main__")
        except SystemExit as exc:
            if exc.code not in (None, 0):
                raise
            return {}
        finally:
            sys.argv = old_argv
            self.note_patches()

    def emit(
        self, data: dict[str, Any] | None = None, tensors: dict[str, Any] | None = None
    ) -> None:
        """Record JSON-able ``data`` and ``tensors`` for the parent (merged over calls)."""
        if data:
            self.data.update(data)
        if tensors:
            self.tensors.update(tensors)

    def export_file(self, name: str) -> None:
        """Declare a file of the workdir that the parent should receive (size-capped)."""
        rel = os.path.normpath(name)
        if rel.startswith(("/", "..")) or rel == ".":
            raise ValueError(f"export_file wants a path inside the workdir, got {name!r}")
        if rel not in self.exports:
            self.exports.append(rel)
