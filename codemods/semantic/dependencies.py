"""Dependency questions: is this function a generator FastAPI runs as a dependency
(a ``Depends(...)`` of the repo names it, or it yields an ``AsyncSession``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import libcst as cst

from asyncmend.codemods.facts import routes as route_facts
from asyncmend.codemods.semantic.sessions import is_session_dependency
from asyncmend.codemods.semantic.tree import dotted_name

if TYPE_CHECKING:
    from asyncmend.codemods.base import FileContext


#: Decorators that make a generator function something other than a FastAPI dependency.
_CONTEXT_MANAGERS = frozenset({"asynccontextmanager", "contextmanager", "fixture"})


def is_yield_dependency(
    func: cst.FunctionDef, context: FileContext, ancestors: Sequence[cst.CSTNode]
) -> bool:
    """Whether ``func`` (whose ancestors are ``ancestors``) is a generator FastAPI runs as
    a dependency: a module-level function (the repo's dependencies are) that yields, is
    not wrapped into a context manager or fixture, and a ``Depends(...)`` of this module
    or of another module of the repo names it (pass-1 fact ``depends_targets``), or it
    yields an ``AsyncSession`` (``get_session``)."""
    if not ancestors or not isinstance(ancestors[-1], cst.Module):
        return False
    if not any(isinstance(n, cst.Yield) for n in context.semantic.own_scope(func.body)):
        return False
    for decorator in func.decorators:
        expr = decorator.decorator
        expr = expr.func if isinstance(expr, cst.Call) else expr
        if (dotted_name(expr) or "").rsplit(".", 1)[-1] in _CONTEXT_MANAGERS:
            return False
    name = func.name.value
    return name in _dependency_names(context) or is_session_dependency(cst.Name(name), context)


def dependency_scopes(func: cst.FunctionDef, context: FileContext) -> frozenset[str]:
    """The ``scope=`` values under which the repo's ``Depends(...)`` name ``func``
    (``""``: no scope given), empty when none names it."""
    return _dependency_scopes(context).get(func.name.value, frozenset())


def _dependency_names(context: FileContext) -> frozenset[str]:
    """Names of this module's functions that some ``Depends(...)`` of the repo names."""
    return frozenset(_dependency_scopes(context))


def _dependency_scopes(context: FileContext) -> dict[str, frozenset[str]]:
    """This module's functions named by a ``Depends(...)`` of the repo -> its scopes."""
    cached = context.semantic.memo.get("dependency_scopes")
    if cached is not None:
        return cached
    found: dict[str, set[str]] = {}
    here = context.index.by_path.get(context.path)
    for name, scopes in route_facts.depends_targets.of(here).items():
        if "." not in name:
            found.setdefault(name, set()).update(scopes)
    prefix = f"{context.module_name}." if context.module_name else None
    if prefix is not None:
        for facts in context.index.by_module.values():
            for target, scopes in route_facts.depends_targets.of(facts).items():
                resolved = context.index.resolve(target)
                leaf = resolved[len(prefix) :]
                if resolved.startswith(prefix) and "." not in leaf:
                    found.setdefault(leaf, set()).update(scopes)
    result = {name: frozenset(scopes) for name, scopes in found.items()}
    context.semantic.memo["dependency_scopes"] = result
    return result
