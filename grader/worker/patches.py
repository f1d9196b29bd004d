"""Notice what student code changes in torch, torch.nn, torch.nn.functional and builtins.

The zygote takes a snapshot (every attribute of the watched modules and of the classes they
export, with their bases, by identity) before any student code runs; each probe child compares
against it after student code ran and reports the names that were replaced, added or deleted.
Student code runs in the same process, so this is a hint for the instructor, never evidence.
"""

from __future__ import annotations

import builtins
import os
import sys
from collections.abc import Mapping
from operator import is_ as _is
from types import ModuleType
from typing import Any

WATCHED = ("torch", "torch.nn", "torch.nn.functional", "builtins")
MAX_NAMES = 40
# Set by Python itself on first use of a class (copy/pickle, typing, abc caches).
BENIGN = frozenset({"__slotnames__", "__annotations__", "__parameters__", "__abstractmethods__"})
MISSING = object()

# Bound now, in the zygote: student code that patches builtins cannot reach these names.
_type, _isinstance, _sorted, _getattr, _id, _len = type, isinstance, sorted, getattr, id, len
_all, _map = all, map
_mro = type.__dict__["__mro__"].__get__
_class_dict = type.__dict__["__dict__"].__get__


def _attr(obj: Any, name: str) -> Any:
    """``getattr(obj, name, None)`` that survives a hostile ``__getattr__``."""
    try:
        return _getattr(obj, name, None)
    except Exception:
        return None


class Snapshot:
    """The watched namespaces as they were when the snapshot was taken.

    Each entry keeps the live mapping (a module's ``__dict__``, a class's mappingproxy) and a
    copy of it, so that comparing later is one identity test per name.
    """

    def __init__(self, harness_files: tuple[str, ...] = ()) -> None:
        # (dotted name, live mapping, copy, copies of the bases' dicts in MRO order)
        self.entries: list[tuple[str, Mapping[str, Any], dict[str, Any], list[dict[str, Any]]]]
        self.entries = []
        torch = sys.modules.get("torch")
        self.torch_dir = os.path.dirname(_getattr(torch, "__file__", "") or "/nonexistent") + "/"
        self.harness_files = (os.path.dirname(__file__) + "/", *harness_files)
        copies: dict[int, dict[str, Any]] = {}
        classes: list[tuple[int, type]] = []
        for label in WATCHED:
            module = sys.modules.get(label)
            if not _isinstance(module, ModuleType):
                continue
            live = module.__dict__
            self.entries.append((label, live, dict(live), []))
            for name in _sorted(live):
                value = live[name]
                if not _isinstance(value, _type):
                    continue
                for i, cls in enumerate(_mro(value)):
                    if cls is object or _id(cls) in copies:
                        continue
                    qual = f"{label}.{name}" if i == 0 else f"{cls.__module__}.{cls.__qualname__}"
                    proxy = _class_dict(cls)
                    copies[_id(cls)] = dict(proxy)
                    classes.append((len(self.entries), cls))
                    self.entries.append((qual, proxy, copies[_id(cls)], []))
        for index, cls in classes:
            bases = [copies[_id(b)] for b in _mro(cls)[1:] if _id(b) in copies]
            self.entries[index][3].extend(bases)

    @staticmethod
    def _inherited(key: str, value: Any, bases: list[dict[str, Any]]) -> bool:
        """Whether a class attribute that appeared is what the class inherited anyway.

        (A guard that patched ``Tensor.softmax`` and put back the ``TensorBase`` method leaves
        that method in ``Tensor``'s own dict.)
        """
        for base in bases:
            if key in base:
                return base[key] is value
        return False

    def _not_student(self, new: Any, old: Any) -> bool:
        """Whether ``new`` was put there by torch or the probe harness, not by student code.

        torch._dynamo wraps ``torch.manual_seed`` on first import; a probe may install a guard
        (functions defined in the probe module) while it calls student code.
        """
        filename = _attr(_attr(new, "__code__"), "co_filename")
        if not _isinstance(filename, str):
            return False
        if filename.startswith(self.harness_files):
            return True
        return _attr(new, "__wrapped__") is old and filename.startswith(self.torch_dir)

    def changes(self, builtin_ns: Mapping[str, Any] | None = None) -> list[str]:
        """Names changed since the snapshot, e.g. ``torch.nn.functional.cross_entropy (replaced)``.

        ``builtin_ns``: the builtins as student code left them, when they were restored since.
        Attributes that appear because a submodule was imported (``torch.distributions``) are
        not changes.
        """
        names: list[str] = []
        for label, live, old, bases in self.entries:
            cur = builtin_ns if label == "builtins" and builtin_ns is not None else live
            if (
                _len(cur) == _len(old)
                and _all(_map(_is, cur.values(), old.values()))
                and cur.keys() == old.keys()
            ):
                continue  # the common case, at C speed
            for key, value in old.items():
                now = cur.get(key, MISSING)
                if now is value or key in BENIGN:
                    continue
                if now is MISSING:
                    names.append(f"{label}.{key} (deleted)")
                elif not self._not_student(now, value):
                    names.append(f"{label}.{key} (replaced)")
            if _len(cur) != _len(old) or cur.keys() != old.keys():
                for key in _sorted(k for k in cur.keys() - old.keys() if k not in BENIGN):
                    value = cur[key]
                    submodule = _isinstance(value, ModuleType) and (
                        _attr(value, "__name__") == f"{label}.{key}"
                    )
                    if not (
                        submodule
                        or self._inherited(key, value, bases)
                        or self._not_student(value, MISSING)
                    ):
                        names.append(f"{label}.{key} (added)")
            if _len(names) >= MAX_NAMES:
                break
        return names[:MAX_NAMES]


def snapshot_builtins() -> dict[str, Any]:
    """A plain copy of the builtins namespace as it is now."""
    return builtins.__dict__.copy()
