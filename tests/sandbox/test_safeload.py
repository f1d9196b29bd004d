"""``grader.safeload``: student checkpoints are opened without running their code."""

from __future__ import annotations

import os
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
import torch
from torch import nn

from grader.safeload import (
    BadCheckpoint,
    CheckpointError,
    CheckpointTooLarge,
    UnsafeCheckpoint,
    load_state_dict,
)

from .zipbomb import MIB, deflate_bomb, stride_zero_view, zeros_crc


class _Payload:
    """Pickles to a call that would create a marker file when unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return exec, (f"open({str(self.marker)!r}, 'w').write('pwned')",)


def test_loads_tensors_only(tmp_path: Path) -> None:
    path = tmp_path / "bert_model.pt"
    torch.save({"w": torch.ones(2), "step": 3, "name": "x"}, path)
    state = load_state_dict(path, max_bytes=2**20)
    assert set(state) == {"w"} and torch.equal(state["w"], torch.ones(2))


def test_pickle_payload_does_not_run(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "bert_model.pt"
    torch.save({"w": torch.ones(1), "evil": _Payload(marker)}, path)
    with pytest.raises(UnsafeCheckpoint, match="state_dict"):
        load_state_dict(path, max_bytes=2**20)
    assert not marker.exists()


def test_whole_model_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bert_model.pt"
    torch.save(nn.Linear(2, 2), path)
    with pytest.raises(UnsafeCheckpoint):
        load_state_dict(path, max_bytes=2**20)


def test_two_gb_sparse_file_is_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "bert_model.pt"
    with open(path, "wb") as fh:
        fh.truncate(2 * 2**30)
    assert os.stat(path).st_blocks * 512 < 2**20  # nothing was really written
    with pytest.raises(CheckpointTooLarge, match="limit"):
        load_state_dict(path, max_bytes=100 * 2**20)


@pytest.mark.parametrize("content", [b"", b"not a checkpoint", b"PK\x03\x04broken zip"])
def test_garbage_is_bad(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bert_model.pt"
    path.write_bytes(content)
    with pytest.raises(BadCheckpoint):
        load_state_dict(path, max_bytes=2**20)


def test_missing_and_non_dict(tmp_path: Path) -> None:
    with pytest.raises(BadCheckpoint):
        load_state_dict(tmp_path / "absent.pt", max_bytes=2**20)
    path = tmp_path / "list.pt"
    torch.save([torch.ones(1)], path)
    with pytest.raises(CheckpointError, match="not a state dict"):
        load_state_dict(path, max_bytes=2**20)


# -- hostile zips: nothing is inflated past the budget in the parent ----------------------------


def test_crafted_bomb_is_a_real_checkpoint(tmp_path: Path) -> None:
    """The crafted file really makes an unguarded torch.load allocate what it declares."""
    path = tmp_path / "bomb.pt"
    deflate_bomb(path, 32)
    assert path.stat().st_size < 64 * 1024
    state = torch.load(path, weights_only=True)
    assert state["w"].numel() * 4 == 32 * MIB
    assert zeros_crc(3) == zlib.crc32(bytes(3 * MIB))


def test_deflate_bomb_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bert_model.pt"
    deflate_bomb(path, 32)
    with pytest.raises(CheckpointTooLarge, match=r"expands to 32\.0 MiB; the limit is 4\.0 MiB"):
        load_state_dict(path, max_bytes=4 * MIB)


def test_bomb_with_lying_headers_is_refused(tmp_path: Path) -> None:
    """Headers claim 1 MiB, the stream inflates to 32 MiB: stopped at the declared size."""
    path = tmp_path / "bert_model.pt"
    deflate_bomb(path, 32, declared_mib=1)
    with pytest.raises(BadCheckpoint, match=r"broken zip|does not match"):
        load_state_dict(path, max_bytes=4 * MIB)


def test_stride_zero_view_is_refused(tmp_path: Path) -> None:
    """One stored float claiming 2**40 elements: loads in torch, refused by the span check."""
    path = tmp_path / "bert_model.pt"
    stride_zero_view(path, 2**40)
    assert torch.load(path, weights_only=True)["w"].shape == (2**40,)
    with pytest.raises(CheckpointTooLarge, match="spanning"):
        load_state_dict(path, max_bytes=4 * MIB)


def test_legacy_pickle_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    path = tmp_path / "bert_model.pt"
    torch.save({"w": torch.ones(2)}, path, _use_new_zipfile_serialization=False)
    with pytest.raises(BadCheckpoint, match="not a zip-format PyTorch checkpoint"):
        load_state_dict(path, max_bytes=MIB)


_RSS_PROBE = """
import resource, sys
from pathlib import Path
import torch
from grader.safeload import CheckpointError, load_state_dict
with open("/proc/self/status") as fh:
    vm = next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmSize"))
resource.setrlimit(resource.RLIMIT_AS, (vm + (1 << 30), resource.RLIM_INFINITY))  # machine guard
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    load_state_dict(Path(sys.argv[1]), max_bytes=64 << 20)
    print("LOADED")
except CheckpointError as exc:
    print(type(exc).__name__, exc)
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
"""


def test_eight_gib_bomb_keeps_the_parent_small(tmp_path: Path) -> None:
    """The issue's attack: ~8 MiB on disk, 8 GiB inflated; the loading process grows < 32 MiB."""
    path = tmp_path / "bert_model.pt"
    deflate_bomb(path, 8192)
    assert path.stat().st_size < 10 * MIB
    out = subprocess.run(
        [sys.executable, "-c", _RSS_PROBE, str(path)], capture_output=True, text=True, timeout=120
    )
    lines = out.stdout.splitlines()
    assert out.returncode == 0 and lines, out.stderr[-2000:]
    assert lines[0].startswith("CheckpointTooLarge") and "8192.0 MiB" in lines[0]
    assert int(lines[1]) < 32  # MiB of peak RSS added by the attempt
