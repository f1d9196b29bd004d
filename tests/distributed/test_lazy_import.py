"""Students' ``precheck`` and local grading never import Dask (it is an optional extra)."""

from __future__ import annotations

import subprocess
import sys


def test_cli_and_precheck_do_not_import_dask() -> None:
    code = (
        "import sys, grader.cli, grader.precheck, grader.batch\n"
        "grader.cli.grade_parser().parse_args(['x', '--cluster', 'local:2'])\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed'))\n"
        "assert not bad, bad\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
