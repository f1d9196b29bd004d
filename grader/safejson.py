"""JSON written by the sandbox, parsed by the parent with a nesting-depth cap.

``json.loads`` recurses once per nesting level, so a 200k-deep ``result.json`` raises
``RecursionError`` in the parent (and anything that walks a 900-deep value later may too). The
depth is measured first (strings removed by a regular expression, brackets kept by
``bytes.translate``, both in C), and a document deeper than the cap is refused before parsing.
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any

MAX_DEPTH = 64
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
_DELTA = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


class JSONRejected(ValueError):
    """Not valid JSON, or nested deeper than the cap; ``str(exc)`` says which."""


def json_depth(raw: bytes | str) -> int:
    """Deepest nesting of arrays/objects in a JSON text (brackets inside strings ignored)."""
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    brackets = _STRING.sub(b"", data).translate(None, _NOT_BRACKET)
    return max(accumulate(_DELTA[b] for b in brackets), default=0)


def loads_capped(raw: bytes | str, max_depth: int = MAX_DEPTH, what: str = "JSON") -> Any:
    """``json.loads(raw)`` for a document nested at most ``max_depth`` deep; JSONRejected else."""
    depth = json_depth(raw)
    if depth > max_depth:
        raise JSONRejected(f"{what} is nested {depth} levels deep (the limit is {max_depth})")
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise JSONRejected(f"{what} is not valid JSON") from exc
