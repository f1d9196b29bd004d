"""The README's commands on a user's machine: ``env -i`` with a fresh ``HOME``, bytecode writing
on, no project variable. ``grade`` on the bundled class and ``precheck`` (the template and a
correct solution) work; the kit holds only its listed files; nothing of a run is left in /tmp
or /dev/shm, and its temp areas are private (0700, owner file 0600) while it runs."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from grader.results import SubmissionResult

from .fresh import ROOT, AreaWatch, start

pytestmark = pytest.mark.slow

EXAMPLES = ROOT / "examples" / "bert_pretrain"
EXPECTED = {"alice_correct": 50, "bob_template": 0, "carol_syntax_error": 0,
            "dave_no_tying": 46, "erin_causal_mask": 41, "frank_loss_lm_only": 50}


def _kits_hold_only_listed_files(home: Path) -> None:
    kits = home / ".cache" / "nlpgrade" / "kits"
    found = [k for k in kits.iterdir() if (k / "kit.json").is_file()]
    assert found, f"no kit was built under {kits}"
    for kit in found:
        listed = set(json.loads((kit / "kit.json").read_text())["files"]) | {"kit.json"}
        assert {p.name for p in kit.iterdir()} == listed, kit


def test_grade_and_precheck_as_a_new_user(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    times: dict[str, float] = {}
    with AreaWatch() as watch:
        t0 = time.monotonic()
        proc = start([".venv/bin/grade", "examples/bert_pretrain", "--profile", "small",
                      "--out", str(tmp_path / "out")], home, ROOT)
        watch.pids.add(proc.pid)
        out, _ = proc.communicate(timeout=1800)
        times["grade"] = time.monotonic() - t0
        # Exit 1 is documented: the class holds a syntax error, a row that cannot be fully graded.
        assert proc.returncode == 1, out[-4000:]
        for name, (folder, train) in {
            "template": (ROOT / "student_template" / "bert_pretrain", False),
            "correct": (EXAMPLES / "alice_correct", True),
        }.items():
            work = tmp_path / name
            shutil.copytree(folder, work)
            t0 = time.monotonic()
            # The bundled examples were trained in the small profile (the course's is 'official').
            cmd = [str(ROOT / ".venv" / "bin" / "precheck"), "--profile", "small",
                   *([] if train else ["--no-train"])]
            pre = start(cmd, home, work)
            watch.pids.add(pre.pid)
            text, _ = pre.communicate(timeout=900)
            times[f"precheck {name}"] = time.monotonic() - t0
            assert "Traceback" not in text, text[-4000:]
            assert pre.returncode == (0 if name == "correct" else 1), text[-4000:]
            assert ("Not written yet" in text) == (name == "template"), text[-3000:]
        watch.scan()
    print("env -i wall times (s):", {k: round(v, 1) for k, v in times.items()})
    grades = {p.stem: SubmissionResult.model_validate_json(p.read_text())
              for p in (tmp_path / "out" / "results").glob("*.json")}
    assert {k: v.score for k, v in grades.items()} == EXPECTED
    _kits_hold_only_listed_files(home)
    assert not (home / ".cache" / "nlpgrade" / "kits" / "__pycache__").exists()
    # The run's private temp areas: seen while it ran, private, and gone afterwards.
    assert watch.seen, "no run-owned temp area was seen: the watch is broken"
    assert all(modes == (0o700, 0o600) for modes in watch.seen.values()), watch.seen
    assert watch.left_over() == []
