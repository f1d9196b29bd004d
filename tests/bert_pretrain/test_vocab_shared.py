"""The framework vocabulary reproduces the course's ``vocab.txt`` from the course corpus.

Needs the course data in ``<repo>/../shared/cs310-a6-data/`` (never committed); skipped when it
is absent.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.assignments.bert_pretrain.kit import FRAMEWORK_DIR, build_kit, framework_modules

REPO = Path(__file__).resolve().parents[2]
COURSE_DATA = Path(REPO).parent / "shared" / "cs310-a6-data"
CORPUS = COURSE_DATA / "data_clean.txt"
VOCAB = COURSE_DATA / "vocab.txt"

pytestmark = [
    pytest.mark.shared,
    pytest.mark.skipif(not (CORPUS.exists() and VOCAB.exists()),
                       reason=f"course data not found in {COURSE_DATA}"),
]


def test_build_vocab_reproduces_course_vocab(tmp_path: Path) -> None:
    with framework_modules(FRAMEWORK_DIR) as mods:
        vocab = mods["vocab"]
        word_to_id, id_to_word, input_ids_list = vocab.build_vocab(str(CORPUS), vocab.tokenizer)
        vocab.save_vocab(word_to_id, str(tmp_path / "vocab.txt"))
        course_word_to_id, course_id_to_word = vocab.load_vocab(str(VOCAB))
    assert len(word_to_id) == 3348
    assert word_to_id == course_word_to_id
    assert list(word_to_id.items())[:5] == [
        ("[PAD]", 0), ("[UNK]", 1), ("[CLS]", 2), ("[SEP]", 3), ("[MASK]", 4)]
    assert id_to_word == course_id_to_word
    assert (tmp_path / "vocab.txt").read_bytes() == VOCAB.read_bytes()
    assert len(input_ids_list) == sum(1 for line in CORPUS.open(encoding="utf-8") if line.strip())


@pytest.mark.slow
def test_kit_from_course_corpus(tmp_path: Path) -> None:
    kit = build_kit("small", corpus=CORPUS, cache_dir=tmp_path)
    assert kit.vocab_size == 3348
    assert kit.path("vocab.txt").read_bytes() == VOCAB.read_bytes()
    assert kit.n_full_batches > 5000  # one pass over the course corpus
