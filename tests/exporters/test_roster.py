"""--roster: a Canvas gradebook export fills the Canvas CSV's ids; mismatches are reported."""

from __future__ import annotations

import csv

import pytest

from grader.exporters import RosterError, export_all, load_roster, match_roster
from grader.exporters.roster import fold
from grader.results import SubmissionResult
from tests.exporters.conftest import make_result

# The shape of Canvas' Grades > Export: BOM, header, a "Points Possible" row, "Last, First" names.
ROSTER = (
    "\ufeffStudent,ID,SIS User ID,SIS Login ID,Section,A6 BERT (9876),Current Score\n"
    "    Points Possible,,,,,50.00,(read only)\n"
    '"Smith, Alice",101,S001,asmith@uni.edu,CS310-01,,\n'
    '"Jones, Bob",102,S002,bjones,CS310-01,,\n'
    '"Núñez, Carol",103,S003,cnunez,CS310-02,,\n'
    '"Lee, Dan",104,S004,dlee1,CS310-02,,\n'
    '"Lee, Dan",105,S005,dlee2,CS310-02,,\n'
    '"Kim, Erin",106,S006,ekim,CS310-02,,\n'
)


def _roster(tmp_path, text=ROSTER):
    path = tmp_path / "roster.csv"
    path.write_text(text, encoding="utf-8")
    return path


def _sub(student: str, **identity: str) -> SubmissionResult:
    r = make_result(student)
    r.identity = identity
    return r


def test_loads_canvas_export_and_skips_points_possible(tmp_path):
    rows = load_roster(_roster(tmp_path))
    assert [r.canvas_id for r in rows] == ["101", "102", "103", "104", "105", "106"]
    assert rows[0].name == "Smith, Alice" and rows[0].login == "asmith@uni.edu"


def test_matching_rules(tmp_path):
    roster = load_roster(_roster(tmp_path))
    results = [
        _sub("ASMITH"),  # folder named after the login's local part, other case
        _sub("s002"),  # folder named after the SIS user id
        _sub("carol-nunez"),  # a name slug: accents dropped, "First Last"
        _sub("dan_lee"),  # two roster students are called Dan Lee: no guess
        _sub("zed"),  # nobody
        _sub("x", canvas_name="whoever", canvas_id="106"),  # Canvas bulk download: the user id
    ]
    m = match_roster(results, roster)
    assert m.identities["ASMITH"]["canvas_id"] == "101" and m.how["ASMITH"] == "login"
    assert m.identities["s002"]["canvas_id"] == "102" and m.how["s002"] == "sis id"
    assert m.identities["carol-nunez"]["sid"] == "S003" and m.how["carol-nunez"] == "name"
    assert m.identities["x"]["canvas_id"] == "106" and m.how["x"] == "canvas id"
    assert m.unmatched == ["zed"]
    assert m.ambiguous == {"dan_lee": ["Lee, Dan"]}
    assert [r.canvas_id for r in m.without_submission] == ["104", "105"]
    text = "\n".join(m.warnings())
    assert "'zed'" in text and "several roster students" in text and "Lee, Dan (ID 104" in text


def test_canvas_csv_gets_the_ids(tmp_path):
    roster = load_roster(_roster(tmp_path))
    results = [_sub("asmith"), _sub("bjones", email="bjones@uni.edu"), _sub("zed")]
    paths = export_all(results, tmp_path / "out", roster=roster)
    with open(paths["grades_canvas.csv"], newline="") as fh:
        rows = list(csv.reader(fh))
    by_id = {r[1]: r for r in rows[2:]}
    assert by_id["101"][:5] == ["Smith, Alice", "101", "S001", "asmith@uni.edu", "CS310-01"]
    assert by_id["102"][2] == "S002"
    assert by_id[""][0] == "zed"  # unmatched: kept, with its Canvas ID empty (and warned)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("name,email\nA,a@b\n", "no Student or ID column"),
        ("Student,ID\n    Points Possible,\n", "no student rows"),
    ],
)
def test_bad_rosters_say_what_is_wrong(tmp_path, text, says):
    with pytest.raises(RosterError, match=says):
        load_roster(_roster(tmp_path, text))
    with pytest.raises(RosterError, match="cannot read"):
        load_roster(tmp_path / "absent.csv")


def test_fold():
    assert fold("  Núñez,  Carol ") == "nunez carol" and fold("carol-nunez") == "carol nunez"


def test_grade_refuses_a_bad_roster_before_grading(tmp_path, capsys):
    from grader.cli import grade_main

    (tmp_path / "subs").mkdir()
    with pytest.raises(SystemExit) as stop:
        grade_main([str(tmp_path / "subs"), "--roster", str(_roster(tmp_path, "a,b\n1,2\n"))])
    assert stop.value.code == 2
    assert "no Student or ID column" in " ".join(capsys.readouterr().out.split())
