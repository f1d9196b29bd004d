"""End to end with the real sandbox (backend "auto"): exact scores and failing checks of the zoo,
plus the trust properties: labels of classified texts never reach the sandbox, downloads fail.

The reference and the template are graded in the quick run; the whole zoo (22 cases, ~3 min on
2 cores) is ``slow``.
"""

from __future__ import annotations

import pytest

from grader.assignments import get_assignment
from grader.assignments.bert_finetune import data as D
from grader.selftest import grade_zoo, load_zoo

EXPECTED = load_zoo("bert_finetune").cases


def _assert_zoo(only: list[str], jobs: int = 1) -> None:
    _, results = grade_zoo("bert_finetune", jobs=jobs, only=only)
    got = {r.student: (r.score, sorted(c.id for c in r.checks if c.status != "passed"))
           for r in results}
    want = {n: (EXPECTED[n].score, sorted(EXPECTED[n].failing)) for n in only}
    assert got == want, {n: [(c.id, c.status, c.message[:300]) for c in r.checks
                             if c.status != "passed"] for r in results for n in [r.student]}
    for r in results:
        assert not r.integrity_flags, (r.student, r.integrity_flags)


@pytest.mark.slow
def test_reference_and_template() -> None:
    _assert_zoo(["reference", "template"])


@pytest.mark.slow
def test_the_whole_zoo() -> None:
    """Two graders at once, as ``grade`` runs on two cores: the parent's recomputations of one
    submission must not depend on what the other thread draws from torch's global RNG."""
    _assert_zoo(sorted(EXPECTED), jobs=2)


def test_every_zoo_case_is_generated_and_current() -> None:
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "tests/zoo/bert_finetune/make_zoo.py", "--check"],
                         cwd=root, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout
    on_disk = {p.parent.name for p in (root / "tests/zoo/bert_finetune").glob("*/classifier.py")}
    assert on_disk | {"template"} == set(EXPECTED)


def test_no_label_of_a_classified_text_is_sent() -> None:
    """What the interface probe gets: train labels (not scored) and texts without labels."""
    a = get_assignment("bert_finetune")
    prepared = a.prepare(a.default_rubric(), with_reference=False)
    parts = D.load_parts("")
    s = prepared.sample
    assert set(s.eval_texts) <= set(parts["dev"].texts)
    sent = [s.train_texts, s.train_labels, s.eval_texts, s.unlabeled_texts]
    assert list(parts["dev"].labels[: len(s.eval_texts)]) not in sent
    assert sorted(p.name for p in prepared.kit_dir.iterdir()) == []  # the kit holds nothing
    assert not list(prepared.tiny_cache.rglob("*.labels"))
