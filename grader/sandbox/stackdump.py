"""Where a stopped probe was: the student's frames of the stack the child dumped on a timeout.

The probe child arms ``faulthandler`` to write every thread's stack to ``out/stack.txt`` shortly
before its wall-clock budget ends and on SIGXCPU. The file is untrusted: it is read size-capped,
and only frames in the submission's own files survive, as ``file.py:LINE in NAME``; the parent
reads the source lines from its own staged copy.
"""

from __future__ import annotations

import re
from pathlib import Path

from .scratch import OutputRejected, read_capped

STACK_MAX = 64 * 1024
MAX_FRAMES = 8
THREAD = re.compile(r"^(Current thread|Thread) 0x[0-9a-fA-F]+")
FRAME = re.compile(r'^\s+File "(.*)", line (\d{1,7}) in (.{1,80})$')
REL = re.compile(r"[\w./-]{1,200}\.py")
NAME = re.compile(r"<module>|[A-Za-z_]\w{0,79}|<\w{1,20}>")


def _student_frame(filename: str, line: str, name: str, root: str) -> str | None:
    """``rel.py:LINE in NAME`` for a frame in the submission, else None."""
    prefix = root.rstrip("/") + "/"
    if not filename.startswith(prefix):
        return None
    rel = filename[len(prefix) :]
    if not REL.fullmatch(rel) or ".." in rel.split("/") or not NAME.fullmatch(name):
        return None
    return f"{rel}:{int(line)} in {name}"


def parse_stack(text: str, submission_root: str) -> list[str]:
    """The student frames (innermost last) of the last dumped thread that has any."""
    blocks: list[list[str]] = []
    for line in text.splitlines():
        if THREAD.match(line):
            blocks.append([])
            continue
        m = FRAME.match(line)
        if m and blocks:
            frame = _student_frame(m.group(1), m.group(2), m.group(3).strip(), submission_root)
            if frame is not None:
                blocks[-1].append(frame)
    for frames in reversed(blocks):
        if frames:
            return list(reversed(frames))[-MAX_FRAMES:]  # faulthandler lists innermost first
    return []


def read_stack(out: Path, submission_root: str) -> list[str]:
    """Student frames of ``out/stack.txt`` (empty when there is none or it is unreadable)."""
    try:
        raw = read_capped(out, "stack.txt", STACK_MAX, tail=True)
    except OutputRejected:
        return []
    return parse_stack((raw or b"").decode("utf-8", errors="replace"), submission_root)
