"""Engine questions: is this expression an ``AsyncEngine`` (by provenance: the value
of ``create_async_engine(...)``, an ``AsyncEngine`` annotation, or a module-level
engine of another module of the repo, pass-1 fact ``async_engines``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import libcst as cst

from asyncmend.codemods.facts import sessions as session_facts
from asyncmend.codemods.semantic.tree import dotted_name

if TYPE_CHECKING:
    from asyncmend.codemods.base import FileContext

#: Qualified names whose call returns, or whose annotation means, an ``AsyncEngine``.
ASYNC_ENGINE_SOURCES = frozenset(
    {"sqlalchemy.ext.asyncio.create_async_engine", "sqlalchemy.ext.asyncio.AsyncEngine",
     "sqlalchemy.ext.asyncio.engine.create_async_engine",
     "sqlalchemy.ext.asyncio.engine.AsyncEngine"}
)  # fmt: skip


def is_async_engine(
    expr: cst.BaseExpression, ancestors: Sequence[cst.CSTNode], context: FileContext
) -> bool:
    """Whether ``expr``, read where ``ancestors`` lead, is an ``AsyncEngine``:
    ``create_async_engine(...)`` itself, a name (or ``self.x``) every binding of which is
    such a call or annotated ``AsyncEngine``, or an imported module-level engine."""
    semantic = context.semantic
    if semantic.value_kind(expr, ancestors) in ASYNC_ENGINE_SOURCES:
        return True
    name = dotted_name(expr)
    if name is None:
        return False
    head = name.split(".")[0]
    if head not in semantic.imports or not semantic.means_import(head, ancestors):
        return False
    qualified = context.index.resolve(semantic.resolve(expr) or name)
    module, _, leaf = qualified.rpartition(".")
    facts = context.index.by_module.get(module)
    return bool(facts and leaf in session_facts.async_engines.of(facts))
