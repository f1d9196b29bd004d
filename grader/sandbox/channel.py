"""Parent side of the worker's control channel: JSON lines over two pipes, with deadlines."""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import time
from typing import Any

from grader.safejson import JSONRejected, loads_capped

MAX_LINE = 1024 * 1024


class WorkerGone(Exception):
    """The worker closed its channel (it died or was killed)."""


class ChannelTimeout(Exception):
    """No message arrived before the deadline."""


class Channel:
    """Send/receive JSON messages to/from the worker."""

    def __init__(self, write_fd: int, read_fd: int) -> None:
        self._w = write_fd
        self._r = read_fd
        os.set_blocking(self._r, False)
        self._buf = b""
        self._sel = selectors.DefaultSelector()
        self._sel.register(self._r, selectors.EVENT_READ)

    def send(self, msg: dict[str, Any]) -> None:
        """Write one message (WorkerGone when the pipe is closed)."""
        data = json.dumps(msg).encode() + b"\n"
        try:
            while data:
                data = data[os.write(self._w, data) :]
        except (BrokenPipeError, OSError) as exc:
            raise WorkerGone(str(exc)) from exc

    def recv(self, timeout: float) -> dict[str, Any]:
        """Next message within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not self._sel.select(left):
                raise ChannelTimeout()
            try:
                chunk = os.read(self._r, 65536)
            except BlockingIOError:
                continue
            if not chunk:
                raise WorkerGone("worker closed the channel")
            self._buf += self._decode(chunk)
            if len(self._buf) > MAX_LINE:
                raise WorkerGone("worker sent an oversized message")
        line, self._buf = self._buf.split(b"\n", 1)
        try:
            msg = loads_capped(line, what="a worker message")
        except JSONRejected as exc:
            raise WorkerGone(f"worker sent a malformed message ({exc})") from exc
        if not isinstance(msg, dict):
            raise WorkerGone("worker sent a malformed message")
        return msg

    def _decode(self, chunk: bytes) -> bytes:
        """Bytes of the worker's stdout in ``chunk`` (identity for a plain pipe)."""
        return chunk

    def close(self) -> None:
        """Close both ends."""
        self._sel.close()
        for fd in (self._w, self._r):
            with contextlib.suppress(OSError):
                os.close(fd)
