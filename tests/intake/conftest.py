"""Helpers for the intake tests: build submission trees and zips in a temporary directory."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

EXPECTED = ("model.py", "train.py")
OPTIONAL = ("bert_model.pt",)
MODEL = b"class BERT:\n    pass\n"
TRAIN = b"print('training')\n"


def write(path: Path, data: bytes = b"x = 1\n") -> Path:
    """Create a file (and its parents) with the given bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def make_zip(
    path: Path, members: dict[str, bytes], *, symlinks: dict[str, str] | None = None
) -> Path:
    """Write a zip with the given members (names are stored verbatim) and symlink entries."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o120777 << 16
            zf.writestr(info, target)
    return path


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    """A fresh (submissions, staging) pair of folders."""
    subs = tmp_path / "subs"
    subs.mkdir()
    return subs, tmp_path / "staging"
