"""Coroutines: which calls return a coroutine (AsyncSession methods, ``async def``s of
this module and of the repo, ``asyncio.sleep``), and what a decorator does to one."""

from __future__ import annotations

from typing import TYPE_CHECKING

import libcst as cst

from asyncmend.codemods.facts.sessions import async_def_kinds, decorator_kind
from asyncmend.codemods.semantic.sessions import SESSION_COROUTINES, session_method
from asyncmend.codemods.semantic.tree import dotted_name, own_scope

if TYPE_CHECKING:
    from asyncmend.codemods.base import FileContext


def coroutine_callee(call: cst.Call, context: FileContext, sessions: frozenset[str]) -> str | None:
    """A readable name of what ``call`` calls when it returns a coroutine, else None:
    an AsyncSession coroutine method on a name in ``sessions``, an ``async def`` of this
    module or of the repo (through imports and the repo index), or ``asyncio.sleep``."""
    func = call.func
    called = session_method(call, sessions)
    if called is not None and called[1] in SESSION_COROUTINES:
        return ".".join(called)
    name = dotted_name(func)
    if name is None:
        return None
    qualified = context.semantic.resolve(func) or name
    if qualified == "asyncio.sleep":
        return name
    if "." not in name and name in local_async_defs(context):
        return name
    head = name.split(".")[0]
    if head in context.semantic.imports and context.index.is_coroutine_function(qualified):
        return name
    return None


def local_async_defs(context: FileContext) -> frozenset[str]:
    """Module-level ``async def`` names of this file (not rebound by a plain def)."""
    cached = context.semantic.memo.get("local_async_defs")
    if cached is None:
        # Async generators and asynccontextmanager functions return no coroutine.
        async_names = {
            s.name.value
            for s in context.module.body
            if isinstance(s, cst.FunctionDef)
            and s.asynchronous
            and local_async_def_kind(s, context) not in ("generator", "contextmanager")
        }
        sync_names = {
            s.name.value
            for s in context.module.body
            if isinstance(s, cst.FunctionDef) and s.asynchronous is None
        }
        cached = frozenset(async_names - sync_names)
        context.semantic.memo["local_async_defs"] = cached
    return cached


# -- "what type does this annotation name?" ----------------------------------------------


def local_async_def_kind(func: cst.FunctionDef, context: FileContext | None = None) -> str | None:
    """What calling the ``async def`` ``func`` returns when it is not a plain coroutine:
    ``"generator"`` (async generator), ``"contextmanager"`` (``@asynccontextmanager``),
    ``"decorated"`` (a decorator not known to keep it a coroutine function), else None.
    The same answer pass 1 stores as ``async_def_kinds`` for the repo index; with
    ``context``, a decorator of this module that returns an inner ``async def`` wrapper
    keeps a coroutine function too."""
    names = []
    wrappers = _async_wrapping_decorators(context) if context is not None else frozenset()
    for decorator in func.decorators:
        expr = decorator.decorator
        target = expr.func if isinstance(expr, cst.Call) else expr
        name = dotted_name(target) or "<expression>"
        if name not in wrappers:
            names.append(name)
    kind = decorator_kind(names)
    if kind is None and _own_yield(func, context):
        return "generator"
    return kind


def _async_wrapping_decorators(context: FileContext) -> frozenset[str]:
    """Module-level ``def deco(func)`` of this file that return an inner ``async def``
    (``@functools.wraps(func) async def wrapper(...)``): they keep a coroutine function."""
    cached = context.semantic.memo.get("async_wrapping_decorators")
    if cached is None:
        found = set()
        for stmt in context.module.body:
            if not isinstance(stmt, cst.FunctionDef) or not isinstance(
                stmt.body, cst.IndentedBlock
            ):
                continue
            inner = {
                s.name.value
                for s in stmt.body.body
                if isinstance(s, cst.FunctionDef) and s.asynchronous is not None
            }
            returned = {
                small.value.value
                for s in stmt.body.body
                if isinstance(s, cst.SimpleStatementLine)
                for small in s.body
                if isinstance(small, cst.Return) and isinstance(small.value, cst.Name)
            }
            if returned and returned <= inner:
                found.add(stmt.name.value)
        cached = frozenset(found)
        context.semantic.memo["async_wrapping_decorators"] = cached
    return cached


def _own_yield(func: cst.FunctionDef, context: FileContext | None) -> bool:
    if context is None:
        return any(isinstance(node, cst.Yield) for node in own_scope(func.body))
    if context.source and b"yield" not in context.source:
        return False  # most files: no def of theirs yields, and a walk of each costs
    semantic = context.semantic
    found = semantic.memoized("own_yield", func)
    if found is None:
        found = semantic.remember(
            "own_yield", func, any(isinstance(n, cst.Yield) for n in semantic.own_scope(func.body))
        )
    return found  # type: ignore[no-any-return]


def coroutine_callee_kind(call: cst.Call, context: FileContext) -> str | None:
    """For a call ``coroutine_callee`` accepted as an ``async def`` of this module or of
    the repo: ``"decorated"`` when that def is wrapped by an unknown decorator (it may no
    longer return a coroutine), else None."""
    name = dotted_name(call.func)
    if name is None:
        return None
    if "." not in name and name in local_async_defs(context):
        for stmt in reversed(context.module.body):  # the last def is what the name holds
            if isinstance(stmt, cst.FunctionDef) and stmt.name.value == name:
                return local_async_def_kind(stmt, context)
        return None
    qualified = context.index.resolve(context.semantic.resolve(call.func) or name)
    parts = qualified.split(".")
    for split in range(len(parts) - 1, 0, -1):
        facts = context.index.by_module.get(".".join(parts[:split]))
        if facts is not None:
            return async_def_kinds.of(facts).get(".".join(parts[split:]))
    return None
