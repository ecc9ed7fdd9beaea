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
from collections.abc import Iterable, Iterator
from typing import Any

from asyncmend.codemods.facts.base import (
    FileFacts,
    assignment,
    block_children,
    collector,
    depends_aliases,
    iter_child_nodes,
    own_nodes,
    release_closure,
    resolve_import,
    statements,
    walk,
)
from asyncmend.codemods.facts.base import dotted as _dotted
from asyncmend.codemods.facts.source_lines import definition_holds, name_lines_hold

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


def _own_nodes(func: ast.AST) -> list[ast.AST]:
    """The nodes of ``func``'s body, not those of nested functions, lambdas or classes."""
    return own_nodes(list(iter_child_nodes(func)))


def _own_statements(func: ast.FunctionDef | ast.AsyncFunctionDef) -> Iterable[ast.AST]:
    """The statements ``_own_nodes(func)`` yields, in its order, without walking any
    expression (a depth-first order kept to a subtree's top part is that part's own)."""
    stack: list[ast.AST] = list(func.body)
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        stack.extend(block_children(node))


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


@collector("async_def_kinds", empty={})
def async_def_kinds(tree: ast.Module, facts: FileFacts) -> dict[str, str]:
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
                    and definition_holds(facts, stmt, b"yield")
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
    release_closure(scan)
    return kinds


def _mentions(node: ast.AST, name: str) -> bool:
    return any(
        (isinstance(n, ast.Name) and n.id == name)
        or (isinstance(n, ast.Attribute) and n.attr == name)
        for n in walk(node)
    )


@collector("session_alias_depends", empty={})
def session_alias_depends(tree: ast.Module, facts: FileFacts) -> dict[str, str]:
    found: dict[str, str] = {}
    for alias, value, call in depends_aliases(tree):
        if _mentions(value, "AsyncSession"):
            found[alias] = next(
                (
                    str(keyword.value.value)
                    for keyword in call.keywords
                    if keyword.arg == "scope" and isinstance(keyword.value, ast.Constant)
                ),
                "",
            )
    return found


def _mentions_session(node: ast.AST | None) -> bool:
    return node is not None and any(
        (isinstance(n, ast.Name) and n.id == "AsyncSession")
        or (isinstance(n, ast.Attribute) and n.attr == "AsyncSession")
        for n in walk(node)
    )


@collector("session_aliases", triggers=(b"AsyncSession",), empty=())
def session_aliases(tree: ast.Module, facts: FileFacts) -> list[str]:
    """``SessionDep = Annotated[AsyncSession, Depends(get_session)]`` and the like."""
    return [
        target.id
        for stmt in tree.body
        if isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Subscript)
        and _mentions_session(stmt.value)
        for target in stmt.targets
        if isinstance(target, ast.Name)
    ]  # fmt: skip


@collector("session_dependencies", triggers=(b"yield",), empty=())
def session_dependencies(tree: ast.Module, facts: FileFacts) -> list[str]:
    """Module-level generator functions that yield an AsyncSession (FastAPI dependencies):
    annotated ``-> AsyncIterator[AsyncSession]``, or yielding from ``async with
    <sessionmaker>() as s``. One walk per function."""
    makers = set(facts.sessionmakers) | {"AsyncSession"}
    found = []
    for stmt in tree.body:
        if not isinstance(stmt, (ast.AsyncFunctionDef, ast.FunctionDef)):
            continue
        if not definition_holds(facts, stmt, b"yield"):
            continue  # no `yield` in its lines: no generator
        has_yield = opens_session = False
        for node in walk(stmt):
            if isinstance(node, ast.Yield):
                has_yield = True
            elif isinstance(node, ast.AsyncWith):
                opens_session = opens_session or any(
                    isinstance(item.context_expr, ast.Call)
                    and (_dotted(item.context_expr.func) or "").rsplit(".", 1)[-1] in makers
                    for item in node.items
                )
        if has_yield and (opens_session or _mentions_session(stmt.returns)):
            found.append(stmt.name)
    return found


def _names_sync_session(node: ast.AST | None) -> bool:
    return node is not None and any(
        (isinstance(n, ast.Name) and n.id == "Session")
        or (isinstance(n, ast.Attribute) and n.attr == "Session")
        for n in walk(node)
    )


def _mentions_sync_session(node: ast.AST | None) -> bool:
    """An annotation naming a sync ``Session`` (``Iterator[Session]``) and no AsyncSession."""
    return not _mentions_session(node) and _names_sync_session(node)


@collector("sync_session_dependencies", triggers=(b"yield",), empty=())
def sync_session_dependencies(tree: ast.Module, facts: FileFacts) -> list[str]:
    """Module-level generator functions that yield a sync ``Session`` (negative evidence:
    a ``Depends`` on one is no AsyncSession, whatever the parameter is called): annotated
    ``-> Iterator[Session]`` / ``Generator[Session, ...]``, or a plain ``def`` generator
    that makes no async session (it could not close one: closing needs ``await``)."""
    async_makers = {name for name, info in facts.sessionmakers.items() if info["async"]}
    found = []
    for stmt in tree.body:
        if not isinstance(stmt, (ast.AsyncFunctionDef, ast.FunctionDef)):
            continue
        if not definition_holds(facts, stmt, b"yield") or not any(
            isinstance(node, (ast.Yield, ast.YieldFrom)) for node in walk(stmt)
        ):
            continue
        if _mentions_sync_session(stmt.returns):
            found.append(stmt.name)
        elif (
            isinstance(stmt, ast.FunctionDef)
            and not _mentions_session(stmt.returns)
            and not _mentions_session(stmt)
            and not any(
                isinstance(node, ast.Call) and (_dotted(node.func) or "") in async_makers
                for node in walk(stmt)
            )
        ):
            found.append(stmt.name)
    return found


#: What ``create_async_engine(...)`` / an ``AsyncEngine`` annotation is spelled as.
_ASYNC_ENGINE_NAMES = frozenset({"create_async_engine", "AsyncEngine"})


@collector("async_engines", triggers=(b"create_async_engine", b"AsyncEngine"), empty=())
def async_engines(tree: ast.Module, facts: FileFacts) -> list[str]:
    """Module-level names bound to an ``AsyncEngine``: ``engine =
    create_async_engine(...)`` or ``engine: AsyncEngine = ...`` (AM206 reads them where
    another module imports the engine)."""
    found = []
    for stmt in tree.body:
        targets, value = assignment(stmt)
        annotation = stmt.annotation if isinstance(stmt, ast.AnnAssign) else None
        callee = _dotted(value.func) if isinstance(value, ast.Call) else None
        if (callee or "").rsplit(".", 1)[-1] in _ASYNC_ENGINE_NAMES or (
            (_dotted(annotation) or "").rsplit(".", 1)[-1] == "AsyncEngine"
        ):
            found.extend(t.id for t in targets if isinstance(t, ast.Name))
    return found


# -- functions that return a session (provenance across the repo) --------------------------

#: Return-annotation heads whose AsyncSession argument is what a *call of the result* makes.
_MAKER_HEADS = frozenset({"async_sessionmaker", "sessionmaker", "Callable"})


def _annotation(node: ast.expr | None) -> ast.expr | None:
    """An annotation, with a string one (``-> "AsyncSession"``) parsed."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        try:
            return ast.parse(node.value, mode="eval").body
        except SyntaxError:
            return None
    return node


def _returned_kind(returns: ast.expr | None) -> str | None:
    """What a function annotated ``-> returns`` gives: ``"session"`` (an AsyncSession,
    also through ``AsyncIterator[...]``, ``Optional[...]``, ``Awaitable[...]``),
    ``"maker"`` (``async_sessionmaker[AsyncSession]``), ``"sync"`` (a sync ``Session``
    or an iterator of one), else None."""
    returns = _annotation(returns)
    if returns is None:
        return None
    head = returns.value if isinstance(returns, ast.Subscript) else returns
    leaf = (_dotted(head) or "").rsplit(".", 1)[-1]
    if _mentions_session(returns) and _names_sync_session(returns):
        return None  # `Union[AsyncSession, Session]`: either kind, so neither is known
    if _mentions_session(returns):
        return "maker" if leaf in _MAKER_HEADS else "session"
    if _mentions_sync_session(returns) and leaf not in _MAKER_HEADS:
        return "sync"
    return None


def _made_kind(
    func: ast.FunctionDef | ast.AsyncFunctionDef, makers: dict[str, bool], may_yield: bool
) -> str | None:
    """An unannotated function that returns or yields ``maker()`` / ``AsyncSession(...)``
    (``"session"``; a plain sessionmaker's: ``"sync"``) or returns a maker (``"maker"``).
    Without a ``yield`` (``may_yield``), what it reads are statements: no expression walked."""
    opened: dict[str, bool] = {}
    returned: list[ast.expr] = []
    nodes = _own_nodes(func) if may_yield else _own_statements(func)
    for node in nodes:  # one walk: what `with` opens, what is returned
        if isinstance(node, (ast.With, ast.AsyncWith)):
            for item in node.items:
                kind = _call_kind(item.context_expr, makers)
                if kind is not None and isinstance(item.optional_vars, ast.Name):
                    opened[item.optional_vars.id] = kind
        elif isinstance(node, (ast.Return, ast.Yield)) and node.value is not None:
            returned.append(node.value)
    for value in returned:
        if isinstance(value, ast.Name) and value.id in opened:
            return "session" if opened[value.id] else "sync"
        if isinstance(value, ast.Name) and makers.get(value.id):
            return "maker"
        kind = _call_kind(value, makers)
        if kind is not None:
            return "session" if kind else "sync"
    return None


def _call_kind(node: ast.expr, makers: dict[str, bool]) -> bool | None:
    """``maker()`` of a module sessionmaker (its kind) or ``AsyncSession(...)`` (True)."""
    if not isinstance(node, ast.Call):
        return None
    callee = _dotted(node.func) or ""
    if callee.rsplit(".", 1)[-1] == "AsyncSession":
        return True
    return makers.get(callee)


@collector("session_returners", triggers=(b"Session", b"sessionmaker"), empty={})
def session_returners(tree: ast.Module, facts: FileFacts) -> dict[str, str]:
    """Functions and methods (``func``, ``Class.method``) whose call gives a session, by
    their return annotation or by what they return: ``get_db`` (``-> AsyncIterator[
    AsyncSession]``, an ``@asynccontextmanager``), ``Database.session_context``,
    ``Repo._require_session``, ``get_session_maker`` (``"maker"``: its call's call is a
    session); ``"sync"`` for a sync ``Session`` (negative evidence)."""
    makers = {name: bool(info["async"]) for name, info in facts.sessionmakers.items()}
    # Walks skipped where the bytes rule them out (most files holding "Session" make none).
    class_makers = b"sessionmaker" in facts.source
    for stmt in tree.body:  # `self.maker = async_sessionmaker(...)` in a class, and the like
        if not (class_makers and isinstance(stmt, ast.ClassDef)):
            continue
        for node in statements(stmt):
            targets, value = assignment(node)
            if isinstance(value, ast.Call):
                leaf = (_dotted(value.func) or "").rsplit(".", 1)[-1]
                if leaf in ("async_sessionmaker", "sessionmaker"):
                    is_async = leaf == "async_sessionmaker" or _mentions_session(value)
                    for target in targets:
                        if (name := _dotted(target)) is not None:
                            makers.setdefault(name, is_async)
    found: dict[str, str] = {}
    # `_made_kind` needs a call of a known maker or of `AsyncSession` (`_call_kind`).
    may_make = bool(makers) or b"AsyncSession" in facts.source

    def scan(body: Iterable[ast.stmt], prefix: str) -> None:
        for stmt in body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                returns = stmt.returns
                # Every kind names a `...Session` (a string annotation is read, escapes too).
                spelled = returns is None or isinstance(returns, ast.Constant)
                spelled = spelled or name_lines_hold(facts, b"Session", returns)
                kind = _returned_kind(returns) if spelled else None
                if kind is None and may_make:
                    kind = _made_kind(stmt, makers, definition_holds(facts, stmt, b"yield"))
                if kind is not None:
                    found[prefix + stmt.name] = kind
                else:
                    found.pop(prefix + stmt.name, None)
            elif isinstance(stmt, ast.ClassDef) and not prefix:
                scan(stmt.body, f"{stmt.name}.")
            elif isinstance(stmt, (ast.If, ast.Try)):
                scan(stmt.body, prefix)

    scan(tree.body, "")
    release_closure(scan)
    return found


#: Decorators after which a call still returns what the function is annotated to return.
_KEEPING_DECORATORS = frozenset({"functools.lru_cache", "functools.cache"})
#: Annotation roots that name no class of the repo (``-> dict``, ``-> Any``).
_NOT_REPO_CLASSES = ("typing.", "typing_extensions.", "collections.", "builtins.")


def _top_level_names(body: Iterable[ast.stmt]) -> Iterator[str]:
    """Names the module binds at top level (also inside ``if``/``try``/``with`` blocks)."""
    for stmt in body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            yield stmt.name
        elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
            yield from ((a.asname or a.name).split(".")[0] for a in stmt.names)
        elif isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.For, ast.AsyncFor)):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            yield from (n.id for t in targets for n in walk(t) if isinstance(n, ast.Name))
        if isinstance(stmt, (ast.If, ast.Try, ast.With, ast.For, ast.AsyncFor, ast.While)):
            for block in ("body", "orelse", "finalbody"):
                yield from _top_level_names(getattr(stmt, block, ()))
            for handler in getattr(stmt, "handlers", ()):
                yield from _top_level_names(handler.body)


@collector("returned_classes", triggers=(b"->",), empty={})
def returned_classes(tree: ast.Module, facts: FileFacts) -> dict[str, dict[str, Any]]:
    """Module-level factories annotated to return one class (``def get_adapter() ->
    Adapter``), undecorated or cached (``@lru_cache``, ``@cache``): name -> {"class": a
    module-level class of this file (``"local"``) or the qualified name of an imported one,
    "local", "async": whether a call must be awaited for it}. A union, ``Optional`` or
    generic names no one class; a factory, class or import name bound twice is left out."""
    counts: dict[str, int] = {}
    for name in _top_level_names(tree.body):
        counts[name] = counts.get(name, 0) + 1
    classes = {stmt.name for stmt in tree.body if isinstance(stmt, ast.ClassDef)}
    found: dict[str, dict[str, Any]] = {}
    for stmt in tree.body:
        if not isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) or counts[stmt.name] > 1:
            continue
        decorators = (
            _dotted(d.func if isinstance(d, ast.Call) else d) for d in stmt.decorator_list
        )
        if not all(resolve_import(d, facts) in _KEEPING_DECORATORS for d in decorators):
            continue
        name = _dotted(_annotation(stmt.returns)) if stmt.returns is not None else None
        if name is None or counts.get(name.split(".")[0], 0) != 1:
            continue
        is_async = isinstance(stmt, ast.AsyncFunctionDef)
        if name in classes:
            found[stmt.name] = {"class": name, "local": True, "async": is_async}
        elif name.split(".")[0] in facts.imports:
            qualified = resolve_import(name, facts) or name
            if not qualified.startswith(_NOT_REPO_CLASSES):
                found[stmt.name] = {"class": qualified, "local": False, "async": is_async}
    return found


@collector("scoped_sessions", triggers=(b"scoped_session",), empty=())
def scoped_sessions(tree: ast.Module, facts: FileFacts) -> list[str]:
    """Module-level names bound to ``async_scoped_session(...)``: a proxy that is used
    as a session (``session.execute(...)``), here and where it is imported."""
    found = []
    for stmt in tree.body:
        targets, value = assignment(stmt)
        if (
            isinstance(value, ast.Call)
            and (_dotted(value.func) or "").rsplit(".", 1)[-1] == "async_scoped_session"
        ):
            found.extend(t.id for t in targets if isinstance(t, ast.Name))
    return found


#: Where the sync ``Session`` class is imported from.
_SYNC_SESSION_MODULES = (
    "sqlalchemy.orm.Session",
    "sqlalchemy.orm.session.Session",
    "sqlmodel.Session",
)


@collector("sync_session_aliases", triggers=(b"Session",), empty=())
def sync_session_aliases(tree: ast.Module, facts: FileFacts) -> list[str]:
    """``SessionDep = Annotated[Session, Depends(...)]`` where ``Session`` is the sync
    class this module imports (``sqlalchemy.orm``, ``sqlmodel``)."""
    sync = {local for local, target in facts.imports.items() if target in _SYNC_SESSION_MODULES}
    found = []
    for stmt in tree.body:
        if not (isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Subscript)):
            continue
        value = stmt.value
        head = (_dotted(value.value) or "").rsplit(".", 1)[-1]
        first = value.slice.elts[0] if isinstance(value.slice, ast.Tuple) else value.slice
        if head in ("Annotated", "Optional") and isinstance(first, ast.Name) and first.id in sync:
            found.extend(t.id for t in stmt.targets if isinstance(t, ast.Name))
    return found
