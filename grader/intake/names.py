"""Printable names and short listings from arbitrary (even non-UTF-8) file names."""

from __future__ import annotations

import os
from collections.abc import Sequence

LIST_AT_MOST = 8  # file names listed in one note before "and N more"


def display(name: str) -> str:
    """A printable form of a file name that may hold undecodable bytes (shown as ``\\xNN``)."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def is_utf8(name: str) -> bool:
    """Whether a file name decodes as UTF-8 (os.listdir maps other bytes to surrogates)."""
    try:
        os.fsencode(name).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def listing(names: Sequence[str]) -> str:
    """``a, b, c and 4 more``: a short list of printable names."""
    shown = [display(n) for n in names[:LIST_AT_MOST]]
    more = len(names) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def name_notes(raw: str) -> list[str]:
    """A note when a name is not valid UTF-8 (the id is then made from a Latin-1 reading)."""
    if is_utf8(raw):
        return []
    return [f"the name {display(raw)!r} is not valid UTF-8; it was renamed to a safe id."]
