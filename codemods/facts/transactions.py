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
from collections.abc import Iterable

from asyncmend.codemods.facts.base import FileFacts, collector, depends_aliases, walk
from asyncmend.codemods.facts.base import dotted as _dotted
from asyncmend.codemods.facts.source_lines import definition_holds

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


@collector("sessionmaker_calls", triggers=(b"sessionmaker", b"AsyncSession("), empty=())
def sessionmaker_calls(tree: ast.Module, facts: FileFacts) -> list[ExpireValue]:
    # Walking every tree would double pass 1; a module that makes sessions imports the
    # factory (or its module) at module level.
    if not any(
        marker in target for target in facts.imports.values() for marker in _FACTORY_IMPORTS
    ):
        return []
    return [
        expire_on_commit_of(node)
        for node in walk(tree)
        if isinstance(node, ast.Call) and _makes_async_sessions(node)
    ]


@collector("dependency_factories", triggers=(b"yield",), empty={})
def dependency_factories(tree: ast.Module, facts: FileFacts) -> dict[str, str]:
    """Generator dependencies and the factory of the session they yield, as written in
    this module: ``get_session -> async_session`` for ``async with async_session() as s:
    yield s`` (or ``s = async_session()`` ... ``yield s``)."""
    if not any(
        marker in target for target in facts.imports.values() for marker in _FACTORY_IMPORTS
    ):
        return {}
    found: dict[str, str] = {}
    for stmt in tree.body:
        if not isinstance(stmt, (ast.AsyncFunctionDef, ast.FunctionDef)):
            continue
        if not definition_holds(facts, stmt, b"yield"):
            continue  # yields nothing: no factory of a yielded session
        made: dict[str, str] = {}
        yielded: list[str] = []
        for node in walk(stmt):
            if isinstance(node, (ast.AsyncWith, ast.With)):
                for item in node.items:
                    if isinstance(item.context_expr, ast.Call) and isinstance(
                        item.optional_vars, ast.Name
                    ):
                        callee = _dotted(item.context_expr.func)
                        if callee:
                            made[item.optional_vars.id] = callee
            elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
                callee = _dotted(node.value.func)
                for target in node.targets:
                    if callee and isinstance(target, ast.Name):
                        made[target.id] = callee
            elif isinstance(node, ast.Yield) and isinstance(node.value, ast.Name):
                yielded.append(node.value.id)
        factories = {made[name] for name in yielded if name in made}
        if len(factories) == 1:
            found[stmt.name] = factories.pop()
    return found


@collector("alias_dependencies", triggers=(b"Depends",), empty={})
def alias_dependencies(tree: ast.Module, facts: FileFacts) -> dict[str, str]:
    """``SessionDep = Annotated[AsyncSession, Depends(get_session)]`` -> ``get_session``."""
    found: dict[str, str] = {}
    for alias, _, call in depends_aliases(tree):
        dependency = _dotted(call.args[0]) if call.args else None
        if dependency:
            found[alias] = dependency
    return found


#: App-wide handlers of these answer a missing row on purpose (handlers of broad bases
#: such as ``Exception`` usually answer 500, so they do not count).
NO_RESULT_CLASSES = frozenset({"NoResultFound"})


@collector("no_result_handlers", triggers=(b"exception_handler",), empty=False)
def no_result_handlers(tree: ast.Module, facts: FileFacts) -> bool:
    """Whether the module registers an app-wide handler that answers ``NoResultFound``
    (``@app.exception_handler(NoResultFound)`` or ``app.add_exception_handler(...)``):
    then a missing row already becomes whatever that handler says."""
    if not any(
        target.rsplit(".", 1)[-1] in NO_RESULT_CLASSES or target == "sqlalchemy.exc"
        for target in facts.imports.values()
    ):
        return False
    for node in walk(tree):
        if (
            isinstance(node, ast.Call)
            and _leaf(node.func) in ("exception_handler", "add_exception_handler")
            and node.args
            and _leaf(node.args[0]) in NO_RESULT_CLASSES
        ):
            return True
    return False


def repo_expires_on_commit(files: Iterable[FileFacts]) -> bool:
    """Whether the repo's sessions expire on commit when their factory is not known
    locally: it makes sessions in exactly one place and that one keeps the default
    ``expire_on_commit=True`` (``flow.repo_expires_on_commit`` explains why)."""
    files = list(files)
    seen = [value for facts in files for value in sessionmaker_calls.of(facts)]
    if not seen:
        seen = [
            info.get("expire_on_commit")
            for facts in files
            for info in facts.sessionmakers.values()
            if info.get("async")
        ]
    return len(seen) == 1 and seen[0] is True


def some_sessionmaker_expires(files: Iterable[FileFacts]) -> bool:
    """Some module-level async sessionmaker of the repo keeps ``expire_on_commit=True``
    (a session known to come from it expires on commit whatever the repo's answer)."""
    return any(
        info.get("async") and info.get("expire_on_commit") is True
        for facts in files
        for info in facts.sessionmakers.values()
    )
