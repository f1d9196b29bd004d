"""Trusted models run in the grading parent: the instructor's reference and the loop's stand-in.

Both are framework-style ``model.py`` files that start with ``from config import *``. They are
executed here, in the parent, with a ``config`` module built from the profile's values, without
touching ``sys.modules`` or the working directory (grading threads share the process). No student
code is involved; the reference is never mounted into a sandbox.
"""

from __future__ import annotations

import builtins
import hashlib
import threading
import types
from pathlib import Path
from typing import Any

_LOCK = threading.Lock()
_CACHE: dict[tuple[str, str], types.ModuleType] = {}


def _config_module(cfg: dict[str, int]) -> types.ModuleType:
    module = types.ModuleType("config")
    for name, value in cfg.items():
        setattr(module, name, value)
    return module


def load_model_module(path: Path, cfg: dict[str, int]) -> types.ModuleType:
    """The module of the trusted ``model.py`` at ``path`` for the config ``cfg`` (cached).

    The cache key holds the file's sha256, so an edited file is executed afresh.
    """
    source = Path(path).read_bytes()
    key = (hashlib.sha256(source).hexdigest(), repr(sorted(cfg.items())))
    with _LOCK:
        if key in _CACHE:
            return _CACHE[key]
        config = _config_module(cfg)
        real_import = builtins.__import__

        def _import(name: str, globs: Any = None, locs: Any = None, fromlist: Any = (),
                    level: int = 0) -> Any:
            if name == "config" and level == 0:
                return config
            return real_import(name, globs, locs, fromlist, level)

        module = types.ModuleType(f"nlpgrade_trusted_{key[0][:12]}")
        module.__file__ = str(path)
        module.__dict__["__builtins__"] = {**builtins.__dict__, "__import__": _import}
        exec(compile(source, str(path), "exec"), module.__dict__)  # a trusted file
        _CACHE[key] = module
        return module
