"""``python -m grader [grade|precheck|gradescope|gradescope-zip] ARGS``; no command means grade.

For machines where the console scripts are not on PATH (a user install, Windows, a venv that
is not activated): ``python -m grader precheck`` is ``precheck``, ``python -m grader SUBS`` is
``grade SUBS``.
"""

from __future__ import annotations

import importlib
import sys

COMMANDS = {  # imported on use: `python -m grader --version` must not load torch
    "grade": ("grader.cli", "grade_main"),
    "precheck": ("grader.cli", "precheck_main"),
    "gradescope": ("grader.gradescope_autograder", "run_autograder"),
    "gradescope-zip": ("grader.gradescope_autograder", "build_zip_main"),
}


def main(argv: list[str] | None = None) -> int:
    """Dispatch to one entry point by its name (default: ``grade``)."""
    args = list(sys.argv[1:] if argv is None else argv)
    name = args.pop(0) if args and args[0] in COMMANDS else "grade"
    module, func = COMMANDS[name]
    return int(getattr(importlib.import_module(module), func)(args))


if __name__ == "__main__":
    raise SystemExit(main())
