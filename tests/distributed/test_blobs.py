"""Content-addressed staging: bytes are checked against their hash, names cannot escape, and the
staged tree is readable by the sandbox user while its parent stays private."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from grader.distributed.blobs import (
    BlobError,
    private_root,
    read_verified,
    sha256_bytes,
    stage,
    tree_files,
    tree_hash,
)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_stage_writes_verified_files_readable_by_the_sandbox(tmp_path: Path) -> None:
    data = {"model.py": b"x = 1\n", "sub/notes.txt": b"hello\n"}
    files = {name: sha256_bytes(b) for name, b in data.items()}
    blobs = {sha256_bytes(b): b for b in data.values()}
    dest = stage(files, blobs, tmp_path / "alice")
    assert (dest / "model.py").read_bytes() == b"x = 1\n"
    assert (dest / "sub" / "notes.txt").read_bytes() == b"hello\n"
    assert _mode(dest / "model.py") == 0o644
    assert _mode(dest) == 0o755 and _mode(dest / "sub") == 0o755
    assert tree_files(dest) == files


def test_bytes_that_do_not_match_their_hash_are_refused(tmp_path: Path) -> None:
    sha = sha256_bytes(b"the real file")
    with pytest.raises(BlobError, match="do not match"):
        stage({"model.py": sha}, {sha: b"something else"}, tmp_path / "bob")
    assert not (tmp_path / "bob").exists()


@pytest.mark.parametrize("name", ["../evil.py", "/etc/passwd", "a/../../b", ""])
def test_names_that_would_escape_are_refused(tmp_path: Path, name: str) -> None:
    sha = sha256_bytes(b"x")
    with pytest.raises(BlobError, match="refusing"):
        stage({name: sha}, {sha: b"x"}, tmp_path / "carol")
    assert not (tmp_path / "evil.py").exists()


def test_missing_bytes_are_named(tmp_path: Path) -> None:
    with pytest.raises(BlobError, match=r"model\.py"):
        stage({"model.py": sha256_bytes(b"x")}, {}, tmp_path / "dave")


def test_changed_staging_is_caught(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"one")
    sha = sha256_bytes(b"one")
    assert read_verified(path, sha) == b"one"
    path.write_bytes(b"two")
    with pytest.raises(BlobError, match="changed"):
        read_verified(path, sha)


def test_private_root_is_closed_to_others() -> None:
    root = private_root()
    try:
        assert _mode(root) == 0o700
    finally:
        root.rmdir()


def test_tree_hash_depends_on_names_and_contents() -> None:
    a = {"model.py": sha256_bytes(b"1")}
    assert tree_hash(a) == tree_hash(dict(a))
    assert tree_hash(a) != tree_hash({"train.py": sha256_bytes(b"1")})
    assert tree_hash(a) != tree_hash({"model.py": sha256_bytes(b"2")})
