"""How long the trusted parent computes for a submission (reference, recomputed heads, losses).

A check's own computations are bare compute in the parent, so they are part of what grading a
submission costs at the least (``bench/bench_floor.py``). ``measuring(timings)`` makes every
``@trusted_compute`` function called in the block add its time to ``timings.reference_s``; nested
calls count once.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import ParamSpec, TypeVar

from grader.results import Timings

P = ParamSpec("P")
R = TypeVar("R")
_current: ContextVar[Timings | None] = ContextVar("nlpgrade_timings", default=None)
_inside: ContextVar[bool] = ContextVar("nlpgrade_timing_inside", default=False)


@contextmanager
def measuring(timings: Timings) -> Iterator[None]:
    """Add the trusted computations run in this block (this thread) to ``timings``."""
    token = _current.set(timings)
    try:
        yield
    finally:
        _current.reset(token)


def trusted_compute(fn: Callable[P, R]) -> Callable[P, R]:
    """Count the time of ``fn`` as the parent's trusted compute of the current submission."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        timings = _current.get()
        if timings is None or _inside.get():
            return fn(*args, **kwargs)
        token = _inside.set(True)
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            timings.reference_s += time.perf_counter() - t0
            _inside.reset(token)

    return wrapper
