"""grades.csv and the Canvas variant: columns, numbers, sanitised text."""

from __future__ import annotations

import csv

from grader.exporters import write_canvas_csv, write_gradebook_csv


def read(path):
    with open(path, newline="") as fh:
        return list(csv.reader(fh))


def test_gradebook_columns_and_rows(klass, tmp_path):
    path = tmp_path / "grades.csv"
    write_gradebook_csv(klass, path)
    rows = read(path)
    assert rows[0] == [
        "student",
        "score",
        "max_score",
        "status",
        "outcome",
        "message",
        "forward",
        "weights",
        "training",
        "style",
        "warnings",
        "integrity_flags",
        "source",
        "submission_hash",
    ]
    body = {r[0]: dict(zip(rows[0], r)) for r in rows[1:]}
    assert list(body) == ["alice", "bob", "carol", "dave", "eve"]
    assert body["alice"]["score"] == "8.5" and body["alice"]["training"] == "4.0"
    assert body["bob"]["forward"] == "0.0" and body["carol"]["status"] == "incomplete"
    assert body["dave"]["status"] == "no_submission" and body["dave"]["forward"] == ""
    assert body["eve"]["message"].startswith("'=HYPERLINK")  # no formula injection
    assert "printed loss disagrees" in body["alice"]["integrity_flags"]
    for r in rows[1:]:
        float(r[1]), float(r[2])


def test_canvas_csv(klass, tmp_path):
    path = tmp_path / "canvas.csv"
    write_canvas_csv(
        klass,
        path,
        assignment_name="A6 BERT",
        assignment_id=9876,
        identities={
            "alice": {"name": "Alice Smith", "canvas_id": "11", "sid": "S1", "login": "asmith"}
        },
    )
    rows = read(path)
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "A6 BERT (9876)"]
    assert rows[1] == ["    Points Possible", "", "", "", "", "10.0"]
    by_name = {r[0]: r for r in rows[2:]}
    assert by_name["Alice Smith"][1:] == ["11", "S1", "asmith", "", "8.5"]
    assert by_name["eve"][1] == "4242"  # Canvas user id read from the intake's source line


def test_canvas_csv_without_assignment_id(klass, tmp_path):
    path = tmp_path / "canvas.csv"
    write_canvas_csv(klass, path)
    assert read(path)[0][-1] == "bert_pretrain"
