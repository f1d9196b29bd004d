"""Helpers for tests that run the commands as a user would: ``env -i`` with a fresh ``HOME``.

No project variable is set, bytecode writing stays on, the cache is the fresh home's. While a
command runs, :class:`AreaWatch` records the run-owned temp areas (``nlpgrade-run-*`` under
``/tmp`` and ``/dev/shm``) whose owner is one of the watched pids, with their modes.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"
BASES = (Path("/dev/shm"), Path(os.environ.get("TMPDIR", "/tmp")), Path("/tmp"))


def user_env(home: Path, **extra: str) -> dict[str, str]:
    """What a user's shell gives a command: PATH, HOME, a locale; nothing of ours."""
    env = {"PATH": f"{VENV_BIN}:/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8"}
    env.update(extra)
    return env


def start(cmd: list[str], home: Path, cwd: Path, **extra: str) -> subprocess.Popen[str]:
    """Start ``cmd`` under ``env -i`` with the user environment."""
    full = ["env", "-i", *(f"{k}={v}" for k, v in user_env(home, **extra).items()), *cmd]
    return subprocess.Popen(
        full, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def owner_pid(area: Path) -> int | None:
    """The pid recorded in a run area's owner file."""
    try:
        return int(json.loads((area / "owner").read_text())["pid"])
    except (OSError, ValueError, KeyError):
        return None


class AreaWatch:
    """Polls the temp bases while commands run; remembers the areas of the watched pids."""

    def __init__(self, bases: tuple[Path, ...] = BASES) -> None:
        self.bases = tuple(dict.fromkeys(bases))
        self.pids: set[int] = set()
        self.seen: dict[Path, tuple[int, int]] = {}  # area -> (dir mode, owner-file mode)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> AreaWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.scan()
            time.sleep(0.05)

    def scan(self) -> None:
        """Record every area of a watched pid that exists now."""
        for base in self.bases:
            try:
                entries = list(base.glob("nlpgrade-run-*"))
            except OSError:
                continue
            for d in entries:
                if d in self.seen or owner_pid(d) not in self.pids:
                    continue
                try:
                    dmode = stat.S_IMODE(os.lstat(d).st_mode)
                    fmode = stat.S_IMODE(os.lstat(d / "owner").st_mode)
                except OSError:
                    continue
                self.seen[d] = (dmode, fmode)

    def left_over(self) -> list[Path]:
        """Areas seen during the run that still exist."""
        return [d for d in self.seen if os.path.lexists(d)]
