"""The import graph of the ``grader`` package, read with ``ast`` (nothing is imported).

An edge ``a -> b`` means module ``a`` imports module ``b`` at module level, including imports
under ``if TYPE_CHECKING:`` (they are circles for type checkers and readers alike); imports inside
functions are lazy by design (they keep ``grade --version`` fast) and are left out unless asked.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

GRADER = Path(__file__).resolve().parents[2] / "grader"


def module_name(path: Path, root: Path = GRADER) -> str:
    """``grader/sandbox/base.py`` -> ``grader.sandbox.base`` (a package is its ``__init__``)."""
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules(root: Path = GRADER) -> dict[str, Path]:
    """Every module of the package by dotted name."""
    return {module_name(p, root): p for p in sorted(root.rglob("*.py"))}


def _top_level(tree: ast.Module, lazy: bool) -> Iterator[ast.Import | ast.ImportFrom]:
    """Import statements at module level and in module-level ``if``/``try`` blocks."""
    todo: list[ast.stmt] = list(tree.body)
    while todo:
        node = todo.pop(0)
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If | ast.Try):
            todo += node.body + node.orelse + getattr(node, "finalbody", [])
            for handler in getattr(node, "handlers", []):
                todo += handler.body
        elif lazy:
            todo += [n for n in ast.walk(node) if isinstance(n, ast.Import | ast.ImportFrom)]


def imports_of(name: str, path: Path, known: set[str], lazy: bool = False) -> set[str]:
    """The modules of ``known`` that module ``name`` (at ``path``) imports."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in _top_level(ast.parse(path.read_text(encoding="utf-8")), lazy):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            base = package
            for _ in range(max(node.level - 1, 0)):
                base = base.rpartition(".")[0]
            mod = node.module or ""
            base = f"{base}.{mod}".strip(".") if node.level else mod
            # ``from pkg import sub`` depends on the submodule ``pkg.sub`` when there is one (the
            # package itself, an ancestor, is initialised first whatever is imported), else on pkg
            subs = [f"{base}.{a.name}" for a in node.names]
            targets = [t for t in subs if t in known] or [base]
        found |= {t for t in targets if t in known and t != name}
    return found


def import_graph(root: Path = GRADER, lazy: bool = False) -> dict[str, set[str]]:
    """Module -> the package modules it imports."""
    mods = modules(root)
    known = set(mods)
    return {name: imports_of(name, path, known, lazy) for name, path in mods.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(out)
