"""Registry of probe functions, filled by the ``@probe`` decorator of a probe module."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

ProbeFn = Callable[[Any], None]

PROBES: dict[str, ProbeFn] = {}


def probe(name: str) -> Callable[[ProbeFn], ProbeFn]:
    """Register the decorated function as the probe called ``name``."""

    def register(fn: ProbeFn) -> ProbeFn:
        if name in PROBES and PROBES[name] is not fn:
            raise ValueError(f"probe {name!r} is defined twice")
        PROBES[name] = fn
        return fn

    return register
