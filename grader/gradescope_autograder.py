"""Gradescope mode: run the same grader inside Gradescope's autograder container.

``run_autograder`` (installed as ``nlpgrade-gradescope``) reads ``/autograder/submission``,
grades it with the bundled rubric and reference, and writes ``/autograder/results/results.json``.
``build_autograder_zip`` makes the zip an instructor uploads: ``setup.sh``, ``run_autograder`` and
the grader's source (package, rubrics, reference) under ``source/``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import zipfile
from pathlib import Path

from rich.console import Console

from grader.assignments import get_assignment
from grader.assignments.base import REPO_ROOT
from grader.atomic import atomic_write_text
from grader.batch import RunPlan, grade_one, prepare_run
from grader.context import SharedSessions
from grader.exporters import to_gradescope, validate_gradescope
from grader.intake import stage_one
from grader.sandbox import get_sandbox

AUTOGRADER = Path(os.environ.get("NLPGRADE_GRADESCOPE_ROOT", "/autograder"))

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once when it builds the autograder image.
set -euo pipefail
apt-get update -q && apt-get install -y -q python3 python3-venv python3-pip bubblewrap
python3 -m venv /opt/nlpgrade
/opt/nlpgrade/bin/pip install -q torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
/opt/nlpgrade/bin/pip install -q /autograder/source
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for every submission.
cd /autograder/source
NLPGRADE_REFERENCE_ROOT=/autograder/source/reference \\
NLPGRADE_RUBRIC_ROOT=/autograder/source/rubrics \\
exec /opt/nlpgrade/bin/nlpgrade-gradescope --assignment {assignment} --profile {profile}
"""

SOURCE_PARTS = ("pyproject.toml", "README.md", "grader", "rubrics", "reference")


def run_autograder(argv: list[str] | None = None) -> int:
    """Grade ``/autograder/submission`` and write Gradescope's ``results.json``."""
    p = argparse.ArgumentParser(prog="nlpgrade-gradescope")
    p.add_argument("--assignment", default="bert_pretrain")
    p.add_argument("--profile", default=None)
    p.add_argument("--sandbox", default="auto")
    args = p.parse_args(argv)
    console = Console(stderr=True)
    assignment = get_assignment(args.assignment)
    rubric = assignment.default_rubric()
    if args.profile:
        rubric = rubric.model_copy(
            update={"settings": {**rubric.settings, "profile": args.profile}}
        )
    with tempfile.TemporaryDirectory(prefix="nlpgrade-gs-") as tmp:
        plan = RunPlan(
            assignment=assignment,
            rubric=rubric,
            sandbox=get_sandbox(args.sandbox),
            out_dir=Path(tmp),
            with_reference=assignment.reference_dir() is not None,
        )
        prepare_run(plan)
        sub = stage_one(
            AUTOGRADER / "submission",
            Path(tmp) / "staging",
            student="submission",
            expected_files=assignment.required_files,
            optional_files=assignment.optional_files + assignment.framework_files,
        )
        shared = SharedSessions()
        try:
            result = grade_one(sub, plan, shared)
        finally:
            shared.close()
    doc = to_gradescope(result)
    errors = validate_gradescope(doc)
    if errors:
        console.print(f"[red]results.json does not follow Gradescope's format:[/] {errors}")
        return 1
    import json

    atomic_write_text(AUTOGRADER / "results" / "results.json", json.dumps(doc, indent=2))
    console.print(f"score {result.score:g} / {result.max_score:g}")
    return 0


def build_autograder_zip(
    dest: Path, assignment: str = "bert_pretrain", profile: str = "official", root: Path = REPO_ROOT
) -> Path:
    """Write the autograder zip an instructor uploads to Gradescope."""
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("setup.sh", SETUP_SH)
        zf.writestr("run_autograder", RUN_AUTOGRADER.format(assignment=assignment, profile=profile))
        for part in SOURCE_PARTS:
            path = root / part
            files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
            for f in files:
                if "__pycache__" in f.parts:
                    continue
                zf.write(f, f"source/{f.relative_to(root)}")
    return dest


def build_zip_main(argv: list[str] | None = None) -> int:
    """``nlpgrade-gradescope-zip OUT.zip``: build the Gradescope autograder zip."""
    p = argparse.ArgumentParser(prog="nlpgrade-gradescope-zip")
    p.add_argument("dest", type=Path)
    p.add_argument("--assignment", default="bert_pretrain")
    p.add_argument("--profile", default="official")
    args = p.parse_args(argv)
    build_autograder_zip(args.dest, args.assignment, args.profile)
    Console().print(f"wrote {args.dest}")
    return 0
