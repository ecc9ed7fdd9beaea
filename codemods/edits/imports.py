"""Import edits: where a new module-level statement goes, and how to spell a module
(``asyncio``) at a given place, adding its import only when the name is free."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import libcst as cst

from asyncmend.codemods.semantic.bindings import bindings_of
from asyncmend.codemods.semantic.tree import SCOPE_NODES, child_blocks, iter_children

if TYPE_CHECKING:
    from asyncmend.codemods.semantic.model import SemanticModel


def asyncio_reference(
    model: SemanticModel, ancestors: Sequence[cst.CSTNode] = ()
) -> tuple[str | None, bool]:
    """How to write ``asyncio.<x>`` where ``ancestors`` lead (the module level when
    empty): (the name to use, whether ``import asyncio`` must be added). ``(None, False)``
    when ``asyncio`` means something else there and no alias of the module is bound."""
    imports = model.imports
    bound_module = sorted(local for local, target in imports.items() if target == "asyncio")
    if "asyncio" in bound_module and model.means_import("asyncio", ancestors):
        return "asyncio", False
    for local in bound_module:
        if model.means_import(local, ancestors):
            return local, False
    if "asyncio" not in model.bindings(model.module) and not model.bound_in_enclosing_functions(
        "asyncio", ancestors
    ):
        return "asyncio", True
    return None, False


def after_imports_anchor(
    module: cst.Module, needs: str | None = None
) -> tuple[cst.BaseStatement | None, bool]:
    """Where a module-level definition goes: (statement, True) to insert after it (the
    last import of the leading import block, or the docstring), (first statement, False)
    to insert before it; (None, True) for an empty module. With ``needs``, never before
    the last top-level statement that imports that name (``if ...: import asyncio``)."""
    body = list(module.body)
    if not body:
        return None, True
    index = 0
    if _is_docstring(body[0]):
        index = 1
    while index < len(body) and _is_import_block(body[index]):
        index += 1
    if needs is not None:
        for position, stmt in enumerate(body):
            if position >= index and _imports_name(stmt, needs):
                index = position + 1
    if index > 0:
        return body[index - 1], True
    return body[0], False


def _imports_name(stmt: cst.BaseStatement, name: str) -> bool:
    """Whether a top-level statement imports ``name`` (directly or in its blocks)."""
    stack: list[cst.CSTNode] = [stmt]
    while stack:
        node = stack.pop()
        if isinstance(node, (cst.Import, cst.ImportFrom)):
            if any(bound == name for bound, _ in bindings_of(node)):
                return True
        elif not isinstance(node, SCOPE_NODES):
            stack.extend(iter_children(node))
    return False


def _is_docstring(stmt: cst.BaseStatement) -> bool:
    return (
        isinstance(stmt, cst.SimpleStatementLine)
        and len(stmt.body) == 1
        and isinstance(stmt.body[0], cst.Expr)
        and isinstance(stmt.body[0].value, (cst.SimpleString, cst.ConcatenatedString))
    )


def _is_import_block(stmt: cst.BaseStatement) -> bool:
    """An import line, or an ``if``/``try`` whose blocks hold only imports (and ``pass``)."""
    if isinstance(stmt, cst.SimpleStatementLine):
        return all(isinstance(s, (cst.Import, cst.ImportFrom)) for s in stmt.body)
    if isinstance(stmt, (cst.If, cst.Try)):
        for block in child_blocks(stmt):
            for inner in block.body:
                if not (
                    isinstance(inner, cst.SimpleStatementLine)
                    and all(
                        isinstance(s, (cst.Import, cst.ImportFrom, cst.Pass)) for s in inner.body
                    )
                ):
                    return False
        return True
    return False
