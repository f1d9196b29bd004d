"""The runtime guard of probes.py: autograd raises, built-in layers are recorded, all restored."""

from __future__ import annotations

import importlib
import sys
from types import ModuleType

import pytest
import torch
import torch.nn.functional as F

import grader.worker


@pytest.fixture(scope="module")
def probes() -> ModuleType:
    sys.modules.setdefault("nlpgrade_worker", grader.worker)
    return importlib.import_module("grader.assignments.mlm_step.probes")


def test_autograd_raises_and_layers_are_recorded(probes: ModuleType) -> None:
    originals = (torch.Tensor.backward, torch.autograd.grad, F.gelu, torch.Tensor.softmax)
    guard = probes._Guard(__file__.rsplit("/", 1)[0])
    guard.install()
    try:
        x = torch.ones(3, requires_grad=True)
        with pytest.raises(probes.ForbiddenCallError, match="backward"):
            (x * 2).sum().backward()
        with pytest.raises(probes.ForbiddenCallError):
            torch.autograd.grad((x * 2).sum(), [x])
        with pytest.raises(probes.ForbiddenCallError):
            torch.func.grad(lambda t: (t * t).sum())(torch.ones(2))
        y = F.gelu(torch.ones(2))
        z = torch.ones(2).softmax(-1)
        ln = torch.nn.LayerNorm(2)(torch.ones(1, 2))
        assert y.shape == z.shape == (2,) and ln.shape == (1, 2)
    finally:
        guard.uninstall()
    calls = [r["call"] for r in guard.records]
    assert calls[:3] == ["Tensor.backward()", "torch.autograd.grad", "torch.func.grad"]
    assert {"torch.nn.functional.gelu", "Tensor.softmax()", "torch.nn.LayerNorm"} <= set(calls)
    assert all(r["where"].startswith("test_guard.py:") for r in guard.records)
    assert (torch.Tensor.backward, torch.autograd.grad, F.gelu,
            torch.Tensor.softmax) == originals
    x = torch.ones(2, requires_grad=True)
    (x * 3).sum().backward()
    assert x.grad is not None and x.grad.tolist() == [3.0, 3.0]
