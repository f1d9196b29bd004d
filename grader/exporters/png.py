"""A dependency-free PNG encoder and bar painter: the chart fallback when matplotlib is absent."""

from __future__ import annotations

import struct
import zlib

Color = tuple[int, int, int]


class Canvas:
    """An RGB pixel buffer with filled rectangles, encodable as PNG."""

    def __init__(self, width: int, height: int, background: Color = (255, 255, 255)) -> None:
        """A blank image of the given size."""
        self.width, self.height = width, height
        self.pixels = bytearray(bytes(background) * (width * height))

    def rect(self, x0: int, y0: int, x1: int, y1: int, color: Color) -> None:
        """Fill the rectangle [x0, x1) x [y0, y1), clipped to the image."""
        x0, x1 = max(0, x0), min(self.width, x1)
        y0, y1 = max(0, y0), min(self.height, y1)
        if x0 >= x1:
            return
        row = bytes(color) * (x1 - x0)
        for y in range(y0, y1):
            start = (y * self.width + x0) * 3
            self.pixels[start : start + len(row)] = row

    def to_png(self) -> bytes:
        """The image as PNG bytes (8-bit RGB, no filtering)."""
        stride = self.width * 3
        raw = b"".join(
            b"\0" + bytes(self.pixels[y * stride : (y + 1) * stride]) for y in range(self.height)
        )

        def chunk(kind: bytes, data: bytes) -> bytes:
            return (
                struct.pack(">I", len(data))
                + kind
                + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
            )

        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)
        return (
            b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw, 9))
            + chunk(b"IEND", b"")
        )
