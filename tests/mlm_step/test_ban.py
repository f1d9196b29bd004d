"""The static scan finds forbidden tools with file:line, through aliases, and nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.assignments.mlm_step.ban import forbidden_reason, scan_file, scan_source, scan_text

ROOT = Path(__file__).resolve().parents[2]
ZOO = ROOT / "tests" / "zoo" / "mlm_step"

CASES = [
    ("loss.backward()\n", 1, ".backward()"),
    ("import torch\ng = torch.autograd.grad(l, [w])\n", 2, "torch.autograd"),
    ("from torch.autograd import grad as g\n", 1, "torch.autograd"),
    ("import torch.autograd as ag\n", 1, "torch.autograd"),
    ("from torch import func\n", 1, "torch.func"),
    ("import torch as T\n\n\nT.func.grad(f)(x)\n", 4, "torch.func"),
    ("import functorch\n", 1, "functorch"),
    ("import torch\nd = torch.distributions.Normal(0, 1)\n", 2, "torch.distributions"),
    ("import torch.nn.functional as F\ny = F.layer_norm(x, (4,))\n", 2,
     "torch.nn.functional.layer_norm"),
    ("from torch.nn import functional as fn\ny = fn.gelu(x)\n", 2, "torch.nn.functional.gelu"),
    ("from torch.nn.functional import softmax as sm\n", 1, "torch.nn.functional.softmax"),
    ("import torch\np = torch.softmax(z, -1)\n", 2, "torch.softmax"),
    ("p = z.softmax(-1)\n", 1, ".softmax()"),
    ("lp = logits.log_softmax(dim=-1)\n", 1, ".log_softmax()"),
    ("import torch.nn.functional as F\nl = F.cross_entropy(a, b)\n", 2,
     "torch.nn.functional.cross_entropy"),
    ("import torch.nn.functional as F\no = F.scaled_dot_product_attention(q, k, v)\n", 2,
     "torch.nn.functional.scaled_dot_product_attention"),
    ("from torch import nn\nm = nn.MultiheadAttention(8, 2)\n", 2, "torch.nn.MultiheadAttention"),
    ("import torch.nn as nn\nln = nn.LayerNorm(8)\n", 2, "torch.nn.LayerNorm"),
    ("from torch import nn\ng = nn.GELU()\n", 2, "torch.nn.GELU"),
    ("import torch\nag = getattr(torch, 'autograd')\n", 2, "torch.autograd"),
    ("getattr(loss, 'backward')()\n", 1, ".backward()"),
    ("import importlib\nm = importlib.import_module('torch.func')\n", 2, "torch.func"),
    ("import torch\nk = torch._C._nn.gelu\n", 2, "torch._C"),
    ("import torch\nk = torch.ops.aten.gelu\n", 2, "torch.ops"),
]


@pytest.mark.parametrize(("source", "line", "name"), CASES)
def test_forbidden_found_with_line(source: str, line: int, name: str) -> None:
    found = scan_source(source, "mlm_step.py")
    assert [(v.line, v.name) for v in found][:1] == [(line, name)], found
    assert found[0].describe().startswith(f"mlm_step.py:{line}: `")


@pytest.mark.parametrize("source", [
    "import torch\ny = torch.tanh(x) * torch.exp(x) @ w\n",
    "import torch\ne = torch.erf(x)\nm = x.max(dim=-1).values\n",
    "def softmax(z):\n    return z\n\np = softmax(x)\n",  # a helper of one's own is fine
    "import torch.nn.functional as F\ny = F.pad(x, (1, 1))\n",
    "def layer_norm_backward(dy, cache):\n    return dy\n",
    "# loss.backward() in a comment\ns = 'torch.autograd in a string'\n",
])
def test_allowed_code_is_clean(source: str) -> None:
    assert scan_source(source, "mlm_step.py") == []


def test_syntax_error_is_a_syntax_error_with_its_line() -> None:
    scan = scan_text("x = 1\ndef f(:\n", "mlm_step.py")
    assert scan.violations == [] and scan.problem is not None
    assert scan.problem.startswith("mlm_step.py, line 2: SyntaxError: ")
    assert "def f(:" in scan.problem and "uses" not in scan.problem


def test_scan_is_size_capped_and_survives_deep_nesting(tmp_path: Path) -> None:
    big = tmp_path / "mlm_step.py"
    big.write_text("x = 1\n" * 200)
    assert scan_file(big, "mlm_step.py", max_bytes=100).problem is not None
    assert "over the 100 bytes" in (scan_file(big, "mlm_step.py", max_bytes=100).problem or "")
    assert scan_file(big, "mlm_step.py").problem is None
    deep = scan_text("x = " + "(" * 100_000 + ")" * 100_000 + "\n", "mlm_step.py")
    assert deep.problem is not None and deep.violations == []


def test_reasons() -> None:
    assert forbidden_reason("torch.autograd.functional.jacobian")
    assert forbidden_reason("torch.nn.modules.normalization.LayerNorm")
    assert forbidden_reason("torch.tanh") is None
    assert forbidden_reason("torch.nn.functional.pad") is None


def _line_of(path: Path, text: str) -> int:
    return next(i for i, ln in enumerate(path.read_text().splitlines(), 1) if ln.strip() == text)


def test_reference_template_and_zoo() -> None:
    for path in (ROOT / "reference/mlm_step/mlm_step.py", ROOT / "reference/mlm_step/oracle.py",
                 ROOT / "student_template/mlm_step/mlm_step.py"):
        found = scan_source(path.read_text(), path.name)
        assert (found == []) == (path.name != "oracle.py"), found
    path = ZOO / "uses_backward/mlm_step.py"
    uses = scan_source(path.read_text(), "mlm_step.py")
    line = _line_of(path, "loss.backward()")
    assert [(v.line, v.name, v.code) for v in uses] == [(line, ".backward()", "loss.backward()")]
    path = ZOO / "builtin_softmax/mlm_step.py"
    soft = scan_source(path.read_text(), "mlm_step.py")
    assert [(v.line, v.name) for v in soft] == [(_line_of(path, "p = torch.softmax(z, dim=-1)"),
                                                 "torch.softmax")]
    assert scan_source((ZOO / "dynamic_backward/mlm_step.py").read_text(), "mlm_step.py") == []
