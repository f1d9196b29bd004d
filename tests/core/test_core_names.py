"""The core (``grader/`` outside ``grader/assignments/<name>/``) names no assignment.

What an assignment is called, its profiles, its checkpoint file and its precheck settings and
checks live only in its plug-in; the core reaches them through ``assignments.base.Assignment``.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from grader.assignments import all_assignments

GRADER = Path(__file__).resolve().parents[2] / "grader"
# Names that must never come back, whatever the installed plug-ins are.
ALWAYS = ("bert_pretrain", "mlm_step", "bert_finetune", "bert_model.pt", "own_training")


def core_files() -> list[Path]:
    """Every source file of the core."""
    plugins = GRADER / "assignments"
    return [
        p
        for p in sorted(GRADER.rglob("*.py"))
        if not (p.parent != plugins and plugins in p.parents)
    ]


def forbidden() -> tuple[set[str], set[str]]:
    """(words that may not appear anywhere, strings that may not be a literal) of the core."""
    words = set(ALWAYS)
    literals: set[str] = set()
    for a in all_assignments().values():
        words.add(a.name)
        if a.checkpoint_file:
            words.add(a.checkpoint_file)
        words |= set(a.precheck_settings(train=True)) | set(a.precheck_checks(train=True))
        literals |= set(a.profiles)  # "small" is English: only a string literal of it counts
    return words, literals


def offences(path: Path, words: set[str], literals: set[str]) -> list[str]:
    """``file:line: name`` for every forbidden name in ``path``."""
    text = path.read_text(encoding="utf-8")
    rel = path.relative_to(GRADER.parent) if GRADER in path.parents else path.name
    found = []
    for word in sorted(words):
        for m in re.finditer(rf"(?<![\w.]){re.escape(word)}(?![\w])", text):
            found.append(f"{rel}:{text.count(chr(10), 0, m.start()) + 1}: {word}")
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Constant) and node.value in literals:
            found.append(f"{rel}:{node.lineno}: {node.value!r}")
    return found


def test_the_core_names_no_assignment() -> None:
    words, literals = forbidden()
    assert {"bert_pretrain", "official", "small"} <= words | literals  # the scan is armed
    found = [o for p in core_files() for o in offences(p, words, literals)]
    assert found == [], "assignment names in the core:\n" + "\n".join(found)


def test_the_scan_finds_a_name(tmp_path: Path) -> None:
    bad = tmp_path / "x.py"
    bad.write_text('"""Uses bert_pretrain."""\nPROFILE = "official"\nWORD = "a small thing"\n')
    found = offences(bad, {"bert_pretrain", "small"}, {"official", "small"})
    assert found == ["x.py:1: bert_pretrain", "x.py:3: small", "x.py:2: 'official'"]
    assert offences(bad, {"pretrain"}, {"thing"}) == []  # whole words, whole literals
