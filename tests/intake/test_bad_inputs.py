"""Every odd or hostile submission becomes a row with a clear status and message, never a crash."""

from __future__ import annotations

import io
import os
import shutil
import zipfile
from pathlib import Path

import pytest

from grader.intake import IntakeLimits, discover

from .conftest import EXPECTED, MODEL, OPTIONAL, TRAIN, make_zip, write


def run(subs: Path, staging: Path, limits: IntakeLimits | None = None):
    """discover() with the test's expected and optional files."""
    return discover(subs, staging, expected_files=EXPECTED, optional_files=OPTIONAL, limits=limits)


def one(subs: Path, staging: Path, limits: IntakeLimits | None = None):
    """The single row discover() returns."""
    rows = run(subs, staging, limits)
    assert len(rows) == 1, rows
    return rows[0]


def test_empty_folder(dirs):
    subs, staging = dirs
    (subs / "alice").mkdir()
    row = one(subs, staging)
    assert row.status == "empty" and row.staged_dir is None and row.files == {}
    assert row.submission_hash == "" and "empty" in row.message and "alice" in row.message


def test_folder_without_expected_files_lists_what_it_has(dirs):
    subs, staging = dirs
    write(subs / "bob" / "notes.txt")
    write(subs / "bob" / "hw.ipynb")
    row = one(subs, staging)
    assert row.status == "empty"
    assert "model.py" in row.message and "hw.ipynb" in row.message


def test_empty_zip(dirs):
    subs, staging = dirs
    make_zip(subs / "carol.zip", {})
    row = one(subs, staging)
    assert row.status == "empty" and "carol.zip" in row.message


def test_zip_with_only_junk_is_empty(dirs):
    subs, staging = dirs
    make_zip(subs / "carol.zip", {"__MACOSX/._x": b"j", ".DS_Store": b"j"})
    assert one(subs, staging).status == "empty"


def test_corrupt_zip(dirs):
    subs, staging = dirs
    (subs / "dave.zip").write_bytes(b"PK\x03\x04 this is not really a zip")
    row = one(subs, staging)
    assert row.status == "invalid" and "not a valid zip" in row.message
    assert not (staging / "dave").exists()


def test_truncated_zip_member_is_invalid(dirs):
    subs, staging = dirs
    data = os.urandom(200_000)
    path = make_zip(subs / "erin.zip", {"model.py": data, "train.py": TRAIN})
    raw = bytearray(path.read_bytes())
    raw[100:140] = b"\x00" * 40  # damage the compressed stream of model.py
    path.write_bytes(bytes(raw))
    row = one(subs, staging)
    assert row.status == "invalid"
    assert "corrupt" in row.message or "not a valid zip" in row.message
    assert not (staging / "erin").exists()  # nothing half-staged


def test_ten_py_files_stage_expected_and_note_the_rest(dirs):
    subs, staging = dirs
    write(subs / "frank" / "model.py", MODEL)
    write(subs / "frank" / "train.py", TRAIN)
    for i in range(8):
        write(subs / "frank" / f"helper{i}.py")
    row = one(subs, staging)
    assert row.status == "ok" and set(row.files) == {"model.py", "train.py"}
    note = next(p for p in row.problems if p.startswith("ignored 8 other file"))
    assert "helper0.py" in note and "helper7.py" in note and "import" in note
    assert sorted(os.listdir(row.staged_dir)) == ["model.py", "train.py"]


def test_duplicate_copies_are_noted(dirs):
    subs, staging = dirs
    write(subs / "gina" / "model.py", MODEL)
    write(subs / "gina" / "old" / "model.py", b"old\n")
    row = one(subs, staging)
    assert (row.staged_dir / "model.py").read_bytes() == MODEL  # the one nearest the top
    assert any("found 2 copies of model.py" in p for p in row.problems)
    assert any("missing train.py" in p for p in row.problems)
    assert "missing train.py" in row.message


def test_non_utf8_names(dirs):
    subs, staging = dirs
    bsubs = os.fsencode(subs)
    os.mkdir(bsubs + b"/caf\xe9")
    with open(bsubs + b"/caf\xe9/model.py", "wb") as fh:
        fh.write(MODEL)
    with open(bsubs + b"/caf\xe9/r\xe9sum\xe9.py", "wb") as fh:
        fh.write(b"x")
    with open(bsubs + b"/\xff\xfe.zip", "wb") as fh:
        fh.write(b"garbage")
    rows = run(subs, staging)
    by_status = {r.status: r for r in rows}
    ok = by_status["ok"]
    assert ok.student == "cafe" and ok.student.isascii()
    assert "caf\\xe9" in ok.source
    assert any("not valid UTF-8" in p for p in ok.problems)
    assert any("r\\xe9sum\\xe9.py" in p for p in ok.problems)  # ignored, printably
    bad = by_status["invalid"]
    assert bad.student.isascii() and "/" not in bad.student
    for row in rows:
        row.model_dump_json()  # no surrogates leak into the model


def test_symlinks_are_dropped_never_followed(dirs):
    subs, staging = dirs
    write(subs / "alice" / "train.py", TRAIN)
    secret = write(subs.parent / "secret.txt", b"root:x:0:0")
    os.symlink(secret, subs / "alice" / "model.py")  # link out of the tree
    write(subs / "bob" / "model.py", MODEL)
    os.symlink(subs / "bob" / "model.py", subs / "alice" / "bert_model.pt")  # another student's
    os.symlink("/etc/shadow", subs / "alice" / "shadow.py")
    os.symlink(subs / "bob", subs / "mallory")  # a whole folder that is a link
    rows = {r.student: r for r in run(subs, staging)}
    alice = rows["alice"]
    assert alice.status == "ok" and set(alice.files) == {"train.py"}
    notes = " ".join(alice.problems)
    assert "model.py is a symbolic link" in notes and "bert_model.pt is a symbolic link" in notes
    for path in alice.staged_dir.iterdir():
        assert not path.is_symlink() and b"root:" not in path.read_bytes()
    assert rows["mallory"].status == "invalid" and "symbolic link" in rows["mallory"].message


def test_fifo_is_dropped_without_blocking(dirs):
    subs, staging = dirs
    write(subs / "alice" / "train.py", TRAIN)
    os.mkfifo(subs / "alice" / "model.py")
    row = one(subs, staging)
    assert set(row.files) == {"train.py"}
    assert any("not a regular file" in p for p in row.problems)


def test_huge_sparse_checkpoint_is_left_out_unread_and_the_rest_graded(dirs):
    """The issue's case: a 2 GB sparse bert_model.pt was copied into staging as a dense file."""
    subs, staging = dirs
    write(subs / "alice" / "model.py", MODEL)
    big = subs / "alice" / "bert_model.pt"
    with open(big, "wb") as fh:
        fh.truncate(2 * 1024**3)  # 2 GB apparent, nothing on disk: over the 1,024 MB .pt cap
    row = one(subs, staging)
    assert row.status == "ok" and list(row.files) == ["model.py"]
    assert "left out (too large) bert_model.pt" in row.message
    [note] = [p for p in row.problems if "bert_model.pt" in p and "limit" in p]
    assert "2,048 MB" in note and "1,024 MB" in note and "state_dict" in note
    assert not (staging / "alice" / "bert_model.pt").exists()


def test_a_single_oversized_file_makes_the_row_invalid(dirs):
    subs, staging = dirs
    (subs / "alice").mkdir()
    with open(subs / "alice" / "bert_model.pt", "wb") as fh:
        fh.truncate(3 * 1024**3)
    row = one(subs, staging)
    assert row.status == "invalid" and "1,024 MB" in row.message and row.staged_dir is None


def test_sparse_file_under_the_cap_stays_sparse_in_staging(dirs):
    subs, staging = dirs
    write(subs / "alice" / "model.py", MODEL)
    with open(subs / "alice" / "bert_model.pt", "wb") as fh:
        fh.truncate(64 * 1024**2)
        fh.seek(10 * 1024**2)
        fh.write(b"data")
    row = one(subs, staging)
    staged = staging / row.student / "bert_model.pt"
    assert row.status == "ok" and staged.stat().st_size == 64 * 1024**2
    assert staged.stat().st_blocks * 512 < 4 * 1024**2  # not written out densely
    assert staged.read_bytes() == (subs / "alice" / "bert_model.pt").read_bytes()


def test_huge_extra_file_is_ignored_not_read(dirs):
    subs, staging = dirs
    write(subs / "alice" / "model.py", MODEL)
    with open(subs / "alice" / "dataset.bin", "wb") as fh:
        fh.truncate(3 * 1024**3)
    row = one(subs, staging)
    assert row.status == "ok" and any("dataset.bin" in p for p in row.problems)


def test_total_size_cap(dirs):
    subs, staging = dirs
    write(subs / "alice" / "model.py", b"a" * 700_000)
    write(subs / "alice" / "train.py", b"b" * 700_000)
    row = one(subs, staging, IntakeLimits(max_total_mb=1))
    assert row.status == "invalid" and "add up to" in row.message


def test_folder_with_too_many_files_stops_looking(dirs):
    subs, staging = dirs
    write(subs / "alice" / "model.py", MODEL)
    for i in range(30):
        write(subs / "alice" / "data" / f"f{i:02}.txt")
    write(subs / "bob" / "zdata" / "model.py", MODEL)  # beyond the cap, not found
    for i in range(30):
        write(subs / "bob" / "a_data" / f"f{i:02}.txt")
    rows = {r.student: r for r in run(subs, staging, IntakeLimits(max_files=10))}
    assert rows["alice"].status == "ok" and list(rows["alice"].files) == ["model.py"]
    assert any("stopped looking after 10 files" in p for p in rows["alice"].problems)
    assert rows["bob"].status == "empty"
    assert any("stopped looking" in p for p in rows["bob"].problems)


@pytest.mark.parametrize("evil", ["../evil.py", "a/../../evil.py", "/etc/cron.d/evil", "C:\\x.py"])
def test_zip_path_escape_is_invalid(dirs, evil):
    subs, staging = dirs
    make_zip(subs / "eve.zip", {"model.py": MODEL, evil: b"boom"})
    row = one(subs, staging)
    assert row.status == "invalid" and row.staged_dir is None
    assert not (subs.parent / "evil.py").exists()


def test_zip_symlink_entry_is_dropped(dirs):
    subs, staging = dirs
    make_zip(subs / "eve.zip", {"train.py": TRAIN}, symlinks={"model.py": "/etc/shadow"})
    row = one(subs, staging)
    assert row.status == "ok" and set(row.files) == {"train.py"}
    assert any("model.py" in p and "symbolic link" in p for p in row.problems)


def test_zip_bomb_ratio(dirs):
    subs, staging = dirs
    make_zip(subs / "bomb.zip", {"model.py": b"\0" * (8 * 1024 * 1024)})
    row = one(subs, staging)
    assert row.status == "invalid" and "zip bomb" in row.message


def test_zip_file_count_cap(dirs):
    subs, staging = dirs
    make_zip(subs / "many.zip", {f"f{i}.py": b"x" for i in range(30)})
    row = one(subs, staging, IntakeLimits(max_files=20))
    assert row.status == "invalid" and "over the limit of 20" in row.message


def test_zip_member_over_file_cap(dirs):
    subs, staging = dirs
    make_zip(subs / "big.zip", {"model.py": os.urandom(2 * 1024 * 1024)})
    row = one(subs, staging, IntakeLimits(max_file_mb=1))
    assert row.status == "invalid" and "over the limit of 1 MB" in row.message


def test_encrypted_zip_is_invalid(dirs):
    subs, staging = dirs
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("model.py", MODEL)
    raw = bytearray(buf.getvalue())
    # set the "encrypted" flag bit in both the local and the central header
    raw[6] |= 1
    central = raw.rfind(b"PK\x01\x02")
    raw[central + 8] |= 1
    (subs / "locked.zip").write_bytes(bytes(raw))
    row = one(subs, staging)
    assert row.status == "invalid" and "password" in row.message


def test_unrecognised_loose_file_is_a_row(dirs):
    subs, staging = dirs
    write(subs / "alice" / "model.py", MODEL)
    write(subs / "notes.txt", b"hello")
    rows = {r.student: r for r in run(subs, staging)}
    assert rows["notes.txt"].status == "invalid"
    assert "not a student folder" in rows["notes.txt"].message


def test_missing_submissions_dir_raises_a_usage_error(tmp_path):
    with pytest.raises(NotADirectoryError):
        discover(tmp_path / "nope", tmp_path / "st", expected_files=EXPECTED)


def test_staging_inside_submissions_is_skipped(dirs):
    subs, _ = dirs
    write(subs / "alice" / "model.py", MODEL)
    run(subs, subs / "_staging")
    rows = run(subs, subs / "_staging")
    assert [r.student for r in rows] == ["alice"]
    shutil.rmtree(subs / "_staging")
    run(subs, subs / "out" / "staging")  # grade SUBS --out SUBS/out
    assert [r.student for r in run(subs, subs / "out" / "staging")] == ["alice"]


def test_an_intake_bug_costs_one_row_not_the_class(dirs, monkeypatch):
    import grader.intake.choose as choose

    subs, staging = dirs
    write(subs / "alice" / "model.py", MODEL)
    write(subs / "bob" / "model.py", MODEL)
    real = choose.select

    def flaky(entries, *args):
        if any("alice" in str(e.disk_path) for e in entries):
            raise TypeError("boom")
        return real(entries, *args)

    monkeypatch.setattr(choose, "select", flaky)
    rows = {r.student: r for r in run(subs, staging)}
    assert rows["alice"].status == "invalid" and "grader problem" in rows["alice"].message
    assert rows["bob"].status == "ok"
