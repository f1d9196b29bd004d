"""The course's pinned grading versions (``constraints/grading.txt``) against what is installed.

The package declares ranges so a student can install it on their own Python and torch; grades
are made in the pinned environment. A different torch major.minor can change float results
(kernels, defaults) and so a verdict near a tolerance: precheck says so, results record it.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import metadata
from pathlib import Path

PINS_FILE = Path(__file__).with_name("grading_constraints.txt")
PIN = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*==\s*([^\s;#]+)")
# Packages whose version can move a float and hence a verdict: major.minor must match.
VERDICT_PACKAGES = ("torch",)


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@cache
def grading_pins() -> dict[str, str]:
    """``{package: version}`` of the course's grading environment ({} when the file is absent)."""
    if not PINS_FILE.is_file():
        return {}
    pins: dict[str, str] = {}
    for line in PINS_FILE.read_text(encoding="utf-8").splitlines():
        m = PIN.match(line)
        if m:
            pins[_norm(m.group(1))] = m.group(2)
    return pins


def installed(name: str) -> str | None:
    """The installed version of a distribution, or None."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _major_minor(version: str) -> tuple[str, ...]:
    return tuple(version.split("+")[0].split(".")[:2])


def verdict_drift(pins: dict[str, str] | None = None) -> list[str]:
    """One sentence per package whose installed major.minor differs from the grading pin."""
    notes = []
    pins = grading_pins() if pins is None else pins
    for name in VERDICT_PACKAGES:
        want, have = pins.get(name), installed(name)
        if want and have and _major_minor(want) != _major_minor(have):
            notes.append(
                f"you have {name} {have}, the course grades with {name} {want}: results near a "
                "tolerance can differ, so trust the instructor's grade over precheck's "
                f"(pip install '{name}=={want}' to match)"
            )
    return notes


RECORDED = ("torch", "numpy", "safetensors", "pydantic")


def pin_drift(
    names: tuple[str, ...] = RECORDED, pins: dict[str, str] | None = None
) -> list[str]:
    """``"torch 2.12.0 (grading pin 2.13.0)"`` for each package not at its exact pin."""
    pins = grading_pins() if pins is None else pins
    out = []
    for name in names:
        want, have = pins.get(name), installed(name)
        if want and have and have.split("+")[0] != want.split("+")[0]:
            out.append(f"{name} {have} (grading pin {want})")
    return out
