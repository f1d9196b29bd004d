"""Back-ports for Python 3.10: ``StrEnum``, ``UTC`` and ``tomllib`` (all new in 3.11)."""

from __future__ import annotations

import sys
from datetime import timezone
from enum import Enum

if sys.version_info >= (3, 11):
    from enum import StrEnum

    import tomllib
else:  # pragma: no cover - exercised by the install test on 3.10
    import tomli as tomllib

    class StrEnum(str, Enum):
        """``enum.StrEnum`` of 3.11: members are strings and print as their value."""

        def __str__(self) -> str:
            return str(self.value)

        def __format__(self, spec: str) -> str:
            return format(str(self.value), spec)


UTC = timezone.utc

__all__ = ["UTC", "StrEnum", "tomllib"]
