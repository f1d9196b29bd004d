"""``grader.safeload``: student checkpoints are opened without running their code."""

from __future__ import annotations

import os
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
