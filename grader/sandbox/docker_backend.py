"""The ``docker`` backend (placeholder until implemented)."""

from __future__ import annotations


def probe_docker() -> tuple[bool, str]:
    """Whether a Docker engine and the SDK are usable."""
    return False, "not implemented yet"
