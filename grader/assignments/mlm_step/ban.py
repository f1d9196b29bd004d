"""Static scan of a submission for the tools ``mlm_step`` forbids (autograd, built-in layers).

The scan parses the source (never runs it) and resolves import aliases, so ``import torch.nn.
functional as F; F.gelu(x)``, ``from torch import autograd as ag`` and ``getattr(torch,
"autograd")`` are all reported with their file and line. It is one half of the rule check; the
other half is the runtime guard in ``probes.py`` for what a scan cannot see.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

# Whole modules (and everything inside them) that the assignment forbids.
FORBIDDEN_MODULES: dict[str, str] = {
    "torch.autograd": "autograd computes gradients for you",
    "torch.func": "torch.func computes gradients for you",
    "functorch": "functorch computes gradients for you",
    "torch.distributions": "torch.distributions is not allowed",
    "torch._C": "torch._C reaches the built-in kernels directly",
    "torch.ops": "torch.ops reaches the built-in kernels directly",
}

_BUILTIN_LAYERS = {
    "layer_norm": "the built-in layer norm",
    "native_layer_norm": "the built-in layer norm",
    "LayerNorm": "the built-in layer norm",
    "gelu": "the built-in GELU",
    "GELU": "the built-in GELU",
    "softmax": "the built-in softmax",
    "_softmax": "the built-in softmax",
    "Softmax": "the built-in softmax",
    "log_softmax": "the built-in log-softmax",
    "_log_softmax": "the built-in log-softmax",
    "LogSoftmax": "the built-in log-softmax",
    "cross_entropy": "the built-in cross-entropy",
    "CrossEntropyLoss": "the built-in cross-entropy",
    "nll_loss": "the built-in cross-entropy (NLL)",
    "NLLLoss": "the built-in cross-entropy (NLL)",
    "scaled_dot_product_attention": "the built-in attention",
    "MultiheadAttention": "the built-in attention",
    "multi_head_attention_forward": "the built-in attention",
}

# Attribute names forbidden on *any* object (tensor methods reached through a variable).
FORBIDDEN_METHODS: dict[str, str] = {
    "backward": "autograd computes the gradients for you",
    "softmax": "the built-in softmax (Tensor.softmax)",
    "log_softmax": "the built-in log-softmax (Tensor.log_softmax)",
}

# Names forbidden inside torch, torch.nn, torch.nn.functional and torch.special.
_TORCH_NAMESPACES = (
    "torch", "torch.nn", "torch.nn.functional", "torch.special", "torch.nn.modules",
)


@dataclass(frozen=True)
class Violation:
    """One forbidden use: where it is and what it is."""

    filename: str
    line: int
    col: int
    name: str  # the resolved dotted name, e.g. "torch.nn.functional.gelu" or ".backward()"
    why: str
    code: str  # the source line, stripped

    def describe(self) -> str:
        """One line for the student: ``mlm_step.py:57: F.gelu(...) -> the built-in GELU``."""
        return f"{self.filename}:{self.line}: `{self.code}` uses {self.name}: {self.why}"


def forbidden_reason(qualified: str) -> str | None:
    """Why the fully qualified name ``qualified`` is forbidden, or None when it is allowed."""
    for module, why in FORBIDDEN_MODULES.items():
        if qualified == module or qualified.startswith(module + "."):
            return why
    head, _, last = qualified.rpartition(".")
    if head in _TORCH_NAMESPACES and last in _BUILTIN_LAYERS:
        return _BUILTIN_LAYERS[last]
    if head.startswith("torch.nn.modules") and last in _BUILTIN_LAYERS:
        return _BUILTIN_LAYERS[last]
    return None


class _Scanner(ast.NodeVisitor):
    """Walks one module, tracking import aliases, collecting violations."""

    def __init__(self, filename: str, lines: list[str]) -> None:
        self.filename = filename
        self.lines = lines
        self.aliases: dict[str, str] = {}  # local name -> qualified module/object name
        self.found: list[Violation] = []

    # -- helpers -------------------------------------------------------------------------------
    def _report(self, node: ast.AST, name: str, why: str) -> None:
        line = getattr(node, "lineno", 0)
        code = self.lines[line - 1].strip() if 0 < line <= len(self.lines) else ""
        self.found.append(Violation(self.filename, line, getattr(node, "col_offset", 0),
                                    name, why, code))

    def _qualified(self, node: ast.AST) -> str | None:
        """The dotted name ``node`` denotes when its root is an imported name, else None."""
        if isinstance(node, ast.Name):
            return self.aliases.get(node.id)
        if isinstance(node, ast.Attribute):
            base = self._qualified(node.value)
            return f"{base}.{node.attr}" if base is not None else None
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id == "getattr" and len(node.args) >= 2
                and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str)):
            base = self._qualified(node.args[0])
            return f"{base}.{node.args[1].value}" if base is not None else None
        return None

    def _check_module_name(self, node: ast.AST, module: str) -> None:
        why = forbidden_reason(module)
        if why:
            self._report(node, module, why)

    # -- visitors ------------------------------------------------------------------------------
    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._check_module_name(node, alias.name)
            if alias.asname:
                self.aliases[alias.asname] = alias.name
            else:
                root = alias.name.split(".")[0]
                self.aliases[root] = root

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        if node.level == 0:
            self._check_module_name(node, module)
        for alias in node.names:
            qualified = f"{module}.{alias.name}" if module else alias.name
            if node.level == 0 and alias.name != "*":
                why = forbidden_reason(qualified)
                if why and not forbidden_reason(module):
                    self._report(node, qualified, why)
                self.aliases[alias.asname or alias.name] = qualified

    def visit_Attribute(self, node: ast.Attribute) -> None:
        qualified = self._qualified(node)
        why = forbidden_reason(qualified) if qualified else None
        if why and qualified and not forbidden_reason(qualified.rpartition(".")[0]):
            self._report(node, qualified, why)
        elif qualified is None and node.attr in FORBIDDEN_METHODS:
            self._report(node, f".{node.attr}()", FORBIDDEN_METHODS[node.attr])
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        # getattr(obj, "backward") / getattr(torch, "autograd") with a constant name
        if (isinstance(func, ast.Name) and func.id == "getattr" and len(node.args) >= 2
                and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str)):
            attr = node.args[1].value
            qualified = self._qualified(node)
            why = forbidden_reason(qualified) if qualified else None
            if why:
                self._report(node, qualified or attr, why)
            elif attr in FORBIDDEN_METHODS:
                self._report(node, f".{attr}()", FORBIDDEN_METHODS[attr])
        # __import__("torch.autograd"), importlib.import_module("torch.func")
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
        if name in ("__import__", "import_module") and node.args:
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                self._check_module_name(node, first.value)
        self.generic_visit(node)


MAX_SOURCE_BYTES = 1_000_000  # far above any real solution (the reference is ~13 kB)


@dataclass(frozen=True)
class Scan:
    """The forbidden uses found in one file, or why the file could not be read as Python."""

    violations: list[Violation]
    problem: str | None = None


def scan_text(source: str, filename: str) -> Scan:
    """Scan ``source``; a syntax error (or a file too deeply nested to parse) is a ``problem``."""
    try:
        tree = ast.parse(source, filename=filename)
    except SyntaxError as exc:
        line = exc.lineno or 0
        code = (exc.text or "").rstrip()
        shown = f"\n    {code.strip()}" if code.strip() else ""
        return Scan([], f"{filename}, line {line}: SyntaxError: {exc.msg}{shown}\nPython "
                        "cannot read this file: fix the syntax at that line (or just before it).")
    except (RecursionError, MemoryError, ValueError) as exc:
        return Scan([], f"{filename} could not be parsed ({type(exc).__name__}): it is nested "
                        "too deeply or holds bytes Python source cannot contain.")
    scanner = _Scanner(filename, source.splitlines())
    scanner.visit(tree)
    unique = {(v.line, v.name): v for v in scanner.found}
    return Scan(sorted(unique.values(), key=lambda v: (v.filename, v.line, v.col)))


def scan_file(path: Path, filename: str, max_bytes: int = MAX_SOURCE_BYTES) -> Scan:
    """Scan the file at ``path``, reading at most ``max_bytes`` of it (the parent parses it)."""
    size = path.stat().st_size
    if size > max_bytes:
        return Scan([], f"{filename} is {size:,} bytes, over the {max_bytes:,} bytes the source "
                        "scan reads: a solution is a few kB; remove generated or pasted data.")
    with path.open("rb") as fh:
        data = fh.read(max_bytes + 1)
    return scan_text(data.decode("utf-8", errors="replace"), filename)


def scan_source(source: str, filename: str) -> list[Violation]:
    """Every forbidden use in ``source`` (none when it does not parse: see ``scan_text``)."""
    return scan_text(source, filename).violations
