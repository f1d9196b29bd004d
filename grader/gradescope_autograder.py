"""Gradescope mode: run the same grader inside Gradescope's autograder container.

``run_autograder`` (installed as ``nlpgrade-gradescope``) reads ``$ROOT/submission``, grades it
with the bundled rubric and reference, and writes ``$ROOT/results/results.json``; ``$ROOT`` is
``$NLPGRADE_GRADESCOPE_ROOT`` or Gradescope's ``/autograder``. ``build_autograder_zip`` makes the
zip an instructor uploads: ``setup.sh`` and ``run_autograder`` (mode 0755) and the course's
grader source (package, constraints, rubrics, reference), all at the zip's top level, because
Gradescope unpacks the zip into ``/autograder/source``. It needs a checkout
of the course repository: an installed wheel has no reference solution, so it refuses there.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

if TYPE_CHECKING:
    from grader.batch import RunPlan

EXIT_USAGE = 2
EXEC_MODE = 0o100755  # a regular file, rwxr-xr-x: Gradescope runs both scripts directly
FILE_MODE = 0o100644


def autograder_root() -> Path:
    """Gradescope's tree: ``$NLPGRADE_GRADESCOPE_ROOT`` (tests, local runs) or ``/autograder``."""
    return Path(os.environ.get("NLPGRADE_GRADESCOPE_ROOT", "/autograder"))


SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image (it is unpacked at
# $ROOT/source). The grading versions (constraints/grading.txt) need Python >= 3.11: it takes
# the newest python3.X >= 3.11 on the image (Ubuntu 24.04 has 3.12), else apt's python3.11
# (Ubuntu 22.04 has it in universe), else a Python >= 3.10 with the package's ranges and only
# torch pinned (the results then record which versions differ from the course's).
# Optional environment:
#   NLPGRADE_GRADESCOPE_ROOT  Gradescope's tree (default /autograder; the tests use a temp dir)
#   NLPGRADE_PYTHON           the interpreter for the venv (default: newest python3.X >= 3.10)
#   NLPGRADE_VENV             where the venv goes (default /opt/nlpgrade)
#   NLPGRADE_WHEELHOUSE       a folder of wheels: install offline from it only
set -euo pipefail
ROOT="${{NLPGRADE_GRADESCOPE_ROOT:-/autograder}}"
SRC="$ROOT/source"
VENV="${{NLPGRADE_VENV:-/opt/nlpgrade}}"
export NLPGRADE_CACHE="${{NLPGRADE_CACHE:-$VENV/cache}}"

pick_python() {{  # $1: the lowest minor version accepted
  for py in ${{NLPGRADE_PYTHON:-}} python3.14 python3.13 python3.12 python3.11 python3.10 \\
      python3; do
    if command -v "$py" >/dev/null 2>&1 && "$py" -c \\
        "import sys, ensurepip, venv; sys.exit(sys.version_info < (3, $1))" 2>/dev/null; then
      command -v "$py"
      return 0
    fi
  done
  return 1
}}
if ! PY=$(pick_python 11); then
  apt-get update -q || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3.11 python3.11-venv \\
    || DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3 python3-venv python3-pip \\
    || true
  PY=$(pick_python 11) || PY=$(pick_python 10) || {{
    echo "setup.sh: no Python >= 3.10 with venv here; choose Ubuntu 22.04 or newer." >&2
    exit 1
  }}
fi
echo "setup.sh: $("$PY" -V) from $PY"
if "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  PINS=(-c "$SRC/constraints/grading.txt")
else  # the pins need 3.11 (numpy 2.4): keep torch exact, the rest from the package's ranges
  PINS=("$(grep -E '^torch==' "$SRC/constraints/grading.txt")")
  echo "setup.sh: Python < 3.11, only ${{PINS[0]}} is pinned; results record the drift" >&2
fi
"$PY" -m venv "$VENV"
if [ -n "${{NLPGRADE_WHEELHOUSE:-}}" ]; then
  SOURCES=(--no-index --find-links "$NLPGRADE_WHEELHOUSE")
else  # CPU torch from PyTorch's index (never a CUDA build), the rest from PyPI
  SOURCES=(--index-url https://download.pytorch.org/whl/cpu
           --extra-index-url https://pypi.org/simple)
fi
"$VENV/bin/pip" install -q --disable-pip-version-check "${{SOURCES[@]}}" "${{PINS[@]}}" \\
  "$SRC{extras}"
# Build the kit and calibrate now, into the image, so that each submission only grades.
NLPGRADE_REFERENCE_ROOT="$SRC/reference" NLPGRADE_RUBRIC_ROOT="$SRC/rubrics" \\
  "$VENV/bin/nlpgrade-gradescope" --assignment {assignment}{profile_arg} \\
  --sandbox {sandbox} --prepare-only
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for every submission (in a fresh container built by setup.sh).
set -euo pipefail
ROOT="${{NLPGRADE_GRADESCOPE_ROOT:-/autograder}}"
VENV="${{NLPGRADE_VENV:-/opt/nlpgrade}}"
cd "$ROOT/source"
export NLPGRADE_GRADESCOPE_ROOT="$ROOT" NLPGRADE_CACHE="${{NLPGRADE_CACHE:-$VENV/cache}}"
export NLPGRADE_REFERENCE_ROOT="$ROOT/source/reference" NLPGRADE_RUBRIC_ROOT="$ROOT/source/rubrics"
exec "$VENV/bin/nlpgrade-gradescope" --assignment {assignment}{profile_arg} \\
  --sandbox {sandbox}
"""

# What /autograder/source must hold for setup.sh to install a grader that can grade.
SOURCE_PARTS = ("pyproject.toml", "README.md", "constraints", "grader", "rubrics", "reference")


def _plan(assignment_name: str | None, profile: str | None, sandbox: str, out_dir: Path) -> RunPlan:
    from grader.assignments import default_assignment, get_assignment
    from grader.batch import RunPlan
    from grader.sandbox import get_sandbox

    assignment = get_assignment(assignment_name or default_assignment())
    rubric = assignment.default_rubric()
    if profile and profile not in assignment.profiles:
        offered = ", ".join(sorted(assignment.profiles)) or "none"
        raise ValueError(f"--profile {profile!r}: {assignment.name} offers: {offered}")
    if profile:
        rubric = rubric.model_copy(update={"settings": {**rubric.settings, "profile": profile}})
    return RunPlan(
        assignment=assignment,
        rubric=rubric,
        sandbox=get_sandbox(sandbox),
        out_dir=out_dir,
        with_reference=assignment.reference_dir() is not None,
    )


def run_autograder(argv: list[str] | None = None) -> int:
    """Grade ``$ROOT/submission`` and write Gradescope's ``results.json``."""
    from grader.atomic import atomic_write_text
    from grader.batch import grade_one, prepare_run
    from grader.context import SharedMemo
    from grader.exporters import to_gradescope, validate_gradescope
    from grader.intake import stage_one

    p = argparse.ArgumentParser(prog="nlpgrade-gradescope")
    p.add_argument("--assignment", default=None, help="default: the plug-ins' default")
    p.add_argument("--profile", default=None)
    p.add_argument("--sandbox", default="auto")
    p.add_argument(
        "--prepare-only", action="store_true", help="build the kit and calibrate, then stop"
    )
    args = p.parse_args(argv)
    console = Console(stderr=True)
    root = autograder_root()
    from rich.markup import escape

    from grader.sandbox import SandboxUnavailable

    with tempfile.TemporaryDirectory(prefix="nlpgrade-gs-") as tmp:
        try:  # auto never falls back to running student code unisolated
            plan = _plan(args.assignment, args.profile, args.sandbox, Path(tmp))
        except SandboxUnavailable as exc:
            console.print(f"[red]No sandbox to grade in:[/] {escape(str(exc))}")
            return EXIT_USAGE
        except (KeyError, ValueError) as exc:  # unknown assignment or profile
            console.print(f"[red]{escape(str(exc.args[0]))}[/]")
            return EXIT_USAGE
        if not plan.with_reference:
            console.print("[red]No reference solution found[/] (set NLPGRADE_REFERENCE_ROOT).")
            return EXIT_USAGE
        prepare_run(plan)
        if args.prepare_only:
            console.print(f"kit ready for {plan.assignment.name} (sandbox {plan.sandbox.name})")
            return 0
        assignment = plan.assignment
        sub = stage_one(
            root / "submission",
            Path(tmp) / "staging",
            student="submission",
            expected_files=assignment.required_files,
            optional_files=assignment.optional_files + assignment.framework_files,
        )
        shared = SharedMemo()
        try:
            result = grade_one(sub, plan, shared)
        finally:
            shared.close()
    doc = to_gradescope(result)
    errors = validate_gradescope(doc)
    if errors:
        console.print(f"[red]results.json does not follow Gradescope's format:[/] {errors}")
        return 1
    atomic_write_text(root / "results" / "results.json", json.dumps(doc, indent=2))
    console.print(f"score {result.score:g} / {result.max_score:g}")
    return 0


def missing_parts(root: Path, assignment: str) -> list[str]:
    """What a course checkout at ``root`` lacks for a working autograder zip."""
    needed = [
        "pyproject.toml",
        "constraints/grading.txt",
        "grader/__init__.py",
        f"rubrics/{assignment}.toml",
        f"reference/{assignment}",
    ]
    return [part for part in needed if not (root / part).exists()]


def _source_files(root: Path, part: str) -> list[Path]:
    path = root / part
    if path.is_file():
        return [path]
    found = []
    # followlinks: grader/rubrics is a symlink to rubrics/ and must reach the zip as files
    for folder, dirs, files in os.walk(path, followlinks=True):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__" and not d.startswith("."))
        found += [Path(folder) / f for f in sorted(files) if not f.endswith((".pyc", ".pyo"))]
    return found


def _add(zf: zipfile.ZipFile, name: str, data: bytes, mode: int) -> None:
    info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))  # reproducible zips
    info.external_attr = mode << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    zf.writestr(info, data)


def build_autograder_zip(
    dest: Path,
    assignment: str | None = None,
    profile: str | None = None,
    root: Path | None = None,
    sandbox: str = "auto",
) -> Path:
    """Write the autograder zip an instructor uploads; ``ValueError`` if ``root`` lacks parts.

    ``assignment`` defaults to the plug-ins' default; ``profile`` to the rubric's (no flag).
    """
    from grader.assignments import default_assignment, get_assignment
    from grader.assignments.base import REPO_ROOT

    assignment = assignment or default_assignment()
    extras = get_assignment(assignment).package_extras
    root = REPO_ROOT if root is None else root
    missing = missing_parts(root, assignment)
    if missing:
        raise ValueError(
            f"{root} is not a course checkout of nlpgrade: it has no {', '.join(missing)}. "
            "An installed package carries no reference solution; run nlpgrade-gradescope-zip "
            "in the course repository, or pass --root PATH to it."
        )
    profile_arg = f" --profile {profile}" if profile else ""
    fmt = {"assignment": assignment, "profile_arg": profile_arg, "sandbox": sandbox,
           "extras": f"[{','.join(extras)}]" if extras else ""}
    with zipfile.ZipFile(dest, "w") as zf:
        _add(zf, "setup.sh", SETUP_SH.format(**fmt).encode(), EXEC_MODE)
        _add(zf, "run_autograder", RUN_AUTOGRADER.format(**fmt).encode(), EXEC_MODE)
        for part in SOURCE_PARTS:
            for f in _source_files(root, part):
                _add(zf, str(f.relative_to(root)), f.read_bytes(), FILE_MODE)
    return dest


def _default_root() -> Path | None:
    """The current folder when it is a course checkout, else the package's own (editable) one."""
    cwd = Path.cwd()
    return cwd if (cwd / "reference").is_dir() and (cwd / "pyproject.toml").is_file() else None


def build_zip_main(argv: list[str] | None = None) -> int:
    """``nlpgrade-gradescope-zip OUT.zip``: build the Gradescope autograder zip, or refuse."""
    p = argparse.ArgumentParser(
        prog="nlpgrade-gradescope-zip",
        description="Build the autograder zip to upload to Gradescope, from a checkout of the "
        "course repository (it must hold reference/ and rubrics/).",
    )
    p.add_argument("dest", type=Path)
    p.add_argument("--assignment", default=None, help="default: the plug-ins' default")
    p.add_argument("--profile", default=None, help="default: the rubric's")
    p.add_argument(
        "--sandbox",
        default="auto",
        choices=["auto", "bwrap", "docker", "process"],
        help="the sandbox run_autograder asks for (default: auto, which refuses to grade without "
        "isolation; Gradescope's containers usually have no user namespaces for bwrap: pass "
        "process to accept the per-submission container as the only isolation)",
    )
    p.add_argument(
        "--root",
        type=Path,
        default=None,
        help="the course checkout (default: the current folder if it is one, else the "
        "checkout this grader is installed from in editable mode)",
    )
    args = p.parse_args(argv)
    console = Console(stderr=True)
    try:
        build_autograder_zip(
            args.dest, args.assignment, args.profile, args.root or _default_root(), args.sandbox
        )
    except (KeyError, ValueError) as exc:
        console.print(f"[red]No zip written:[/] {exc}")
        return EXIT_USAGE
    Console().print(f"wrote {args.dest}")
    return 0


if __name__ == "__main__":
    sys.exit(build_zip_main())
