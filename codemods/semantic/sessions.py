"""Shared matchers: "is this call a session factory?", "is this a route handler?".

Every rule that asks one of these questions asks it here, so they all agree. Answers
come from what names are bound to (module assignments, imports resolved through the
repo index), never from a name alone, except where the user configured names.
"""

from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from asyncmend.codemods.base import FileContext
from asyncmend.codemods.facts import sessions as session_facts
from asyncmend.codemods.semantic.fastapi import depends_target
from asyncmend.codemods.semantic.returns import ClassRef, local_factory_class, returned_class
from asyncmend.codemods.semantic.tree import (
    annotation_of,
    assignment,
    dotted_name,
    parameters,
    self_name,
)

ASYNC_SESSION_CLASSES = (
    "sqlalchemy.ext.asyncio.AsyncSession",
    "sqlalchemy.ext.asyncio.session.AsyncSession",
)


def session_method(
    node: cst.CSTNode, sessions: frozenset[str] | set[str]
) -> tuple[str, str] | None:
    """(session, method) of a call ``s.method(...)`` on a name in ``sessions``."""
    if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute):
        receiver = dotted_name(node.func.value)
        if receiver is not None and receiver in sessions:
            return receiver, node.func.attr.value
    return None


def _sessionmaker_call_kind(call: cst.Call, context: FileContext) -> bool | None:
    """Whether ``call`` makes a sessionmaker of async (True) or sync (False) sessions;
    None when it is no sessionmaker call."""
    name = context.semantic.resolve(call.func) or ""
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
    return None


def _module_sessionmakers(context: FileContext) -> dict[str, bool]:
    """Dotted names bound anywhere in the module to a sessionmaker (``async_session``,
    ``self.session_factory``, ``Database.sessions``...) -> whether it makes async
    sessions. A name bound to both kinds is left out."""
    found = context.semantic.memo.get("module_sessionmakers")
    if found is None:
        kinds: dict[str, set[bool]] = {}
        for node in context.semantic.module_statements():
            value, targets = assignment(node)
            if not isinstance(value, cst.Call) or isinstance(node, cst.WithItem):
                continue
            kind = _sessionmaker_call_kind(value, context)
            if kind is not None:
                for target in targets:
                    if (name := dotted_name(target)) is not None:
                        kinds.setdefault(name, set()).add(kind)
        found = {name: next(iter(k)) for name, k in kinds.items() if len(k) == 1}
        context.semantic.memo["module_sessionmakers"] = found
    return found


def local_sessionmakers(context: FileContext) -> frozenset[str]:
    """Dotted names bound anywhere in the module to an async sessionmaker."""
    return frozenset(name for name, is_async in _module_sessionmakers(context).items() if is_async)


def _sessionmaker_info(call: cst.Call, context: FileContext) -> bool | None:
    """Whether ``call`` calls a sessionmaker of async (True) or sync (False) sessions:
    one of this module or (repo index) an imported one; None when unknown."""
    callee = dotted_name(call.func)
    if callee is None:
        return None
    local = _module_sessionmakers(context).get(callee)
    if local is not None:
        return local
    if callee.split(".")[0] not in context.semantic.imports:
        return None
    qualified = context.semantic.resolve(call.func) or callee
    module, _, name = qualified.rpartition(".")
    facts = context.index.by_module.get(module)
    if facts is None and module:
        module, _, name = context.index.resolve(qualified).rpartition(".")
        facts = context.index.by_module.get(module)
    info = facts.sessionmakers.get(name) if facts is not None else None
    return bool(info["async"]) if info else None


def is_async_session_class(expr: cst.BaseExpression, context: FileContext) -> bool:
    """``expr`` names the ``AsyncSession`` class itself (``AsyncSession(engine)``)."""
    callee = dotted_name(expr)
    return context.semantic.resolve(expr) in ASYNC_SESSION_CLASSES or (
        callee == "AsyncSession" and "AsyncSession" in context.semantic.imports
    )


#: ``AsyncSession`` and SQLModel's subclass of it (same events: none of its own).
_ASYNC_SESSION_TYPES = (*ASYNC_SESSION_CLASSES, "sqlmodel.ext.asyncio.session.AsyncSession")
#: ``async_sessionmaker`` wherever it is imported from.
ASYNC_SESSIONMAKERS = (
    "sqlalchemy.ext.asyncio.async_sessionmaker",
    "sqlalchemy.ext.asyncio.session.async_sessionmaker",
)


def async_session_object(
    expr: cst.BaseExpression, ancestors: Sequence[cst.CSTNode], context: FileContext
) -> str | None:
    """What async session object ``expr`` certainly is: ``"class"`` (``AsyncSession``
    itself, resolved through imports), ``"instance"`` (``AsyncSession(...)`` or a name
    every binding of which is such a call or annotated ``AsyncSession``), ``"maker"`` (an
    ``async_sessionmaker(...)``); None otherwise (unknown is None)."""
    semantic = context.semantic
    if semantic.resolve(expr) in _ASYNC_SESSION_TYPES and not isinstance(expr, cst.Call):
        if isinstance(expr, cst.Name) and not semantic.means_import(expr.value, ancestors):
            return None
        return "class"
    kind = semantic.value_kind(expr, ancestors)
    if kind in _ASYNC_SESSION_TYPES:
        return "instance"
    if kind in ASYNC_SESSIONMAKERS:
        return "maker"
    return None


def is_session_factory_call(node: cst.CSTNode, context: FileContext) -> bool:
    """Whether ``node`` is a call that makes a new ``AsyncSession``:
    a sessionmaker instance of this module or (through the repo index) of an imported
    one, ``AsyncSession(...)``, ``get_session_maker()()`` (a repo function that returns
    an async sessionmaker), or a configured ``session-factories`` name."""
    if not isinstance(node, cst.Call):
        return False
    if isinstance(node.func, cst.Call):  # `get_session_maker()()`: a repo maker's call
        return _returner_kind(node.func, None, context) == "maker"
    callee = dotted_name(node.func)
    if callee is None:
        return False
    qualified = context.semantic.resolve(node.func) or callee
    if is_async_session_class(node.func, context):
        return True
    configured = context.config.settings.get("session-factories", [])
    if callee in configured or qualified in configured:
        return True
    return _sessionmaker_info(node, context) is True


# -- "is this name an AsyncSession?" -----------------------------------------------------

#: Coroutine methods of AsyncSession (SQLAlchemy 2.1, by introspection; DESIGN.md).
SESSION_COROUTINES = frozenset(
    {"aclose", "close", "close_all", "commit", "connection", "delete", "delete_all", "execute",
     "flush", "get", "get_one", "invalidate", "merge", "merge_all", "refresh", "reset",
     "rollback", "run_sync", "scalar", "scalars", "stream", "stream_scalars"}
)  # fmt: skip
#: The sync session classes (``speaks_sync``).
SYNC_SESSION_CLASSES = frozenset(
    {"sqlalchemy.orm.Session", "sqlalchemy.orm.session.Session", "sqlmodel.Session",
     "sqlmodel.orm.session.Session"}
)  # fmt: skip
#: Calls whose result is some other kind of "session" (name is not type).
NOT_ASYNC_SESSIONS = (
    "aiohttp.ClientSession",
    "requests.Session",
    "requests.session",
    "httpx.AsyncClient",
    "httpx.Client",
    "sqlalchemy.orm.Session",
    "sqlalchemy.orm.session.Session",
    "sqlmodel.Session",
)


def _annotation_is_session(annotation: cst.BaseExpression, context: FileContext) -> bool:
    """``AsyncSession``, ``Annotated[AsyncSession, ...]``, ``AsyncSession | None``, or an
    alias of those bound in this module or (repo index) in the module it came from."""
    name = dotted_name(annotation)
    if name is not None:
        qualified = context.semantic.resolve(annotation) or name
        if name.rsplit(".", 1)[-1] == "AsyncSession":
            return True
        return name in session_aliases(context) or _imported_alias(qualified, context)
    if isinstance(annotation, cst.Subscript):
        base = (dotted_name(annotation.value) or "").rsplit(".", 1)[-1]
        if base in ("Annotated", "Optional") and annotation.slice:
            first = annotation.slice[0].slice
            return isinstance(first, cst.Index) and _annotation_is_session(first.value, context)
    if isinstance(annotation, cst.BinaryOperation) and isinstance(annotation.operator, cst.BitOr):
        sides = (annotation.left, annotation.right)
        # `AsyncSession | Session`: either kind, so it is not known to be an AsyncSession.
        return any(_annotation_is_session(side, context) for side in sides) and not any(
            _is_sync_session_annotation(side, context) for side in sides
        )
    return False


def _imported_alias(qualified: str, context: FileContext) -> bool:
    module, _, name = context.index.resolve(qualified).rpartition(".")
    facts = context.index.by_module.get(module)
    return bool(facts and name in session_facts.session_aliases.of(facts))


def session_aliases(context: FileContext) -> frozenset[str]:
    """Module-level type aliases of a session: ``SessionDep = Annotated[AsyncSession, ...]``."""
    cached = context.semantic.memo.get("session_aliases")
    if cached is not None:
        return cached
    # Checking an alias's value asks for the aliases again (`User` in
    # `CurrentUser = Annotated[User, ...]`): answer "none yet" while computing.
    context.semantic.memo["session_aliases"] = frozenset()
    found = {
        name
        for name, value in context.semantic.subscript_aliases().items()
        if _annotation_is_session(value, context)
    }
    result = frozenset(found)
    context.semantic.memo["session_aliases"] = result
    return result


def is_session_dependency(dep: cst.BaseExpression, context: FileContext) -> bool:
    """``Depends(dep)`` where ``dep`` yields an AsyncSession (this module or repo index)."""
    name = dotted_name(dep)
    if name is None:
        return False
    local = context.semantic.memo.get("session_dependencies")
    if local is None:
        local = frozenset(
            stmt.name.value
            for stmt in context.module.body
            if isinstance(stmt, cst.FunctionDef) and _yields_session(stmt, context)
        )
        context.semantic.memo["session_dependencies"] = local
    if name in local:
        return True
    qualified = context.index.resolve(context.semantic.resolve(dep) or name)
    module, _, func = qualified.rpartition(".")
    facts = context.index.by_module.get(module)
    return bool(facts and func in session_facts.session_dependencies.of(facts))


def is_sync_session_dependency(dep: cst.BaseExpression, context: FileContext) -> bool:
    """``Depends(dep)`` where ``dep`` yields a sync ``Session`` (pass-1 fact of this
    module or, through its imports, of another module of the repo)."""
    name = dotted_name(dep)
    if name is None:
        return False
    if "." not in name and name not in context.semantic.imports:
        here = context.index.by_path.get(context.path)
        return bool(here and name in session_facts.sync_session_dependencies.of(here))
    qualified = context.index.resolve(context.semantic.resolve(dep) or name)
    module, _, func = qualified.rpartition(".")
    facts = context.index.by_module.get(module)
    return bool(facts and func in session_facts.sync_session_dependencies.of(facts))


def _yields_session(func: cst.FunctionDef, context: FileContext) -> bool:
    returns = func.returns.annotation if func.returns else None
    if isinstance(returns, cst.Subscript) and returns.slice:
        first = returns.slice[0].slice
        if isinstance(first, cst.Index) and _annotation_is_session(first.value, context):
            return True
    for node in context.semantic.descendants(func.body):
        if isinstance(node, cst.With):
            for item in node.items:
                if item.asname is not None and is_session_factory_call(item.item, context):
                    return any(
                        isinstance(n, cst.Yield) for n in context.semantic.descendants(func.body)
                    )
    return False


def session_names(
    func: cst.FunctionDef, context: FileContext, *, fallback: bool = True
) -> frozenset[str]:
    """Names that hold an ``AsyncSession`` inside ``func`` (not its nested functions):
    annotated parameters, ``Depends(dep)`` parameters whose dep yields a session,
    ``async with factory() as s``, ``s = factory()``, ``s: AsyncSession = ...``, and
    (with ``fallback``) the configured ``session-names`` in a module that imports
    sqlalchemy. Negative evidence always wins over the configured names: a name bound to
    something else (``aiohttp.ClientSession()``, ``httpx.AsyncClient()``), to a sync
    ``Session`` (an annotation, ``Session(...)``, a plain ``sessionmaker``, a ``Depends``
    on a dependency that yields a sync session), and any name in a module that shows
    sync sessions at all (``speaks_sync``).

    Without ``fallback`` (plain ``def``s, where a ``session`` parameter is as likely a
    sync ``Session``), only names whose type is known."""
    key = ("session_names", fallback, id(func))
    cached = context.semantic.memo.get(key)
    if cached is not None and cached[0] is func:
        return cached[1]
    found: set[str] = set()
    other: set[str] = set()
    for param in parameters(func):
        annotation = annotation_of(param)
        if annotation is not None and _annotation_is_session(annotation, context):
            found.add(param.name.value)
        elif (dep := depends_target(param.default)) is not None and is_session_dependency(
            dep, context
        ):
            found.add(param.name.value)
        elif annotation is not None or (
            dep is not None and is_sync_session_dependency(dep, context)
        ):
            other.add(param.name.value)
    for node in context.semantic.scope_statements(func.body):
        value, targets = assignment(node)
        if value is None:
            continue
        names = {n for t in targets if isinstance(t, cst.Name) for n in [t.value]}
        if isinstance(node, cst.AnnAssign) and _annotation_is_session(
            node.annotation.annotation, context
        ):
            found |= names
        elif is_session_factory_call(value, context):
            found |= names
        elif (made := call_gives_session(value, func, context)) is not None:
            # `async with get_db() as s`, `s = await db.session()`, `s = maker()()`...
            (found if made else other).update(names)
        elif isinstance(value, cst.Call) and is_other_session_call(value, context):
            # `async with httpx.AsyncClient() as session`, `db = SessionLocal()`...
            other |= names
    found |= _free_scoped_sessions(func, context) - other
    if fallback and imports_sqlalchemy(context) and not speaks_sync(context):
        # Only the configured names the function mentions matter (and cost a look).
        configured = set(context.config.settings.get("session-names", [])) & (
            context.semantic.names_read(func)
        )
        found |= configured - other - _bound_elsewhere(func, configured, context)
        found -= _free_names_bound_elsewhere(func, configured, context)
    result = frozenset(found - other)
    context.semantic.memo[key] = (func, result)
    return result


def is_other_session_call(call: cst.Call, context: FileContext) -> bool:
    """A call that makes some other kind of "session": an HTTP client, or a sync
    SQLAlchemy ``Session`` (``Session(engine)``, a plain ``sessionmaker`` instance)."""
    if (context.semantic.resolve(call.func) or "") in NOT_ASYNC_SESSIONS:
        return True
    return _sessionmaker_info(call, context) is False


def speaks_sync(context: FileContext) -> bool:
    """The module shows sync SQLAlchemy sessions: it imports the sync ``Session`` class
    (``sqlalchemy.orm``, ``sqlmodel``) or defines a plain ``sessionmaker``. A bare
    ``session`` or ``db`` there may be either kind, so the configured names say nothing
    (a guess could turn working sync code into ``await`` on a non-coroutine)."""
    found = context.semantic.memo.get("speaks_sync")
    if found is None:
        found = bool(set(context.semantic.imports.values()) & SYNC_SESSION_CLASSES) or (
            False in _module_sessionmakers(context).values()
        )
        context.semantic.memo["speaks_sync"] = found
    return found


def _bound_elsewhere(func: cst.FunctionDef, names: set[str], context: FileContext) -> set[str]:
    """Configured names that ``func`` binds to anything other than a session factory."""
    bound: set[str] = set()
    if not names:
        return bound
    for node in context.semantic.scope_statements(func.body):
        value, targets = assignment(node)
        if value is None or is_session_factory_call(value, context):
            continue
        bound |= {t.value for t in targets if isinstance(t, cst.Name) and t.value in names}
    for param in parameters(func):
        if param.name.value in names and param.annotation is not None:
            bound.add(param.name.value)  # annotated, and not as a session (checked above)
    return bound


def may_know_sessions(context: FileContext) -> bool:
    """Whether a plain ``def`` of this module can know a name is an AsyncSession (an
    annotation, a ``Depends`` or a factory call): the module has a sessionmaker, imports
    from ``sqlalchemy.ext.asyncio``, or imports from a repo module that defines a
    sessionmaker, a session alias or a session dependency."""
    cached = context.semantic.memo.get("may_know_sessions")
    if cached is None:
        index = context.index
        cached = bool(local_sessionmakers(context)) or bool(
            context.config.settings.get("session-factories")
        )
        for target in context.semantic.imports.values():
            if cached:
                break
            if target.startswith("sqlalchemy.ext.asyncio") or target == "sqlalchemy":
                cached = True
                continue
            facts = index.by_module.get(target.rpartition(".")[0]) or index.by_module.get(target)
            cached = facts is not None and bool(
                facts.sessionmakers
                or session_facts.session_aliases.of(facts)
                or session_facts.session_dependencies.of(facts)
            )
        context.semantic.memo["may_know_sessions"] = cached
    return cached


def imports_async_sqlalchemy(context: FileContext) -> bool:
    """The module imports from ``sqlalchemy.ext.asyncio`` (or sqlmodel's async session)."""
    return any(
        target.startswith(("sqlalchemy.ext.asyncio", "sqlmodel.ext.asyncio"))
        for target in context.semantic.imports.values()
    )


def imports_sqlalchemy(context: FileContext) -> bool:
    """The module imports sqlalchemy or sqlmodel, at module level or in a function."""
    return context.semantic.imports_module("sqlalchemy", "sqlmodel")


# -- sessions held on ``self`` (repository and service classes) ------------------------------


def session_attributes(cls: cst.ClassDef, context: FileContext) -> frozenset[str]:
    """Instance attributes of ``cls`` that hold an AsyncSession: class-level annotations
    (``session: AsyncSession``, dataclass style) and ``self.x = s`` in a method where
    ``s`` is a session there (``def __init__(self, session: AsyncSession)``)."""
    key = ("session_attributes", id(cls))
    cached = context.semantic.memo.get(key)
    if cached is not None:
        return cached
    found: set[str] = set()
    other: set[str] = set()
    # A class of plain ``def``s in a module without ``sqlalchemy.ext.asyncio`` holds a
    # sync session whatever its parameter is called: the configured names say nothing.
    fallback = isinstance(cls.body, cst.IndentedBlock) and (
        imports_async_sqlalchemy(context)
        or any(isinstance(s, cst.FunctionDef) and s.asynchronous for s in cls.body.body)
    )
    if isinstance(cls.body, cst.IndentedBlock):
        for stmt in cls.body.body:
            if isinstance(stmt, cst.SimpleStatementLine):
                for small in stmt.body:
                    if isinstance(small, cst.AnnAssign) and isinstance(small.target, cst.Name):
                        if _annotation_is_session(small.annotation.annotation, context):
                            found.add(small.target.value)
                        else:
                            other.add(small.target.value)
            elif isinstance(stmt, cst.FunctionDef) and (receiver := self_name(stmt)):
                for node in context.semantic.descendants(stmt.body):
                    value, targets = assignment(node)
                    for target in targets:
                        if (
                            isinstance(target, cst.Attribute)
                            and dotted_name(target.value) == receiver
                        ):
                            if _holds_session(value, stmt, context, fallback=fallback):
                                found.add(target.attr.value)
                            else:
                                other.add(target.attr.value)
    result = frozenset(found - other)
    context.semantic.memo[key] = result
    return result


def _holds_session(
    value: cst.BaseExpression | None,
    method: cst.FunctionDef,
    context: FileContext,
    *,
    fallback: bool = True,
) -> bool:
    """``value`` (assigned to ``self.x`` in ``method``) is a session: a factory call, or a
    name that is a session in ``method``. A parameter is judged by its own annotation
    (cheap: classes assign many parameters to ``self``); other names by
    ``session_names``."""
    if value is None:
        return False
    if not isinstance(value, cst.Name):
        return is_session_factory_call(value, context)
    for param in parameters(method):
        if param.name.value != value.value:
            continue
        if param.annotation is not None:
            return _annotation_is_session(param.annotation.annotation, context)
        return value.value in session_names(method, context, fallback=fallback)
    return value.value in session_names(method, context, fallback=fallback)


def method_session_names(
    func: cst.FunctionDef, owner: cst.ClassDef | None, context: FileContext
) -> frozenset[str]:
    """``session_names(func)`` plus ``self.<attr>`` for the session attributes of the
    class ``func`` is a method of (``owner``; None for a plain function)."""
    names = session_names(func, context)
    receiver = self_name(func) if owner is not None else None
    if owner is None or receiver is None:
        return names
    return names | {f"{receiver}.{attr}" for attr in session_attributes(owner, context)}


def _free_names_bound_elsewhere(
    func: cst.FunctionDef, names: set[str], context: FileContext
) -> set[str]:
    """Configured names that ``func`` neither takes nor binds, and that the module binds
    to something other than a session (``db = {}``, ``from .ext import db``, a class):
    inside ``func`` they are that module-level object."""
    own = {p.name.value for p in parameters(func)}
    free = names - own
    if not free:
        return set()
    free -= context.semantic.bound_names(func.body)
    if not free:
        return set()
    elsewhere: set[str] = set()
    for stmt in context.module.body:
        if isinstance(stmt, (cst.FunctionDef, cst.ClassDef)) and stmt.name.value in free:
            elsewhere.add(stmt.name.value)
        if not isinstance(stmt, cst.SimpleStatementLine):
            continue
        for small in stmt.body:
            if isinstance(small, (cst.Import, cst.ImportFrom)) and not isinstance(
                small.names, cst.ImportStar
            ):
                for alias in small.names:
                    local = alias.asname.name if alias.asname else alias.name
                    if isinstance(local, cst.Name) and local.value in free:
                        elsewhere.add(local.value)
                continue
            value, targets = assignment(small)
            if value is None or is_session_factory_call(value, context):
                continue
            if isinstance(small, cst.AnnAssign) and _annotation_is_session(
                small.annotation.annotation, context
            ):
                continue
            for target in targets:
                if isinstance(target, cst.Name) and target.value in free:
                    elsewhere.add(target.value)
    return elsewhere


# -- sessions from calls of the repo's functions (provenance through summaries) -------------


def call_gives_session(
    value: cst.BaseExpression, func: cst.FunctionDef | None, context: FileContext
) -> bool | None:
    """Whether ``value`` (``f()``, ``await f()``, ``db.session_context()``,
    ``self._require_session()``, ``get_maker()()``) gives an AsyncSession (True), a sync
    ``Session`` (False), or is not known to give a session (None), from the pass-1
    ``session_returners`` of the function it calls (this module or the repo index)."""
    if isinstance(value, cst.Await):
        value = value.expression
    if not isinstance(value, cst.Call):
        return None
    if isinstance(value.func, cst.Call):  # `get_session_maker()()`
        return True if _returner_kind(value.func, func, context) == "maker" else None
    kind = _returner_kind(value, func, context)
    return {"session": True, "sync": False}.get(kind or "")


def _returner_kind(
    call: cst.Call, func: cst.FunctionDef | None, context: FileContext
) -> str | None:
    callee = call.func
    if isinstance(callee, cst.Name):
        here = context.index.by_path.get(context.path)
        if callee.value not in context.semantic.imports:
            return session_facts.session_returners.of(here).get(callee.value)
        return _indexed_returner(context.semantic.resolve(callee) or callee.value, context)
    if not isinstance(callee, cst.Attribute):
        return None
    receiver = dotted_name(callee.value)
    method = callee.attr.value
    if receiver is None:  # `get_adapter().get_async_session()`
        cls = returned_class(callee.value, func, context)
        return None if cls is None else _class_returner(cls, method, context)
    if func is not None and receiver in ("self", "cls") and (owner := _owner(func, context)):
        here = context.index.by_path.get(context.path)
        return session_facts.session_returners.of(here).get(f"{owner}.{method}")
    cls = _receiver_class(receiver, func, context)
    if cls is not None:
        return _class_returner(cls, method, context)
    if receiver.split(".")[0] in context.semantic.imports:  # `db_module.get_session()`
        return _indexed_returner(context.semantic.resolve(callee) or "", context)
    return None


def _class_returner(cls: ClassRef, method: str, context: FileContext) -> str | None:
    """``session_returners`` of ``cls.method`` (a class of this module or, by its
    qualified name, of the repo index)."""
    if isinstance(cls, str):
        here = context.index.by_path.get(context.path)
        return session_facts.session_returners.of(here).get(f"{cls}.{method}")
    return _indexed_returner(f"{cls[0]}.{method}", context)


def _indexed_returner(qualified: str, context: FileContext) -> str | None:
    """``session_returners`` of ``module.func`` / ``module.Class.method`` (repo index)."""
    parts = context.index.resolve(qualified).split(".")
    for split in range(len(parts) - 1, 0, -1):
        facts = context.index.by_module.get(".".join(parts[:split]))
        if facts is not None:
            rest = ".".join(parts[split:])
            if "." in rest:  # `module.Class.method`: the class may be re-exported
                head, _, method = rest.partition(".")
                target = context.index.resolve(f"{facts.module}.{head}")
                if target != f"{facts.module}.{head}":
                    return _indexed_returner(f"{target}.{method}", context)
            return session_facts.session_returners.of(facts).get(rest)
    return None


def _owner(func: cst.FunctionDef, context: FileContext) -> str | None:
    """The module-level class ``func`` is a method of."""
    owners = context.semantic.memo.get("method_owners")
    if owners is None:
        owners = {
            id(stmt): cls.name.value
            for cls in context.module.body
            if isinstance(cls, cst.ClassDef) and isinstance(cls.body, cst.IndentedBlock)
            for stmt in cls.body.body
            if isinstance(stmt, cst.FunctionDef)
        }
        context.semantic.memo["method_owners"] = owners
    return owners.get(id(func))


def _receiver_class(
    receiver: str, func: cst.FunctionDef | None, context: FileContext
) -> ClassRef | None:
    """The class of ``receiver`` by its parameter annotation in ``func`` (``db:
    Database``), its one binding there to a factory's call (``db = get_database()``,
    ``returns``), or a module-level ``db = Database(...)``: a local class name, or
    ``(qualified,)`` for an imported one."""
    annotation: cst.BaseExpression | None = None
    if func is not None and "." not in receiver:
        for param in parameters(func):
            if param.name.value == receiver:
                annotation = annotation_of(param)
                break
        else:  # `adapter = get_adapter()` with `def get_adapter() -> Adapter`
            if (made := local_factory_class(receiver, func, context)) is not None:
                return made
    if (
        annotation is None
        and "." not in receiver
        and receiver
        not in context.semantic.bound_names(func.body if func is not None else context.module)
    ):
        for node in context.semantic.module_statements():
            value, targets = assignment(node)
            if isinstance(value, cst.Call) and any(dotted_name(t) == receiver for t in targets):
                annotation = value.func
    name = dotted_name(annotation) if annotation is not None else None
    if name is None:
        return None
    if name.split(".")[0] in context.semantic.imports:
        return (context.semantic.resolve(annotation) or name,)  # type: ignore[arg-type]
    return name


def _free_scoped_sessions(func: cst.FunctionDef, context: FileContext) -> set[str]:
    """Module-level ``async_scoped_session`` proxies ``func`` uses without rebinding:
    bound in this module, or imported from a module that binds one (repo index)."""
    here = context.index.by_path.get(context.path)
    local = set(session_facts.scoped_sessions.of(here))
    imported = {
        name
        for name, target in context.semantic.imports.items()
        if _is_imported_scoped(target, context)
    }
    candidates = local | imported
    if candidates:  # most files have none: then the function needs no walk
        candidates &= context.semantic.names_read(func)
    if not candidates:
        return set()
    semantic = context.semantic
    return candidates - semantic.bound_names(func.body) - {p.name.value for p in parameters(func)}


def _is_imported_scoped(target: str, context: FileContext) -> bool:
    module, _, name = context.index.resolve(target).rpartition(".")
    facts = context.index.by_module.get(module)
    return bool(facts and name in session_facts.scoped_sessions.of(facts))


# -- sync sessions (AM205: a sync Session used inside an ``async def``) --------------------


def _is_sync_session_annotation(annotation: cst.BaseExpression, context: FileContext) -> bool:
    """``Session`` (the sync class), ``Annotated[Session, ...]``, ``Session | None``, or an
    alias of those bound here or (repo index) in the module it is imported from."""
    name = dotted_name(annotation)
    if name is not None:
        qualified = context.semantic.resolve(annotation) or name
        if qualified in SYNC_SESSION_CLASSES:
            return True
        if name in context.semantic.imports:
            module, _, alias = context.index.resolve(qualified).rpartition(".")
            facts = context.index.by_module.get(module)
            return bool(facts and alias in session_facts.sync_session_aliases.of(facts))
        value = context.semantic.subscript_aliases().get(name)
        return value is not None and _is_sync_session_annotation(value, context)
    if isinstance(annotation, cst.Subscript):
        base = (dotted_name(annotation.value) or "").rsplit(".", 1)[-1]
        if base in ("Annotated", "Optional") and annotation.slice:
            first = annotation.slice[0].slice
            return isinstance(first, cst.Index) and _is_sync_session_annotation(
                first.value, context
            )
    if isinstance(annotation, cst.BinaryOperation) and isinstance(annotation.operator, cst.BitOr):
        return _is_sync_session_annotation(annotation.left, context) or _is_sync_session_annotation(
            annotation.right, context
        )
    return False


def sync_session_names(func: cst.FunctionDef, context: FileContext) -> frozenset[str]:
    """Names that hold a sync SQLAlchemy ``Session`` inside ``func`` (not its nested
    functions), by positive evidence only: a parameter annotated ``Session`` (or an alias
    such as ``Annotated[Session, Depends(...)]``), ``Session(engine)``, a call of a plain
    ``sessionmaker`` (``SessionLocal()``), or a repo function annotated or seen to give a
    sync ``Session`` (``with get_db() as s``)."""
    key = ("sync_session_names", id(func))
    cached = context.semantic.memo.get(key)
    if cached is not None and cached[0] is func:
        return cached[1]
    found: set[str] = set()
    for param in parameters(func):
        annotation = annotation_of(param)
        if annotation is not None and _is_sync_session_annotation(annotation, context):
            found.add(param.name.value)
    for node in context.semantic.scope_statements(func.body):
        value, targets = assignment(node)
        if value is None:
            continue
        names = {t.value for t in targets if isinstance(t, cst.Name)}
        if isinstance(node, cst.AnnAssign) and _is_sync_session_annotation(
            node.annotation.annotation, context
        ):
            found |= names
        elif isinstance(value, cst.Call) and (
            (context.semantic.resolve(value.func) or "") in SYNC_SESSION_CLASSES
            or _sessionmaker_info(value, context) is False
            or call_gives_session(value, func, context) is False
        ):
            found |= names
    # A name also bound to an async session somewhere in the function is not known.
    result = frozenset(found - session_names(func, context, fallback=False))
    context.semantic.memo[key] = (func, result)
    return result


#: Methods of a sync ``Session`` that talk to the database (``query`` builds the query
#: its chain runs at once: ``session.query(User).all()``).
SYNC_SESSION_IO = frozenset(
    {"execute", "scalar", "scalars", "commit", "flush", "refresh", "get", "get_one",
     "merge", "rollback", "connection", "query"}
)  # fmt: skip


def sync_session_io(
    call: cst.Call, ancestors: Sequence[cst.CSTNode], context: FileContext
) -> str | None:
    """The session of ``call`` when it is database I/O on a sync ``Session`` of the
    enclosing function (``session.execute(...)``, not awaited), else None."""
    func = call.func
    if not isinstance(func, cst.Attribute) or func.attr.value not in SYNC_SESSION_IO:
        return None
    if ancestors and isinstance(ancestors[-1], cst.Await):
        return None  # then it is no sync Session
    receiver = dotted_name(func.value)
    enclosing = next(
        (n for n in reversed(ancestors) if isinstance(n, (cst.FunctionDef, cst.Lambda))), None
    )
    if not isinstance(enclosing, cst.FunctionDef):
        return None
    if receiver is None:
        return None
    return receiver if receiver in sync_session_names(enclosing, context) else None
