"""Pass-1 collectors for the session and missing-await rules (AM102-AM104, AM204).

- ``async_def_kinds``: the module's and classes' ``async def``s that do not return a
  plain coroutine when called: async generators (``"generator"``), functions wrapped by
  an ``asynccontextmanager`` (``"contextmanager"``), and those wrapped by a decorator
  this module does not know (``"decorated"``: still reported, never fixed).
- ``session_alias_depends``: module-level ``X = Annotated[AsyncSession, Depends(dep, ...)]``
  aliases with the ``scope=`` their ``Depends`` passes (``""`` when none).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable

from asyncmend.engine.index import COLLECTORS, FileFacts
from asyncmend.engine.index import dotted as _dotted

#: Decorators that return the function they wrap (or an equivalent coroutine function).
PRESERVING_DECORATORS = frozenset(
    {"staticmethod", "classmethod", "abstractmethod", "override", "overload", "wraps"}
)
#: Route and event decorators of FastAPI/Starlette objects return the function unchanged.
PRESERVING_METHODS = frozenset(
    {"get", "post", "put", "patch", "delete", "head", "options", "trace", "api_route",
     "websocket", "route", "on_event", "middleware", "exception_handler", "websocket_route"}
)  # fmt: skip
CONTEXT_MANAGER_DECORATORS = frozenset({"asynccontextmanager", "contextmanager"})


def _own_nodes(func: ast.AST) -> Iterable[ast.AST]:
    """The nodes of ``func``'s body, not those of nested functions, lambdas or classes."""
    stack = list(ast.iter_child_nodes(func))
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            continue
        stack.extend(ast.iter_child_nodes(node))


def decorator_kind(names: Iterable[str]) -> str | None:
    """``"contextmanager"``, ``"decorated"`` (unknown wrapper) or None (keeps a coroutine)."""
    kind = None
    for name in names:
        leaf = name.rsplit(".", 1)[-1]
        if leaf in CONTEXT_MANAGER_DECORATORS:
            return "contextmanager"
        if leaf in PRESERVING_DECORATORS or ("." in name and leaf in PRESERVING_METHODS):
            continue
        kind = "decorated"
    return kind


def _async_def_kinds(tree: ast.Module, facts: FileFacts) -> dict[str, str]:
    kinds: dict[str, str] = {}
    may_yield = b"yield" in facts.source

    def scan(body: Iterable[ast.stmt], prefix: str) -> None:
        for stmt in body:
            if isinstance(stmt, ast.AsyncFunctionDef):
                names = []
                for decorator in stmt.decorator_list:
                    target = decorator.func if isinstance(decorator, ast.Call) else decorator
                    names.append(_dotted(target) or "<expression>")
                kind = decorator_kind(names)
                if (
                    kind != "contextmanager"
                    and may_yield
                    and any(isinstance(n, (ast.Yield, ast.YieldFrom)) for n in _own_nodes(stmt))
                ):
                    kind = "generator"
                if kind is not None:
                    kinds[prefix + stmt.name] = kind
            elif isinstance(stmt, ast.ClassDef):
                scan(stmt.body, f"{prefix}{stmt.name}.")
            elif isinstance(stmt, (ast.If, ast.Try)):
                scan(stmt.body, prefix)

    scan(tree.body, "")
    return kinds


def _mentions(node: ast.AST, name: str) -> bool:
    return any(
        (isinstance(n, ast.Name) and n.id == name)
        or (isinstance(n, ast.Attribute) and n.attr == name)
        for n in ast.walk(node)
    )


def _session_alias_depends(tree: ast.Module, facts: FileFacts) -> dict[str, str]:
    found: dict[str, str] = {}
    for stmt in tree.body:
        if not (isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Subscript)):
            continue
        if not _mentions(stmt.value, "AsyncSession"):
            continue
        for node in ast.walk(stmt.value):
            if isinstance(node, ast.Call) and (_dotted(node.func) or "").endswith("Depends"):
                scope = ""
                for keyword in node.keywords:
                    if keyword.arg == "scope" and isinstance(keyword.value, ast.Constant):
                        scope = str(keyword.value.value)
                for target in stmt.targets:
                    if isinstance(target, ast.Name):
                        found[target.id] = scope
                break
    return found


COLLECTORS["async_def_kinds"] = _async_def_kinds
COLLECTORS["session_alias_depends"] = _session_alias_depends
