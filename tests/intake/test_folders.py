"""Wanted folders (a name ending in "/", e.g. a ``save_pretrained`` directory) are staged whole."""

from __future__ import annotations

import os
from pathlib import Path

from grader.intake import IntakeLimits, discover, stage_one

from .conftest import make_zip, write

EXPECTED = ("classifier.py", "finetuned/")


def test_folder_is_staged_with_its_files_from_the_shallowest_copy(dirs):
    subs, staging = dirs
    write(subs / "alice" / "hw" / "classifier.py", b"def train(): pass\n")
    write(subs / "alice" / "hw" / "finetuned" / "config.json", b"{}")
    write(subs / "alice" / "hw" / "finetuned" / "model.safetensors", b"\0" * 100)
    write(subs / "alice" / "hw" / "finetuned" / "tok" / "vocab.txt", b"[PAD]\n")
    write(subs / "alice" / "hw" / "old" / "finetuned" / "config.json", b"{old}")
    (row,) = discover(subs, staging, expected_files=EXPECTED)
    assert row.status == "ok", row.message
    assert set(row.files) == {
        "classifier.py",
        "finetuned/config.json",
        "finetuned/model.safetensors",
        "finetuned/tok/vocab.txt",
    }
    assert (row.staged_dir / "finetuned" / "config.json").read_bytes() == b"{}"
    assert (row.staged_dir / "finetuned" / "tok" / "vocab.txt").is_file()
    assert os.stat(row.staged_dir / "finetuned" / "model.safetensors").st_mode & 0o777 == 0o644
    assert any("2 folders named finetuned" in p and "old/finetuned" in p for p in row.problems)
    assert not any(p.startswith("missing") for p in row.problems)


def test_missing_folder_is_reported_and_its_files_cap_holds(dirs, tmp_path: Path):
    subs, staging = dirs
    write(subs / "bob" / "classifier.py")
    (row,) = discover(subs, staging, expected_files=EXPECTED)
    assert row.status == "ok" and any(p.startswith("missing finetuned/") for p in row.problems)
    for i in range(5):
        write(subs / "bob" / "finetuned" / f"shard{i}.bin")
    limits = IntakeLimits(max_folder_files=3)
    (row,) = discover(subs, tmp_path / "again", expected_files=EXPECTED, limits=limits)
    assert sorted(row.files) == ["classifier.py", *(f"finetuned/shard{i}.bin" for i in range(3))]
    assert any("holds 5 files; only the first 3" in p for p in row.problems)


def test_folder_inside_a_zip(tmp_path: Path):
    upload = make_zip(
        tmp_path / "carol.zip",
        {"carol/classifier.py": b"x = 1\n", "carol/finetuned/config.json": b"{}"},
    )
    row = stage_one(upload, tmp_path / "staging", expected_files=EXPECTED)
    assert row.status == "ok", row.message
    assert set(row.files) == {"classifier.py", "finetuned/config.json"}
