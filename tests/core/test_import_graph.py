"""The ``grader`` package has no import circles (module-level, TYPE_CHECKING and lazy imports)."""

from __future__ import annotations

from pathlib import Path

from tests.core.importgraph import cycles, import_graph, imports_of, modules


def test_grader_has_no_import_circle() -> None:
    found = cycles(import_graph(lazy=True))
    assert found == [], f"import circles in grader/: {found}"


def test_the_detector_sees_a_circle_through_type_checking_and_relative_imports(
    tmp_path: Path,
) -> None:
    pkg = tmp_path / "grader"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "a.py").write_text("from .b import X\n")
    (pkg / "sub" / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from grader.sub import a\n"
    )
    (pkg / "c.py").write_text("def f():\n    import grader.sub.a\n")
    graph = import_graph(pkg)
    assert cycles(graph) == [["grader.sub.a", "grader.sub.b"]]
    assert graph["grader.c"] == set()  # a function-level import is lazy ...
    assert import_graph(pkg, lazy=True)["grader.c"] == {"grader.sub.a"}  # ... unless asked
    known = set(modules(pkg))
    assert imports_of("grader.sub.a", pkg / "sub" / "a.py", known) == {"grader.sub.b"}
