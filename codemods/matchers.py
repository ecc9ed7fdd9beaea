"""Shared matchers: "is this call a session factory?", "is this a route handler?".

Every rule that asks one of these questions asks it here, so they all agree. Answers
come from what names are bound to (module assignments, imports resolved through the
repo index), never from a name alone, except where the user configured names.
"""

from __future__ import annotations

import fnmatch

import libcst as cst

from asyncmend.codemods.analysis import dotted_name, import_map, qualified_name
from asyncmend.codemods.base import FileContext
from asyncmend.engine.walker import iter_descendants

SESSIONMAKER_CALLS = ("async_sessionmaker", "sessionmaker")
ASYNC_SESSION_CLASSES = (
    "sqlalchemy.ext.asyncio.AsyncSession",
    "sqlalchemy.ext.asyncio.session.AsyncSession",
)
ROUTE_METHODS = frozenset(
    {"get", "post", "put", "patch", "delete", "head", "options", "trace", "api_route", "websocket"}
)
APP_CLASSES = ("fastapi.FastAPI", "fastapi.APIRouter", "fastapi.routing.APIRouter")


def _is_async_sessionmaker_call(call: cst.Call, context: FileContext) -> bool:
    name = qualified_name(call.func, context) or ""
    leaf = name.rsplit(".", 1)[-1]
    if leaf == "async_sessionmaker":
        return True
    if leaf == "sessionmaker":
        # sessionmaker(class_=AsyncSession) makes async sessions too.
        return any(
            arg.keyword is not None
            and arg.keyword.value == "class_"
            and (dotted_name(arg.value) or "").endswith("AsyncSession")
            for arg in call.args
        )
    return False


def local_sessionmakers(context: FileContext) -> frozenset[str]:
    """Dotted names bound anywhere in the module to ``async_sessionmaker(...)``:
    ``async_session``, ``self.session_factory``, ``Database.sessions``..."""
    cached = context.cache.get("local_sessionmakers")
    if cached is not None:
        return cached
    found: set[str] = set()
    for node in iter_descendants(context.module):
        value: cst.BaseExpression | None = None
        targets: list[cst.BaseExpression] = []
        if isinstance(node, cst.Assign):
            value, targets = node.value, [t.target for t in node.targets]
        elif isinstance(node, cst.AnnAssign) and node.value is not None:
            value, targets = node.value, [node.target]
        if isinstance(value, cst.Call) and _is_async_sessionmaker_call(value, context):
            found.update(name for target in targets if (name := dotted_name(target)))
    result = frozenset(found)
    context.cache["local_sessionmakers"] = result
    return result


def is_session_factory_call(node: cst.CSTNode, context: FileContext) -> bool:
    """Whether ``node`` is a call that makes a new ``AsyncSession``:
    a sessionmaker instance of this module or (through the repo index) of an imported
    one, ``AsyncSession(...)``, or a configured ``session-factories`` name."""
    if not isinstance(node, cst.Call):
        return False
    callee = dotted_name(node.func)
    if callee is None:
        return False
    if callee in local_sessionmakers(context):
        return True
    qualified = qualified_name(node.func, context) or callee
    if qualified in ASYNC_SESSION_CLASSES or (
        callee == "AsyncSession" and "AsyncSession" in import_map(context)
    ):
        return True
    configured = context.config.settings.get("session-factories", [])
    if callee in configured or qualified in configured:
        return True
    head = callee.split(".")[0]
    if head in import_map(context):
        module, _, name = qualified.rpartition(".")
        facts = context.index.by_module.get(module)
        if facts is None and module:
            resolved = context.index.resolve(qualified)
            module, _, name = resolved.rpartition(".")
            facts = context.index.by_module.get(module)
        if facts is not None:
            info = facts.sessionmakers.get(name)
            return bool(info and info.get("async"))
    return False


def app_objects(context: FileContext) -> frozenset[str]:
    """Names bound to ``FastAPI(...)`` / ``APIRouter(...)`` in the module, or imported
    from a module of the repo where they are (or named ``app``/``router`` there)."""
    cached = context.cache.get("app_objects")
    if cached is not None:
        return cached
    found: set[str] = set()
    for stmt in context.module.body:
        if not isinstance(stmt, cst.SimpleStatementLine):
            continue
        for small in stmt.body:
            value: cst.BaseExpression | None = None
            targets: list[cst.BaseExpression] = []
            if isinstance(small, cst.Assign):
                value, targets = small.value, [t.target for t in small.targets]
            elif isinstance(small, cst.AnnAssign):
                value, targets = small.value, [small.target]
            if (
                isinstance(value, cst.Call)
                and (qualified_name(value.func, context) or "") in APP_CLASSES
            ):
                found.update(n for t in targets if (n := dotted_name(t)))
    result = frozenset(found)
    context.cache["app_objects"] = result
    return result


def is_route_handler(func: cst.FunctionDef, context: FileContext) -> bool:
    """An ``async def`` (or def) decorated by ``<app or router>.get/post/...(...)``
    where the object was bound to ``FastAPI(...)`` or ``APIRouter(...)``."""
    apps = app_objects(context)
    for decorator in func.decorators:
        expr = decorator.decorator
        if isinstance(expr, cst.Call):
            expr = expr.func
        if isinstance(expr, cst.Attribute) and expr.attr.value in ROUTE_METHODS:
            owner = dotted_name(expr.value)
            if owner is not None and owner in apps:
                return True
    return False


def matches_any(name: str, patterns: list[str]) -> bool:
    """fnmatch against the last component of ``name`` or the whole of it."""
    leaf = name.rsplit(".", 1)[-1]
    return any(fnmatch.fnmatchcase(leaf, p) or fnmatch.fnmatchcase(name, p) for p in patterns)
