"""Student ids: a folder named like another student's never takes over that student's row."""

from __future__ import annotations

import shutil
from pathlib import Path

from grader.intake import discover

from .conftest import EXPECTED, MODEL, OPTIONAL, TRAIN, make_zip, write

ATTACK = b"class BERT:\n    pass  # the attacker's model\n"


def run(subs: Path, staging: Path) -> dict[str, object]:
    rows = discover(subs, staging, expected_files=EXPECTED, optional_files=OPTIONAL)
    return {r.source: r for r in rows}


def test_upper_case_twin_does_not_hijack_the_row(dirs: tuple[Path, Path]) -> None:
    """The issue's attack: CORRECT_1/ next to correct_1/ took the id correct_1."""
    subs, staging = dirs
    write(subs / "correct_1" / "model.py", MODEL)
    write(subs / "correct_1" / "train.py", TRAIN)
    write(subs / "CORRECT_1" / "model.py", ATTACK)
    rows = run(subs, staging)
    real, twin = rows["folder correct_1/"], rows["folder CORRECT_1/"]
    assert real.student == "correct_1"
    assert twin.student.startswith("correct_1-") and twin.student != real.student
    assert (staging / "correct_1" / "model.py").read_bytes() == MODEL
    for row in (real, twin):  # a warning on both rows, naming both uploads
        [note] = [p for p in row.problems if "map to the student id 'correct_1'" in p]
        assert "CORRECT_1/" in note and "correct_1/" in note and row.student in note


def test_ids_do_not_depend_on_creation_order_or_presence(tmp_path: Path) -> None:
    """The same folders created in another order (and with the twin added later) keep their ids."""
    a, b = tmp_path / "a", tmp_path / "b"
    write(a / "correct_1" / "model.py", MODEL)
    alone = run(a, tmp_path / "sa")["folder correct_1/"].student
    write(a / "CORRECT_1" / "model.py", ATTACK)
    write(b / "CORRECT_1" / "model.py", ATTACK)
    write(b / "correct_1" / "model.py", MODEL)
    first, second = run(a, tmp_path / "s1"), run(b, tmp_path / "s2")
    assert alone == first["folder correct_1/"].student == second["folder correct_1/"].student
    assert first["folder CORRECT_1/"].student == second["folder CORRECT_1/"].student


def test_a_collision_without_an_exact_name_gives_nobody_the_id(dirs: tuple[Path, Path]) -> None:
    subs, staging = dirs
    write(subs / "Alice Smith" / "model.py", MODEL)
    write(subs / "alice  smith" / "model.py", ATTACK)
    make_zip(subs / "ALICE-SMITH.zip", {"model.py": MODEL})
    rows = run(subs, staging)
    ids = {r.student for r in rows.values()}
    assert len(ids) == 3 and "alice-smith" not in ids
    assert all(any("3 uploads map" in p for p in r.problems) for r in rows.values())
    shutil.rmtree(staging)
    assert {r.student for r in run(subs, staging).values()} == ids  # rerun: same ids


def test_a_folder_named_like_a_suffixed_id_keeps_its_own(dirs: tuple[Path, Path]) -> None:
    subs, staging = dirs
    write(subs / "bob" / "model.py", MODEL)
    write(subs / "BOB" / "model.py", ATTACK)
    twin = run(subs, staging)["folder BOB/"].student
    write(subs / twin / "model.py", MODEL)  # a real folder with that exact name appears
    rows = run(subs, staging)
    assert rows[f"folder {twin}/"].student == twin
    assert rows["folder BOB/"].student not in (twin, "bob")
    assert len({r.student for r in rows.values()}) == 3
