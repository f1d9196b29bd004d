"""Each accepted layout is detected, grouped per student and staged as plain, hashed files."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from grader.intake import discover, parse_gradescope_metadata, stage_one

from .conftest import EXPECTED, MODEL, OPTIONAL, TRAIN, make_zip, write


def run(subs: Path, staging: Path):
    """discover() with the test's expected and optional files."""
    return discover(subs, staging, expected_files=EXPECTED, optional_files=OPTIONAL)


def test_folder_per_student_is_staged_and_hashed(dirs):
    subs, staging = dirs
    write(subs / "alice" / "model.py", MODEL)
    write(subs / "alice" / "train.py", TRAIN)
    write(subs / "alice" / "bert_model.pt", b"\x80\x02weights")
    [row] = run(subs, staging)
    assert row.status == "ok" and row.layout == "folder" and row.student == "alice"
    assert row.staged_dir == staging / "alice"
    assert sorted(os.listdir(row.staged_dir)) == ["bert_model.pt", "model.py", "train.py"]
    assert row.files["model.py"] == hashlib.sha256(MODEL).hexdigest()
    digest = hashlib.sha256()
    for name in sorted(row.files):
        digest.update(name.encode() + b"\0" + row.files[name].encode() + b"\n")
    assert row.submission_hash == digest.hexdigest()
    assert row.problems == []
    for name in row.files:
        assert (row.staged_dir / name).is_file() and not (row.staged_dir / name).is_symlink()


def test_nested_folder_one_level_down(dirs):
    subs, staging = dirs
    write(subs / "bob" / "A6" / "model.py", MODEL)
    write(subs / "bob" / "A6" / "train.py", TRAIN)
    [row] = run(subs, staging)
    assert row.status == "ok" and set(row.files) == {"model.py", "train.py"}
    assert (row.staged_dir / "model.py").read_bytes() == MODEL


def test_zip_per_student_ignores_macos_junk(dirs):
    subs, staging = dirs
    make_zip(
        subs / "Carol.zip",
        {
            "carol/model.py": MODEL,
            "carol/train.py": TRAIN,
            "__MACOSX/carol/._model.py": b"junk",
            "carol/.DS_Store": b"junk",
        },
    )
    [row] = run(subs, staging)
    assert row.status == "ok" and row.layout == "zip" and row.student == "carol"
    assert (row.staged_dir / "train.py").read_bytes() == TRAIN
    assert row.problems == []  # junk is skipped silently


def test_canvas_flat_files_grouped_per_student(dirs):
    subs, staging = dirs
    write(subs / "smithalice_1234_98765_model.py", MODEL)
    write(subs / "smithalice_1234_98765_train.py", TRAIN)
    write(subs / "jonesbob_LATE_5678_98766_model.py", b"old = 1\n")
    write(subs / "jonesbob_LATE_5678_98766_model-1.py", MODEL)
    write(subs / "jonesbob_LATE_5678_98766_train.py", TRAIN)
    write(subs / "jonesbob_LATE_5678_98766_bert_model-2.pt", b"w")
    rows = run(subs, staging)
    assert [r.student for r in rows] == ["jonesbob", "smithalice"]
    bob, alice = rows
    assert alice.layout == "canvas" and alice.status == "ok"
    assert alice.identity["canvas_id"] == "1234" and "canvas user 1234" in alice.source
    assert bob.identity.get("late") == "yes" and "LATE" in bob.source
    assert set(bob.files) == {"model.py", "train.py", "bert_model.pt"}
    # Canvas's -1 suffix marks the newer re-upload: it wins over the plain name
    assert (bob.staged_dir / "model.py").read_bytes() == MODEL
    assert any("model-1.py was used as model.py" in p for p in bob.problems)


def test_canvas_upload_that_is_a_zip_is_opened(dirs):
    subs, staging = dirs
    make_zip(subs / "leedana_42_777_A6.zip", {"A6/model.py": MODEL, "A6/train.py": TRAIN})
    [row] = run(subs, staging)
    assert row.status == "ok" and row.layout == "canvas" and set(row.files) == set(EXPECTED)


GS_META = """---
submission_1001:
  :submitters:
  - :name: Alice Smith
    :sid: '12345'
    :email: alice.smith@uni.edu
  :created_at: 2026-11-01 10:00:00.000000000 -07:00
  :score: 8.0
submission_1002:
  :submitters:
  - :name: Bob Jones
    :sid:
    :email: bjones@uni.edu
  - :name: Carol Group
    :sid: '777'
    :email: carol@uni.edu
"""


def test_gradescope_export_uses_metadata_names(dirs):
    subs, staging = dirs
    (subs / "submission_metadata.yml").write_text(GS_META)
    write(subs / "submission_1001" / "model.py", MODEL)
    write(subs / "submission_1001" / "train.py", TRAIN)
    write(subs / "submission_1002" / "model.py", MODEL)
    write(subs / "submission_1003" / "model.py", MODEL)  # not in the metadata
    rows = run(subs, staging)
    by_id = {r.student: r for r in rows}
    assert set(by_id) == {"alice.smith", "bjones", "submission_1003"}
    alice = by_id["alice.smith"]
    assert alice.layout == "gradescope" and alice.identity["sid"] == "12345"
    assert "Alice Smith" in alice.source and "submission_1001" in alice.source
    assert by_id["bjones"].identity["name"] == "Bob Jones, Carol Group"
    assert by_id["bjones"].status == "ok"
    assert any("missing train.py" in p for p in by_id["bjones"].problems)


def test_gradescope_metadata_parser_ignores_unknown_lines():
    meta = parse_gradescope_metadata(GS_META + "other_key:\n  :name: not a submitter\n")
    assert meta["submission_1001"] == {
        "name": ["Alice Smith"],
        "sid": ["12345"],
        "email": ["alice.smith@uni.edu"],
    }
    assert "sid" in meta["submission_1002"] and meta["submission_1002"]["sid"] == ["777"]


def test_mixed_layouts_sorted_with_stable_duplicate_suffixes(dirs):
    subs, staging = dirs
    write(subs / "alice" / "model.py", MODEL)
    make_zip(subs / "alice.zip", {"model.py": MODEL})
    write(subs / "Alice-2" / "model.py", MODEL)  # a real folder named like a suffix
    write(subs / "zed" / "model.py", MODEL)
    first = run(subs, staging)
    second = run(subs, staging)
    ids = [r.student for r in first]
    assert ids == sorted(ids) and len(set(ids)) == len(ids) == 4
    assert [(r.student, r.source) for r in first] == [(r.student, r.source) for r in second]
    by_source = {r.source: r.student for r in first}
    # alice/ and alice.zip both claim "alice": neither takes it, both are told (see test_ids)
    assert by_source["folder alice/"].startswith("alice-") and by_source["zip alice.zip"] != "alice"
    assert by_source["folder Alice-2/"] == "alice-2" and by_source["folder zed/"] == "zed"


def test_directory_that_is_itself_a_submission(dirs):
    subs, staging = dirs
    write(subs / "model.py", MODEL)
    write(subs / "train.py", TRAIN)
    [row] = run(subs, staging)
    assert row.layout == "single" and row.status == "ok" and row.student == "subs"


def test_stage_one_folder_zip_and_file(tmp_path):
    write(tmp_path / "work" / "model.py", MODEL)
    write(tmp_path / "work" / "train.py", TRAIN)
    zipped = make_zip(tmp_path / "up.zip", {"model.py": MODEL, "train.py": TRAIN})
    kw = {"expected_files": EXPECTED, "optional_files": OPTIONAL}
    a = stage_one(tmp_path / "work", tmp_path / "st", student="Me Myself", **kw)
    b = stage_one(zipped, tmp_path / "st", **kw)
    c = stage_one(tmp_path / "work" / "model.py", tmp_path / "st", student="solo", **kw)
    assert (a.student, a.layout, a.status) == ("me-myself", "folder", "ok")
    assert (b.student, b.layout, b.status) == ("up", "zip", "ok")
    assert a.submission_hash == b.submission_hash  # same content, same hash
    assert (c.layout, c.status, list(c.files)) == ("single", "ok", ["model.py"])
    missing = stage_one(tmp_path / "nope", tmp_path / "st", **kw)
    assert missing.status == "invalid" and "does not exist" in missing.message


def test_restaging_replaces_the_previous_copy(dirs):
    subs, staging = dirs
    write(subs / "alice" / "model.py", MODEL)
    first = run(subs, staging)[0]
    (first.staged_dir / "stale.py").write_text("left over")
    write(subs / "alice" / "model.py", b"changed = True\n")
    second = run(subs, staging)[0]
    assert not (second.staged_dir / "stale.py").exists()
    assert second.submission_hash != first.submission_hash


def test_rows_are_json_serialisable(dirs):
    subs, staging = dirs
    write(subs / "alice" / "model.py", MODEL)
    for row in run(subs, staging):
        json.loads(row.model_dump_json())


def test_gradescope_metadata_is_read_as_yaml_safely():
    # Ruby object tags (real exports carry some) read as plain data; no object is built
    tagged = GS_META.replace("  :submitters:", "  :submitters: !ruby/array:Array")
    assert parse_gradescope_metadata(tagged)["submission_1001"]["sid"] == ["12345"]
    # flow style and unquoted numbers are YAML too (the old line parser missed them)
    flow = "submission_9: {':submitters': [{':name': Dana, ':sid': 4242}]}\n"
    assert parse_gradescope_metadata(flow) == {"submission_9": {"name": ["Dana"], "sid": ["4242"]}}
    hostile = "submission_1: !!python/object/apply:os.system ['echo pwned']\n"
    for text in (hostile, "{ not yaml", "- a list\n", "x" * (16 * 1024 * 1024 + 1)):
        assert parse_gradescope_metadata(text) in ({}, {"submission_1": {}})


def test_one_slug_function_names_ids_and_files():
    from grader.exporters.common import safe_filename
    from grader.intake import slugify
    from grader.slug import safe_filename as slug_safe_filename
    from grader.slug import slugify as slug_slugify

    assert slugify is slug_slugify and safe_filename is slug_safe_filename
    assert slugify("Núñez, Carol") == "nunez-carol"
    assert safe_filename("alice") == "alice"
    unsafe = safe_filename("../Núñez Carol")
    assert unsafe.startswith("nunez-carol-") and unsafe != safe_filename("../nunez carol")
