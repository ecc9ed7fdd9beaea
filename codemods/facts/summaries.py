"""Pass-1 function summaries: what each function of the repo does with the session
parameters it receives, so that rules read a callee's summary instead of guessing from
its name (AM302 sees a write inside a helper, AM301 sees whether a handler's helper
rolls the failed session back).

A parameter's *effects*, from how the function body uses it (data flow, not names):
``write`` (``add``/``delete``/``merge``..., an executed insert/update/delete), ``flush``,
``commit``, ``rollback``, ``close``, and ``handoff`` (passed on to another call, whose
own summary says the rest). Only session-like parameters are recorded: those with an
effect of their own, or annotated with a ``Session`` class; only functions with one.
"""

from __future__ import annotations

import ast
import re
from bisect import bisect_left
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

from asyncmend.codemods.facts.base import (
    FileFacts,
    collector,
    module_functions,
    own_nodes,
    statements,
    walk,
)
from asyncmend.codemods.facts.base import dotted as _dotted
from asyncmend.codemods.facts.source_lines import name_lines_hold

SUMMARIES = "function_summaries"

_METHOD_EFFECTS = {
    "add": "write", "add_all": "write", "delete": "write", "delete_all": "write",
    "merge": "write", "merge_all": "write", "flush": "flush", "commit": "commit",
    "rollback": "rollback", "close": "close", "aclose": "close", "reset": "close",
    "invalidate": "close",
}  # fmt: skip
_WRITE_STATEMENTS = frozenset({"insert", "update", "delete", "upsert"})
_WRITE_SQL = ("insert", "update", "delete", "merge", "replace", "upsert")


@dataclass(frozen=True)
class Handoff:
    """A parameter passed on: to ``callee`` (dotted as written), as argument ``position``
    or keyword ``keyword``."""

    callee: str
    position: int | None
    keyword: str | None


@dataclass(frozen=True)
class FunctionSummary:
    """What one function does with its session parameters (see the module doc)."""

    coroutine: bool
    #: Parameter names in order (``self`` included for methods).
    params: tuple[str, ...]
    #: Session-like parameter -> its own effects (every recorded parameter is a key).
    effects: dict[str, frozenset[str]]
    #: Parameter -> the calls it is passed on to.
    handoffs: dict[str, tuple[Handoff, ...]]
    #: Parameters the function returns.
    returns: frozenset[str]

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> FunctionSummary:
        return cls(
            coroutine=bool(data.get("coroutine")),
            params=tuple(data.get("params", ())),
            effects={k: frozenset(v) for k, v in data.get("effects", {}).items()},
            handoffs={
                k: tuple(Handoff(c, p, kw) for c, p, kw in v)
                for k, v in data.get("handoffs", {}).items()
            },
            returns=frozenset(data.get("returns", ())),
        )


def _is_write_statement(node: ast.expr | None) -> bool:
    """``insert(M)...``, ``update(M).where(...)``, ``text("UPDATE ...")``."""
    while isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        node = node.func.value  # down the method chain to its root call
    if not isinstance(node, ast.Call):
        return False
    root = (_dotted(node.func) or "").rsplit(".", 1)[-1]
    if root in _WRITE_STATEMENTS:
        return True
    if root == "text" and node.args and isinstance(node.args[0], ast.Constant):
        sql = node.args[0].value
        return isinstance(sql, str) and sql.lstrip().lower().startswith(_WRITE_SQL)
    return False


def _names_session(annotation: ast.expr) -> bool:
    """An annotation that names a ``...Session`` class (``AsyncSession``, ``Session``,
    ``Annotated[AsyncSession, ...]``, ``SessionDep``)."""
    return any(
        (isinstance(n, ast.Name) and "Session" in n.id)
        or (isinstance(n, ast.Attribute) and "Session" in n.attr)
        for n in walk(annotation)
    )


def _own_nodes(func: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.AST]:
    """The function's body, not entering nested functions, lambdas or classes."""
    return own_nodes(func.body)


def summarize(
    func: ast.FunctionDef | ast.AsyncFunctionDef, annotated: set[str] | None = None
) -> dict[str, Any] | None:
    """The JSON-able summary of one function, None when it does nothing to a parameter.
    ``annotated``: its parameters annotated with a Session class, when already known."""
    args = func.args
    every = [*args.posonlyargs, *args.args, *args.kwonlyargs]
    params = [a.arg for a in every]
    names = set(params)
    if annotated is None:
        annotated = {
            a.arg for a in every if a.annotation is not None and _names_session(a.annotation)
        }
    effects: dict[str, set[str]] = {}
    handoffs: dict[str, list[list[Any]]] = {}
    returns: set[str] = set()
    for node in _own_nodes(func):
        if isinstance(node, ast.Call):
            func_node = node.func
            if isinstance(func_node, ast.Attribute) and isinstance(func_node.value, ast.Name):
                receiver = func_node.value.id
                effect = _METHOD_EFFECTS.get(func_node.attr)
                if func_node.attr == "execute" and node.args and _is_write_statement(node.args[0]):
                    effect = "write"
                if receiver in names and effect is not None:
                    effects.setdefault(receiver, set()).add(effect)
            callee = _dotted(func_node)
            if callee is not None and callee.split(".")[0] in names:
                continue  # a method of a parameter (`session.add(user)`): not a hand-off
            for position, arg in enumerate(node.args):
                if isinstance(arg, ast.Name) and arg.id in names and callee:
                    handoffs.setdefault(arg.id, []).append([callee, position, None])
            for keyword in node.keywords:
                value = keyword.value
                if isinstance(value, ast.Name) and value.id in names and callee and keyword.arg:
                    handoffs.setdefault(value.id, []).append([callee, None, keyword.arg])
        elif isinstance(node, ast.Return) and isinstance(node.value, ast.Name):
            if node.value.id in names:
                returns.add(node.value.id)
    kept = set(effects) | annotated
    handoffs = {k: v for k, v in handoffs.items() if k in kept}
    returns &= kept
    if not effects and not handoffs and not returns:
        return None
    return {
        "coroutine": isinstance(func, ast.AsyncFunctionDef),
        "params": params,
        "effects": {k: sorted(effects.get(k, ())) for k in sorted(kept)},
        "handoffs": handoffs,
        "returns": sorted(returns),
    }


#: A function can have a summary only if its text holds one of these (a session method
#: call, or a ``Session`` annotation): a cheap test before walking its body.
_METHOD_CALLS = (*(f"{method}(".encode() for method in _METHOD_EFFECTS), b"execute(")
_TOKENS = (*(b"." + call for call in _METHOD_CALLS), b"Session")
#: ``.<session method>(`` anywhere in a file: one search instead of one per parameter and
#: method in every function (``may_have_effects``).
_METHOD_CALL = re.compile(rb"\.(?:%b)\(" % b"|".join(call[:-1] for call in _METHOD_CALLS))


@collector(SUMMARIES, triggers=_TOKENS, empty={})
def function_summaries(tree: ast.Module, facts: FileFacts) -> dict[str, Any]:
    """``func`` and ``Class.method`` -> summary, for module-level functions and methods."""
    found: dict[str, Any] = {}
    source = facts.source
    # Where each line ends (lines split at "\n" only), and where each `.method(` is.
    ends = list(accumulate(map(len, source.split(b"\n"))))
    calls = [match.start() for match in _METHOD_CALL.finditer(source)]

    def start(line: int) -> int:  # of the 0-based line `line`, "\n"s included
        return ends[line - 1] + line if line else 0

    def may_have_effects(
        func: ast.FunctionDef | ast.AsyncFunctionDef, every: list[ast.arg]
    ) -> bool:
        """``<param>.<session method>(`` in the function's lines (a few byte comparisons
        instead of a walk)."""
        if not source or func.end_lineno is None:
            return True
        first, last = func.lineno - 1, min(func.end_lineno, len(ends))
        if first >= last:
            return False
        begin, end = start(first), start(last) - 1  # `.method(` holds no line end
        names = [a.arg.encode() for a in every]
        return any(
            at - len(name) >= begin and source.startswith(name, at - len(name))
            for at in calls[bisect_left(calls, begin) : bisect_left(calls, end)]
            for name in names
        )

    for name, func in module_functions(tree):
        args = func.args
        every = [*args.posonlyargs, *args.args, *args.kwonlyargs]
        annotated = {
            a.arg
            for a in every
            if a.annotation is not None
            and name_lines_hold(facts, b"Session", a.annotation)
            and _names_session(a.annotation)
        }
        if (annotated or may_have_effects(func, every)) and (
            summary := summarize(func, annotated)
        ) is not None:
            found[name] = summary
    return found


def summaries_of(facts: FileFacts | None) -> dict[str, FunctionSummary]:
    """The typed summaries of one file's facts (empty when there are none)."""
    if facts is None:
        return {}
    data = function_summaries.of(facts)
    return {name: FunctionSummary.from_data(item) for name, item in data.items()}


@collector("enqueue_only", triggers=(b".put",), empty=())
def enqueue_only(tree: ast.Module, facts: FileFacts) -> list[str]:
    """Module-level ``async def``s whose body only puts items on a queue
    (``await queue.put(...)``, ``queue.put_nowait(...)``): calling one waits for no I/O,
    the work is already handed to another worker (AM401)."""
    found = []
    for node in tree.body:
        if not isinstance(node, ast.AsyncFunctionDef):
            continue
        body = list(node.body)
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            body = body[1:]  # the docstring
        if body and all(_is_enqueue(stmt) for stmt in body):
            found.append(node.name)
    return found  # a list: what the cache reads back


def _is_enqueue(stmt: ast.stmt) -> bool:
    if isinstance(stmt, ast.Pass):
        return True
    if not isinstance(stmt, ast.Expr):
        return False
    value = stmt.value.value if isinstance(stmt.value, ast.Await) else stmt.value
    return (
        isinstance(value, ast.Call)
        and isinstance(value.func, ast.Attribute)
        and value.func.attr in ("put", "put_nowait")
    )


@collector("raises_http_error", triggers=(b"HTTPException", b"WebSocketException"), empty=())
def raises_http_error(tree: ast.Module, facts: FileFacts) -> list[str]:
    """Module-level functions that raise an ``HTTPException`` themselves: a route that
    awaits one relies on the error reaching the client (AM401 must not move the call)."""
    found = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and any(
            isinstance(inner, ast.Raise)
            and inner.exc is not None
            and (_dotted(inner.exc.func if isinstance(inner.exc, ast.Call) else inner.exc) or "")
            .rsplit(".", 1)[-1]
            .endswith(("HTTPException", "WebSocketException"))
            for inner in statements(node)
        ):
            found.append(node.name)
    return found  # a list: what the cache reads back
