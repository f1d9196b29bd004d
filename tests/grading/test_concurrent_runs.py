"""Runs that share a host: two ``grade`` runs of one class (separate ``--out``) and a
``precheck``, started at the same moment against one EMPTY cache, give exactly what a lone run
gives (kits are built once, under a lock, and renamed into place; scratch is per run). None
leaves anything in its temp dir or in /dev/shm."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from grader.results import SubmissionResult

from .fresh import ROOT, AreaWatch, start

pytestmark = pytest.mark.slow

EXAMPLES = ROOT / "examples" / "bert_pretrain"
# A part of the bundled class (a correct row, a bug, a syntax error): the full class three times
# over would cost CI minutes without covering more.
MEMBERS = ("alice_correct", "carol_syntax_error", "dave_no_tying")


def _verdicts(checks: list[Any]) -> list[tuple[Any, ...]]:
    return [(c.id, c.status, c.score, c.message, c.details) for c in checks]


def _grades(out: Path) -> dict[str, tuple[Any, ...]]:
    rows = {
        p.stem: SubmissionResult.model_validate_json(p.read_text())
        for p in sorted((out / "results").glob("*.json"))
    }
    return {
        k: (
            r.score,
            r.status,
            r.message,
            r.cache_key,
            _verdicts(r.checks),
            [(i.id, i.points) for i in r.items],
        )
        for k, r in rows.items()
    }


def _precheck(output: str) -> tuple[Any, ...]:
    """The verdicts of ``precheck --json`` (its JSON follows any warnings on stderr)."""
    doc, _ = json.JSONDecoder().raw_decode(output[output.index('{\n  "schema_version"') :])
    checks = [(c["id"], c["status"], c["score"], c["message"], c["details"]) for c in doc["checks"]]
    return (doc["score"], doc["status"], checks)


def _launch(
    klass: Path, tmp: Path, cache: Path, home: Path, work: Path, tag: str
) -> dict[str, Any]:
    env = {"NLPGRADE_CACHE": str(cache), "TMPDIR": str(tmp), "COLUMNS": "160"}
    procs = {
        f"grade{tag}": start(
            [".venv/bin/grade", str(klass), "--profile", "small", "--out", str(work / f"out{tag}")],
            home,
            ROOT,
            **env,
        ),
        f"pre{tag}": start(
            [str(ROOT / ".venv/bin/precheck"), "--json", "--profile", "small"],
            home,
            work / "alice",
            **env,
        ),
    }
    return procs


def _finish(procs: dict[str, subprocess.Popen[str]]) -> dict[str, str]:
    outs = {}
    for name, proc in procs.items():
        text, _ = proc.communicate(timeout=2400)
        outs[name] = text
        # grade exits 1 (documented): the class holds a row that cannot be fully graded.
        assert proc.returncode == (1 if name.startswith("grade") else 0), (name, text[-4000:])
    return outs


def test_two_grades_and_a_precheck_at_once_match_a_lone_run(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    klass = tmp_path / "class"
    for member in MEMBERS:
        shutil.copytree(EXAMPLES / member, klass / member)
    shutil.copytree(EXAMPLES / "alice_correct", tmp_path / "alice")
    lone_tmp, many_tmp = tmp_path / "tmp-lone", tmp_path / "tmp-many"
    lone_tmp.mkdir()
    many_tmp.mkdir()
    with AreaWatch((Path("/dev/shm"), lone_tmp, many_tmp)) as watch:
        lone = {
            "grade": start(
                [
                    ".venv/bin/grade",
                    str(klass),
                    "--profile",
                    "small",
                    "--out",
                    str(tmp_path / "out-lone"),
                ],
                home,
                ROOT,
                NLPGRADE_CACHE=str(tmp_path / "cache-lone"),
                TMPDIR=str(lone_tmp),
            )
        }
        watch.pids.update(p.pid for p in lone.values())
        _finish(lone)
        pre = start(
            [str(ROOT / ".venv/bin/precheck"), "--json", "--profile", "small"],
            home,
            tmp_path / "alice",
            NLPGRADE_CACHE=str(tmp_path / "cache-lone"),
            TMPDIR=str(lone_tmp),
        )
        watch.pids.add(pre.pid)
        pre_lone = _finish({"pre": pre})["pre"]

        cache = tmp_path / "cache-shared"  # empty: all three build the kit at the same moment
        procs = {
            **_launch(klass, many_tmp, cache, home, tmp_path, "1"),
            "grade2": start(
                [
                    ".venv/bin/grade",
                    str(klass),
                    "--profile",
                    "small",
                    "--out",
                    str(tmp_path / "out2"),
                ],
                home,
                ROOT,
                NLPGRADE_CACHE=str(cache),
                TMPDIR=str(many_tmp),
            ),
        }
        watch.pids.update(p.pid for p in procs.values())
        outs = _finish(procs)
        watch.scan()

    lone_grades = _grades(tmp_path / "out-lone")
    assert lone_grades["alice_correct"][0] == 50
    assert _grades(tmp_path / "out1") == lone_grades
    assert _grades(tmp_path / "out2") == lone_grades
    assert _precheck(outs["pre1"]) == _precheck(pre_lone)
    kits = [
        k
        for k in (cache / "kits").iterdir()
        if not k.name.startswith(".") and not k.name.endswith(".private")
    ]
    assert len(kits) == 1 and json.loads((kits[0] / "kit.json").read_text())["files"]
    hidden = [p.name for p in (cache / "kits").iterdir() if p.name.startswith(".")]
    assert hidden == [f".{kits[0].name}.lock"]  # no half-built folder left behind
    assert list(lone_tmp.iterdir()) == [] and list(many_tmp.iterdir()) == []
    assert watch.seen and watch.left_over() == []
