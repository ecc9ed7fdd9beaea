"""Dependency questions: is this function a generator FastAPI runs as a dependency
(a ``Depends(...)`` of the repo names it, or it yields an ``AsyncSession``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import libcst as cst

from asyncmend.codemods.facts import routes as route_facts
from asyncmend.codemods.semantic.sessions import is_session_dependency
from asyncmend.codemods.semantic.tree import dotted_name

if TYPE_CHECKING:
    from asyncmend.codemods.base import FileContext


#: Decorators that make a generator function something other than a FastAPI dependency.
_CONTEXT_MANAGERS = frozenset({"asynccontextmanager", "contextmanager", "fixture"})


def is_yield_dependency(func: cst.FunctionDef, context: FileContext) -> bool:
    """Whether ``func`` (a module-level function) is a generator FastAPI runs as a
    dependency: it yields, is not wrapped into a context manager or fixture, and a
    ``Depends(...)`` of this module or of another module of the repo names it (pass-1
    fact ``depends_targets``), or it yields an ``AsyncSession`` (``get_session``)."""
    if not any(isinstance(n, cst.Yield) for n in context.semantic.own_scope(func.body)):
        return False
    for decorator in func.decorators:
        expr = decorator.decorator
        expr = expr.func if isinstance(expr, cst.Call) else expr
        if (dotted_name(expr) or "").rsplit(".", 1)[-1] in _CONTEXT_MANAGERS:
            return False
    name = func.name.value
    return name in _dependency_names(context) or is_session_dependency(cst.Name(name), context)


def _dependency_names(context: FileContext) -> frozenset[str]:
    """Names of this module's functions that some ``Depends(...)`` of the repo names."""
    cached = context.semantic.memo.get("dependency_names")
    if cached is not None:
        return cached
    here = context.index.by_path.get(context.path)
    local = set(route_facts.depends_targets.of(here)) if here is not None else set()
    prefix = f"{context.module_name}." if context.module_name else None
    if prefix is not None:
        for facts in context.index.by_module.values():
            for target in route_facts.depends_targets.of(facts):
                resolved = context.index.resolve(target)
                if resolved.startswith(prefix) and "." not in resolved[len(prefix) :]:
                    local.add(resolved[len(prefix) :])
    result = frozenset(n for n in local if "." not in n)
    context.semantic.memo["dependency_names"] = result
    return result
