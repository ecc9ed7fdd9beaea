"""The layers run one way: cli -> engine -> codemods.

Read from the source with ``ast`` (nothing is imported): at run time ``codemods``
imports nothing from ``engine`` or ``cli`` (types only, under ``TYPE_CHECKING``), and
imports nothing inside a function to dodge a cycle; ``engine`` imports nothing from
``cli``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: Function-level imports kept on purpose: the registry reads rule codes from file
#: names so that a warm run never imports the rules (nor libcst, ~100 ms).
#: Pass 1 imports libcst (through ``lowering``) only for files ``ast`` rejects.
LAZY_FOR_SPEED = {
    ("codemods/registry.py", "asyncmend.codemods.base"),
    ("codemods/facts/parse.py", "asyncmend.codemods.facts"),
}


def _modules(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_imports(tree: ast.Module) -> Iterator[tuple[str, bool]]:
    """(imported module, inside a function) for every import not under TYPE_CHECKING."""

    def visit(node: ast.AST, in_function: bool) -> Iterator[tuple[str, bool]]:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                yield from visit(child, in_function)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, in_function
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.module, in_function
            for alias in node.names:
                yield f"{node.module}.{alias.name}", in_function
        inner = in_function or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        for child in ast.iter_child_nodes(node):
            yield from visit(child, inner)

    yield from visit(tree, False)


@pytest.mark.parametrize("path", _modules("codemods"), ids=lambda p: str(p.relative_to(ROOT)))
def test_codemods_never_import_engine_or_cli(path: Path) -> None:
    tree = ast.parse(path.read_bytes())
    relative = str(path.relative_to(ROOT))
    for module, in_function in _runtime_imports(tree):
        assert not module.startswith(("asyncmend.engine", "asyncmend.cli")), (
            f"{relative} imports {module} at run time"
        )
        if in_function and module.startswith("asyncmend"):
            assert any(
                relative == path and (module == lazy or module.startswith(lazy + "."))
                for path, lazy in LAZY_FOR_SPEED
            ), f"{relative} imports {module} inside a function"


@pytest.mark.parametrize("path", _modules("engine"), ids=lambda p: str(p.relative_to(ROOT)))
def test_engine_never_imports_cli(path: Path) -> None:
    tree = ast.parse(path.read_bytes())
    for module, _ in _runtime_imports(tree):
        assert not module.startswith("asyncmend.cli"), f"{path.name} imports {module}"


def test_the_check_sees_imports() -> None:
    """The walker finds runtime imports, skips TYPE_CHECKING, and notes function level."""
    tree = ast.parse(
        "from typing import TYPE_CHECKING\n"
        "import asyncmend.engine.x\n"
        "if TYPE_CHECKING:\n    from asyncmend.engine.config import Config\n"
        "def f():\n    from asyncmend.cli import app\n"
    )
    found = set(_runtime_imports(tree))
    assert ("asyncmend.engine.x", False) in found
    assert ("asyncmend.cli", True) in found
    assert not any(m.startswith("asyncmend.engine.config") for m, _ in found)
