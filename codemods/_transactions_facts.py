"""Pass-1 facts for the transaction rules (stdlib ``ast`` only: imported by the index).

``sessionmaker_calls``: the ``expire_on_commit`` of every call that makes async sessions,
wherever it is written: module level, inside a factory function, in a class. The index's
own ``sessionmakers`` fact sees only module-level bindings; a repo that builds its
sessionmaker in ``def make_sessionmaker(engine): ...`` would otherwise look like one that
never turned ``expire_on_commit`` off, and one ``AsyncSession(engine)`` made directly in a
dependency expires on commit whatever the sessionmakers say.
"""

from __future__ import annotations

import ast

from asyncmend.engine.index import COLLECTORS, FileFacts

#: ``True``/``False`` as written; ``None`` when the value is not a literal (or comes
#: through ``**kwargs``): unknown.
ExpireValue = bool | None


def _leaf(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def expire_on_commit_of(call: ast.Call) -> ExpireValue:
    """What a sessionmaker or ``AsyncSession`` call sets (default True)."""
    for keyword in call.keywords:
        if keyword.arg is None:
            return None  # **kwargs may carry it
        if keyword.arg == "expire_on_commit":
            value = keyword.value
            return bool(value.value) if isinstance(value, ast.Constant) else None
    return True


def _makes_async_sessions(call: ast.Call) -> bool:
    leaf = _leaf(call.func)
    if leaf in ("async_sessionmaker", "AsyncSession"):
        return True
    return leaf == "sessionmaker" and any(
        k.arg == "class_" and _leaf(k.value) == "AsyncSession" for k in call.keywords
    )


#: Import targets without which a module cannot call a session factory by name.
_FACTORY_IMPORTS = ("sessionmaker", "AsyncSession", "sqlalchemy.ext.asyncio", "sqlmodel")


def _sessionmaker_calls(tree: ast.Module, facts: FileFacts) -> list[ExpireValue]:
    # Walking every tree would double pass 1; a module that makes sessions imports the
    # factory (or its module) at module level.
    if not any(
        marker in target for target in facts.imports.values() for marker in _FACTORY_IMPORTS
    ):
        return []
    return [
        expire_on_commit_of(node)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and _makes_async_sessions(node)
    ]


COLLECTORS["sessionmaker_calls"] = _sessionmaker_calls
