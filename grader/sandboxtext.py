"""Strings the sandbox controls, made safe to put in a message.

File names, exception names and messages, traceback lines and printed text come from student code.
Before any of them reaches a message they pass through :func:`sandbox_text` (or
:func:`sandbox_name` for identifiers): one line, control and invisible characters shown as
escapes, characters that HTML or Markdown would act on replaced by inert look-alikes, and a length
cap. Messages built next to hidden material must not include them at all (see
``GradingContext.require(near_secrets=True)``).
"""

from __future__ import annotations

import re
import unicodedata

TEXT_CAP = 300
NAME_CAP = 60
_INERT = str.maketrans({"`": "'", "<": "‹", ">": "›", "|": "¦", "&": "＆"})
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")


def _escape_char(ch: str) -> str:
    """``\\xNN`` / ``\\uNNNN`` for a control, format (bidi, zero-width) or separator character."""
    code = ord(ch)
    return (
        f"\\x{code:02x}"
        if code < 0x100
        else f"\\u{code:04x}"
        if code < 0x10000
        else f"\\U{code:08x}"
    )


def sandbox_text(value: object, cap: int = TEXT_CAP) -> str:
    """One inert line of at most ``cap`` characters from a sandbox-controlled value."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    text = str(value)[: cap * 4]  # bound the work before escaping
    text = re.sub(r"[\r\n\t]+", " ", text).translate(_INERT).replace("](", "] (")
    out = "".join(
        _escape_char(ch) if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Zl", "Zp") else ch
        for ch in text
    ).strip()
    return out if len(out) <= cap else out[: cap - 1] + "…"


def sandbox_name(value: object, cap: int = NAME_CAP, default: str = "an exception") -> str:
    """A dotted identifier (an exception class name) of at most ``cap`` chars, else ``default``."""
    text = str(value)
    return text if len(text) <= cap and _IDENT.fullmatch(text) else default
