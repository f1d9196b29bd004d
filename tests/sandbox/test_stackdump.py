"""Parsing the stack a stopped probe dumped: only the submission's frames, innermost last."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from grader.sandbox.stackdump import parse_stack, read_stack


def _real_dump(tmp_path: Path) -> str:
    """A faulthandler dump of a real process stuck two calls deep in a 'submission' file."""
    sub = tmp_path / "submission"
    sub.mkdir()
    (sub / "model.py").write_text(textwrap.dedent("""\
        import faulthandler, sys, threading, time

        def inner():
            faulthandler.dump_traceback(file=sys.stdout, all_threads=True)

        def outer():
            inner()

        threading.Thread(target=time.sleep, args=(5,), daemon=True).start()
        outer()
        """))
    run = subprocess.run([sys.executable, str(sub / "model.py")], capture_output=True, text=True,
                         timeout=60, check=True)
    return run.stdout


def test_real_dump_keeps_submission_frames_innermost_last(tmp_path: Path) -> None:
    text = _real_dump(tmp_path)
    assert "most recent call first" in text
    frames = parse_stack(text, str(tmp_path / "submission"))
    assert frames == ["model.py:10 in <module>", "model.py:7 in outer", "model.py:4 in inner"]


def test_other_files_and_odd_names_are_dropped() -> None:
    text = textwrap.dedent("""\
        Timeout (0:00:19)!
        Thread 0x00007f0000000001 (most recent call first):
          File "/usr/lib/python3.11/threading.py", line 320 in wait
          File "/submission/../reference/model.py", line 5 in forward
          File "/submission/model.py", line 99 in <script>ALERT
          File "/reference_model/model.py", line 12 in forward
          File "/submission/train.py", line 40 in <module>
        """)
    assert parse_stack(text, "/submission") == ["train.py:40 in <module>"]


def test_no_file_or_garbage_gives_nothing(tmp_path: Path) -> None:
    assert read_stack(tmp_path, "/submission") == []
    (tmp_path / "stack.txt").write_bytes(b"\xff\x00garbage\n  File \"/submission/x.py\"\n")
    assert read_stack(tmp_path, "/submission") == []
