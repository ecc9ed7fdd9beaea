"""Shared matchers: "is this call a session factory?", "is this a route handler?".

Every rule that asks one of these questions asks it here, so they all agree. Answers
come from what names are bound to (module assignments, imports resolved through the
repo index), never from a name alone, except where the user configured names.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator

import libcst as cst

from asyncmend.codemods.analysis import (
    dotted_name,
    import_map,
    qualified_name,
    scope_statements,
    variable_names,
)
from asyncmend.codemods.base import FileContext
from asyncmend.engine.walker import iter_children, iter_descendants

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
    for node in _statements(context.module):
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
    from a module of the repo where they are (pass-1 fact ``app_objects``)."""
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
    for local, target in import_map(context).items():
        # `from app.api import router`: an app object of another module (repo index).
        module, _, name = context.index.resolve(target).rpartition(".")
        facts = context.index.by_module.get(module)
        if facts is not None and name in facts.extra.get("app_objects", ()):
            found.add(local)
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


# -- "is this name an AsyncSession?" -----------------------------------------------------

#: Coroutine methods of AsyncSession (SQLAlchemy 2.1, by introspection; DESIGN.md).
SESSION_COROUTINES = frozenset(
    {"aclose", "close", "close_all", "commit", "connection", "delete", "delete_all", "execute",
     "flush", "get", "get_one", "invalidate", "merge", "merge_all", "refresh", "reset",
     "rollback", "run_sync", "scalar", "scalars", "stream", "stream_scalars"}
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
)


def _annotation_is_session(annotation: cst.BaseExpression, context: FileContext) -> bool:
    """``AsyncSession``, ``Annotated[AsyncSession, ...]``, ``AsyncSession | None``, or an
    alias of those bound in this module or (repo index) in the module it came from."""
    name = dotted_name(annotation)
    if name is not None:
        qualified = qualified_name(annotation, context) or name
        if name.rsplit(".", 1)[-1] == "AsyncSession":
            return True
        return name in session_aliases(context) or _imported_alias(qualified, context)
    if isinstance(annotation, cst.Subscript):
        base = (dotted_name(annotation.value) or "").rsplit(".", 1)[-1]
        if base in ("Annotated", "Optional") and annotation.slice:
            first = annotation.slice[0].slice
            return isinstance(first, cst.Index) and _annotation_is_session(first.value, context)
    if isinstance(annotation, cst.BinaryOperation) and isinstance(annotation.operator, cst.BitOr):
        return _annotation_is_session(annotation.left, context) or _annotation_is_session(
            annotation.right, context
        )
    return False


def _imported_alias(qualified: str, context: FileContext) -> bool:
    module, _, name = context.index.resolve(qualified).rpartition(".")
    facts = context.index.by_module.get(module)
    return bool(facts and name in facts.extra.get("session_aliases", ()))


def session_aliases(context: FileContext) -> frozenset[str]:
    """Module-level type aliases of a session: ``SessionDep = Annotated[AsyncSession, ...]``."""
    cached = context.cache.get("session_aliases")
    if cached is not None:
        return cached
    # Checking an alias's value asks for the aliases again (`User` in
    # `CurrentUser = Annotated[User, ...]`): answer "none yet" while computing.
    context.cache["session_aliases"] = frozenset()
    found: set[str] = set()
    for stmt in context.module.body:
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                if (
                    isinstance(small, cst.Assign)
                    and len(small.targets) == 1
                    and isinstance(small.targets[0].target, cst.Name)
                    and isinstance(small.value, cst.Subscript)
                    and _annotation_is_session(small.value, context)
                ):
                    found.add(small.targets[0].target.value)
    result = frozenset(found)
    context.cache["session_aliases"] = result
    return result


def _depends_target(default: cst.BaseExpression | None) -> cst.BaseExpression | None:
    if isinstance(default, cst.Call) and (dotted_name(default.func) or "").endswith("Depends"):
        if default.args:
            return default.args[0].value
    return None


def is_session_dependency(dep: cst.BaseExpression, context: FileContext) -> bool:
    """``Depends(dep)`` where ``dep`` yields an AsyncSession (this module or repo index)."""
    name = dotted_name(dep)
    if name is None:
        return False
    local = context.cache.get("session_dependencies")
    if local is None:
        local = frozenset(
            stmt.name.value
            for stmt in context.module.body
            if isinstance(stmt, cst.FunctionDef) and _yields_session(stmt, context)
        )
        context.cache["session_dependencies"] = local
    if name in local:
        return True
    qualified = context.index.resolve(qualified_name(dep, context) or name)
    module, _, func = qualified.rpartition(".")
    facts = context.index.by_module.get(module)
    return bool(facts and func in facts.extra.get("session_dependencies", ()))


def _yields_session(func: cst.FunctionDef, context: FileContext) -> bool:
    returns = func.returns.annotation if func.returns else None
    if isinstance(returns, cst.Subscript) and returns.slice:
        first = returns.slice[0].slice
        if isinstance(first, cst.Index) and _annotation_is_session(first.value, context):
            return True
    for node in iter_descendants(func.body):
        if isinstance(node, cst.With):
            for item in node.items:
                if item.asname is not None and is_session_factory_call(item.item, context):
                    return any(isinstance(n, cst.Yield) for n in iter_descendants(func.body))
    return False


def session_names(func: cst.FunctionDef, context: FileContext) -> frozenset[str]:
    """Names that hold an ``AsyncSession`` inside ``func`` (not its nested functions):
    annotated parameters, ``Depends(dep)`` parameters whose dep yields a session,
    ``async with factory() as s``, ``s = factory()``, ``s: AsyncSession = ...``, and the
    configured ``session-names`` in a module that imports sqlalchemy, unless the name is
    bound to something else (``aiohttp.ClientSession()``, ``httpx.AsyncClient()``...)."""
    key = ("session_names", id(func))
    cached = context.cache.get(key)
    if cached is not None:
        return cached
    found: set[str] = set()
    other: set[str] = set()
    params = func.params
    for param in [*params.posonly_params, *params.params, *params.kwonly_params]:
        annotation = param.annotation.annotation if param.annotation else None
        if annotation is not None and _annotation_is_session(annotation, context):
            found.add(param.name.value)
        elif (dep := _depends_target(param.default)) is not None and is_session_dependency(
            dep, context
        ):
            found.add(param.name.value)
        elif annotation is not None:
            other.add(param.name.value)
    for node in scope_statements(func.body):
        value, targets = _assignment(node)
        if value is None:
            continue
        names = {n for t in targets if isinstance(t, cst.Name) for n in [t.value]}
        if isinstance(node, cst.AnnAssign) and _annotation_is_session(
            node.annotation.annotation, context
        ):
            found |= names
        elif is_session_factory_call(value, context):
            found |= names
        elif (
            isinstance(value, cst.Call)
            and (qualified_name(value.func, context) or "") in NOT_ASYNC_SESSIONS
        ):
            other |= names
        elif isinstance(node, cst.WithItem) and isinstance(value, cst.Call):
            # `async with httpx.AsyncClient() as session` / `aiohttp.ClientSession()`...
            if (qualified_name(value.func, context) or "") in NOT_ASYNC_SESSIONS:
                other |= names
    if imports_sqlalchemy(context):
        # Only the configured names the function mentions matter (and cost a look).
        configured = set(context.config.settings.get("session-names", [])) & variable_names(func)
        found |= configured - other - _bound_elsewhere(func, configured, context)
        found -= _free_names_bound_elsewhere(func, configured, context)
    result = frozenset(found - other)
    context.cache[key] = result
    return result


def _bound_elsewhere(func: cst.FunctionDef, names: set[str], context: FileContext) -> set[str]:
    """Configured names that ``func`` binds to anything other than a session factory."""
    bound: set[str] = set()
    if not names:
        return bound
    for node in scope_statements(func.body):
        value, targets = _assignment(node)
        if value is None or is_session_factory_call(value, context):
            continue
        bound |= {t.value for t in targets if isinstance(t, cst.Name) and t.value in names}
    params = func.params
    for param in [*params.posonly_params, *params.params, *params.kwonly_params]:
        if param.name.value in names and param.annotation is not None:
            bound.add(param.name.value)  # annotated, and not as a session (checked above)
    return bound


def _assignment(node: cst.CSTNode) -> tuple[cst.BaseExpression | None, list[cst.BaseExpression]]:
    if isinstance(node, cst.Assign):
        return node.value, [t.target for t in node.targets]
    if isinstance(node, cst.AnnAssign) and node.value is not None:
        return node.value, [node.target]
    if isinstance(node, cst.WithItem) and node.asname is not None:
        return node.item, [node.asname.name]  # type: ignore[list-item]
    return None, []


def imports_sqlalchemy(context: FileContext) -> bool:
    return any(t.split(".")[0] in ("sqlalchemy", "sqlmodel") for t in import_map(context).values())


# -- "is this call a coroutine call?" ----------------------------------------------------


def coroutine_callee(call: cst.Call, context: FileContext, sessions: frozenset[str]) -> str | None:
    """A readable name of what ``call`` calls when it returns a coroutine, else None:
    an AsyncSession coroutine method on a name in ``sessions``, an ``async def`` of this
    module or of the repo (through imports and the repo index), or ``asyncio.sleep``."""
    func = call.func
    if isinstance(func, cst.Attribute):
        receiver = dotted_name(func.value)
        if receiver in sessions and func.attr.value in SESSION_COROUTINES:
            return f"{receiver}.{func.attr.value}"
    name = dotted_name(func)
    if name is None:
        return None
    qualified = qualified_name(func, context) or name
    if qualified == "asyncio.sleep":
        return name
    if "." not in name and name in local_async_defs(context):
        return name
    head = name.split(".")[0]
    if head in import_map(context) and context.index.is_coroutine_function(qualified):
        return name
    return None


def local_async_defs(context: FileContext) -> frozenset[str]:
    """Module-level ``async def`` names of this file (not rebound by a plain def)."""
    cached = context.cache.get("local_async_defs")
    if cached is None:
        # Async generators and asynccontextmanager functions return no coroutine.
        async_names = {
            s.name.value
            for s in context.module.body
            if isinstance(s, cst.FunctionDef)
            and s.asynchronous
            and local_async_def_kind(s) not in ("generator", "contextmanager")
        }
        sync_names = {
            s.name.value
            for s in context.module.body
            if isinstance(s, cst.FunctionDef) and s.asynchronous is None
        }
        cached = frozenset(async_names - sync_names)
        context.cache["local_async_defs"] = cached
    return cached


# -- "what type does this annotation name?" ----------------------------------------------

BACKGROUND_TASKS_CLASSES = frozenset(
    {"fastapi.BackgroundTasks", "fastapi.background.BackgroundTasks",
     "starlette.background.BackgroundTasks"}
)  # fmt: skip


def annotation_types(annotation: cst.BaseExpression, context: FileContext) -> frozenset[str]:
    """Qualified names of the classes an annotation names, looking through
    ``Annotated[X, ...]``, ``Optional[X]``, ``X | None``, ``Union[...]``, the element
    of ``list[X]`` / ``Sequence[X]`` and ``Annotated`` aliases of this module or (repo
    index) of the module they come from: ``Annotated[UploadFile, File()]`` ->
    ``{"fastapi.UploadFile"}``, ``CurrentUser`` -> ``{"app.models.User"}``."""
    if isinstance(annotation, cst.BinaryOperation) and isinstance(annotation.operator, cst.BitOr):
        return annotation_types(annotation.left, context) | annotation_types(
            annotation.right, context
        )
    if isinstance(annotation, cst.Subscript):
        base = (qualified_name(annotation.value, context) or "").rsplit(".", 1)[-1]
        elements = [e.slice.value for e in annotation.slice if isinstance(e.slice, cst.Index)]
        if base == "Annotated" and elements:
            elements = elements[:1]
        elif base not in ("Optional", "Union", "list", "List", "Sequence", "tuple", "Tuple"):
            elements = []
        found: frozenset[str] = frozenset()
        for element in elements:
            found |= annotation_types(element, context)
        return found
    name = qualified_name(annotation, context)
    if name is None:
        return frozenset()
    if isinstance(annotation, cst.Name):
        alias = _local_type_aliases(context).get(annotation.value)
        if alias is not None:  # `CurrentUser = Annotated[User, ...]` in this module
            return annotation_types(alias, context)
    module, _, leaf = context.index.resolve(name).rpartition(".")
    facts = context.index.by_module.get(module)
    aliased = facts.extra.get("type_aliases", {}).get(leaf) if facts else None
    return frozenset({aliased or name})


def _local_type_aliases(context: FileContext) -> dict[str, cst.BaseExpression]:
    """Module-level ``Alias = Annotated[...]`` assignments of this file."""
    cached = context.cache.get("type_aliases")
    if cached is None:
        cached = {}
        for stmt in context.module.body:
            if isinstance(stmt, cst.SimpleStatementLine):
                for small in stmt.body:
                    if (
                        isinstance(small, cst.Assign)
                        and len(small.targets) == 1
                        and isinstance(small.targets[0].target, cst.Name)
                        and isinstance(small.value, cst.Subscript)
                        and (dotted_name(small.value.value) or "").endswith("Annotated")
                    ):
                        cached[small.targets[0].target.value] = small.value
        context.cache["type_aliases"] = cached
    return cached


def background_tasks_param(func: cst.FunctionDef, context: FileContext) -> str | None:
    """The name of ``func``'s ``BackgroundTasks`` parameter (whatever it is called,
    found by its annotation, also ``Annotated[BackgroundTasks, ...]``), else None."""
    params = func.params
    for param in [*params.posonly_params, *params.params, *params.kwonly_params]:
        if param.annotation is not None and (
            annotation_types(param.annotation.annotation, context) & BACKGROUND_TASKS_CLASSES
        ):
            return param.name.value
    return None


# -- sessions held on ``self`` (repository and service classes) ------------------------------


def session_attributes(cls: cst.ClassDef, context: FileContext) -> frozenset[str]:
    """Instance attributes of ``cls`` that hold an AsyncSession: class-level annotations
    (``session: AsyncSession``, dataclass style) and ``self.x = s`` in a method where
    ``s`` is a session there (``def __init__(self, session: AsyncSession)``)."""
    key = ("session_attributes", id(cls))
    cached = context.cache.get(key)
    if cached is not None:
        return cached
    found: set[str] = set()
    other: set[str] = set()
    if isinstance(cls.body, cst.IndentedBlock):
        for stmt in cls.body.body:
            if isinstance(stmt, cst.SimpleStatementLine):
                for small in stmt.body:
                    if isinstance(small, cst.AnnAssign) and isinstance(small.target, cst.Name):
                        if _annotation_is_session(small.annotation.annotation, context):
                            found.add(small.target.value)
                        else:
                            other.add(small.target.value)
            elif isinstance(stmt, cst.FunctionDef) and (receiver := _self_name(stmt)):
                for node in iter_descendants(stmt.body):
                    value, targets = _assignment(node)
                    for target in targets:
                        if (
                            isinstance(target, cst.Attribute)
                            and dotted_name(target.value) == receiver
                        ):
                            if _holds_session(value, stmt, context):
                                found.add(target.attr.value)
                            else:
                                other.add(target.attr.value)
    result = frozenset(found - other)
    context.cache[key] = result
    return result


def _holds_session(
    value: cst.BaseExpression | None, method: cst.FunctionDef, context: FileContext
) -> bool:
    """``value`` (assigned to ``self.x`` in ``method``) is a session: a factory call, or a
    name that is a session in ``method``. A parameter is judged by its own annotation
    (cheap: classes assign many parameters to ``self``); other names by
    ``session_names``."""
    if value is None:
        return False
    if not isinstance(value, cst.Name):
        return is_session_factory_call(value, context)
    params = method.params
    for param in [*params.posonly_params, *params.params, *params.kwonly_params]:
        if param.name.value != value.value:
            continue
        if param.annotation is not None:
            return _annotation_is_session(param.annotation.annotation, context)
        return value.value in session_names(method, context)
    return value.value in session_names(method, context)


def _self_name(func: cst.FunctionDef) -> str | None:
    """The instance parameter of a method (None for static and class methods)."""
    for decorator in func.decorators:
        if (dotted_name(decorator.decorator) or "") in ("staticmethod", "classmethod"):
            return None
    params = [*func.params.posonly_params, *func.params.params]
    return params[0].name.value if params else None


def method_session_names(
    func: cst.FunctionDef, owner: cst.ClassDef | None, context: FileContext
) -> frozenset[str]:
    """``session_names(func)`` plus ``self.<attr>`` for the session attributes of the
    class ``func`` is a method of (``owner``; None for a plain function)."""
    names = session_names(func, context)
    receiver = _self_name(func) if owner is not None else None
    if owner is None or receiver is None:
        return names
    return names | {f"{receiver}.{attr}" for attr in session_attributes(owner, context)}


# -- what kind of async def a coroutine call reaches (appended for AM204) --------------


def local_async_def_kind(func: cst.FunctionDef) -> str | None:
    """What calling the ``async def`` ``func`` returns when it is not a plain coroutine:
    ``"generator"`` (async generator), ``"contextmanager"`` (``@asynccontextmanager``),
    ``"decorated"`` (a decorator not known to keep it a coroutine function), else None.
    The same answer pass 1 stores as ``async_def_kinds`` for the repo index."""
    from asyncmend.engine.facts_sessions import decorator_kind

    names = []
    for decorator in func.decorators:
        expr = decorator.decorator
        target = expr.func if isinstance(expr, cst.Call) else expr
        names.append(dotted_name(target) or "<expression>")
    kind = decorator_kind(names)
    if kind is None and _own_yield(func):
        return "generator"
    return kind


def _own_yield(func: cst.FunctionDef) -> bool:
    stack: list[cst.CSTNode] = [func.body]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Yield):
            return True
        if isinstance(node, (cst.FunctionDef, cst.Lambda, cst.ClassDef)):
            continue
        stack.extend(iter_children(node))
    return False


def coroutine_callee_kind(call: cst.Call, context: FileContext) -> str | None:
    """For a call ``coroutine_callee`` accepted as an ``async def`` of this module or of
    the repo: ``"decorated"`` when that def is wrapped by an unknown decorator (it may no
    longer return a coroutine), else None."""
    name = dotted_name(call.func)
    if name is None:
        return None
    if "." not in name and name in local_async_defs(context):
        for stmt in context.module.body:
            if isinstance(stmt, cst.FunctionDef) and stmt.name.value == name:
                return local_async_def_kind(stmt)
        return None
    qualified = context.index.resolve(qualified_name(call.func, context) or name)
    parts = qualified.split(".")
    for split in range(len(parts) - 1, 0, -1):
        facts = context.index.by_module.get(".".join(parts[:split]))
        if facts is not None:
            return facts.extra.get("async_def_kinds", {}).get(".".join(parts[split:]))
    return None


def _statements(module: cst.Module) -> Iterator[cst.CSTNode]:
    """Every small statement of the module, at any depth, without entering expressions:
    about a tenth of the nodes ``iter_descendants`` visits."""
    stack: list[cst.CSTNode] = list(reversed(module.body))
    while stack:
        node = stack.pop()
        if isinstance(node, cst.SimpleStatementLine):
            yield from node.body
        elif isinstance(node, cst.SimpleStatementSuite):
            yield from node.body
        elif isinstance(node, cst.BaseCompoundStatement):
            children = [
                child
                for child in iter_children(node)
                if isinstance(
                    child,
                    (cst.BaseSuite, cst.BaseCompoundStatement, cst.Else, cst.ExceptHandler,
                     cst.ExceptStarHandler, cst.Finally, cst.MatchCase),
                )
            ]  # fmt: skip
            stack.extend(reversed(children))
        elif isinstance(
            node,
            (cst.IndentedBlock, cst.Else, cst.ExceptHandler, cst.ExceptStarHandler, cst.Finally,
             cst.MatchCase),
        ):  # fmt: skip
            stack.extend(reversed(list(iter_children(node))))


def _free_names_bound_elsewhere(
    func: cst.FunctionDef, names: set[str], context: FileContext
) -> set[str]:
    """Configured names that ``func`` neither takes nor binds, and that the module binds
    to something other than a session (``db = {}``, ``from .ext import db``, a class):
    inside ``func`` they are that module-level object."""
    params = func.params
    own = {p.name.value for p in [*params.posonly_params, *params.params, *params.kwonly_params]}
    free = names - own
    if not free:
        return set()
    from asyncmend.codemods.analysis import bound_names

    free -= bound_names(func.body)
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
            value, targets = _assignment(small)
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
