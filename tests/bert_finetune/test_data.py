"""The project's own review set and the FILIMDB reader: seeded, balanced, with the hard cases the
checks need; the interface sample holds no label of the texts it classifies."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.assignments.bert_finetune import data as D
from grader.assignments.bert_finetune import reviews


def test_the_set_is_seeded_balanced_and_has_hard_cases() -> None:
    parts = reviews.make_parts()
    assert parts == reviews.make_parts()
    assert parts != reviews.make_parts(seed=14)
    for name, n in reviews.PARTS.items():
        texts, labels = parts[name]
        assert len(texts) == len(labels) == n
        assert labels.count("pos") == labels.count("neg")
        assert all(t and "\n" not in t for t in texts)
    train = parts["train"][0]
    assert max(len(t.split()) for t in train) > 600  # past 512 WordPieces
    assert any(not t.isascii() for t in train)
    assert parts["train_unlabeled"][1] is None


def test_filimdb_round_trip(tmp_path: Path) -> None:
    reviews.write_filimdb(tmp_path / "FILIMDB")
    parts = D.read_filimdb(tmp_path / "FILIMDB")
    mine = D.load_parts("")
    assert parts == mine
    (tmp_path / "FILIMDB" / "dev.labels").write_text("pos\n")
    with pytest.raises(ValueError, match="1 labels for 96 texts"):
        D.read_filimdb(tmp_path / "FILIMDB")


def test_interface_sample() -> None:
    parts = D.load_parts("")
    sample = D.interface_sample(parts)
    assert len(sample.train_texts) == len(sample.train_labels) == 64
    assert sample.train_labels.count("pos") == 32
    longest = max(parts["train"].texts, key=lambda t: len(t.split()))
    assert longest in sample.train_texts
    assert sample.eval_texts == list(parts["dev"].texts[:32])
    assert not hasattr(sample, "eval_labels")


@pytest.mark.shared
def test_the_course_data_reads_when_present() -> None:
    folder = Path(__file__).resolve().parents[3] / "shared" / "filimdb-mini"
    if not folder.is_dir():
        pytest.skip("../shared/filimdb-mini is absent")
    parts = D.read_filimdb(folder)
    assert len(parts["train"].texts) == 1462 and parts["train_unlabeled"].labels is None
    assert D.interface_sample(parts).eval_texts == list(parts["dev"].texts[:32])
