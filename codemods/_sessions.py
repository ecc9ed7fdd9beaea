"""Helpers of the session family (AM102-AM104, AM204) that no other family needs."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import libcst as cst

from asyncmend.codemods.analysis import (
    SCOPE_NODES,
    assigned_names,
    bound_names,
    dotted_name,
    name_nodes,
    scope_statements,
)
from asyncmend.codemods.base import FileContext
from asyncmend.codemods.matchers import (
    is_session_factory_call,
    local_sessionmakers,
    session_names,
)
from asyncmend.engine.walker import iter_children


def enclosing_functions(ancestors: list[cst.CSTNode]) -> list[cst.FunctionDef] | None:
    """The functions around the current node, innermost first; None when the node sits
    in a lambda or a class body (directly), or at module level."""
    found: list[cst.FunctionDef] = []
    for node in reversed(ancestors):
        if isinstance(node, cst.Lambda) and not found:
            return None
        if isinstance(node, cst.ClassDef) and not found:
            return None
        if isinstance(node, cst.FunctionDef):
            found.append(node)
    return found or None


def parameter_names(func: cst.FunctionDef) -> set[str]:
    params = func.params
    names = {p.name.value for p in [*params.posonly_params, *params.params, *params.kwonly_params]}
    for star in (params.star_arg, params.star_kwarg):
        if isinstance(star, cst.Param):
            names.add(star.name.value)
    return names


def local_names(func: cst.FunctionDef, context: FileContext) -> set[str]:
    """Names bound in ``func``'s own scope: parameters and anything its body binds."""
    key = ("local_names", id(func))
    cached = context.cache.get(key)
    if cached is None:
        cached = parameter_names(func) | bound_names(func.body)
        context.cache[key] = cached
    return cached


def scoped_session_names(functions: list[cst.FunctionDef], context: FileContext) -> frozenset[str]:
    """AsyncSession names visible in ``functions[0]``: its own, plus those of enclosing
    functions it reads without rebinding (a closure over the request session)."""
    names = set(session_names(functions[0], context))
    shadowed = local_names(functions[0], context)
    for outer in functions[1:]:
        names |= session_names(outer, context) - shadowed
        shadowed = shadowed | local_names(outer, context)
    return frozenset(names)


def strict_session_names(func: cst.FunctionDef, context: FileContext) -> frozenset[str]:
    """``session_names`` without the configured-name fallback: names whose type is
    known from an annotation, a ``Depends``, or a factory call. Used in plain ``def``s,
    where a ``session`` parameter is as likely a sync ``Session``."""
    key = ("strict_session_names", id(func))
    cached = context.cache.get(key)
    if cached is None:
        strict = context.cache.get("strict_context")
        if strict is None:
            settings = {**context.config.settings, "session-names": []}
            # Module-level facts do not depend on session-names: share them, computed once.
            local_sessionmakers(context)
            shared = {k: v for k, v in context.cache.items() if isinstance(k, str)}
            strict = replace(
                context, config=replace(context.config, settings=settings), cache=shared
            )
            context.cache["strict_context"] = strict
        cached = session_names(func, strict)
        context.cache[key] = cached
    return cached


def own_name_reads(
    func: cst.FunctionDef, name: str
) -> Iterator[tuple[cst.Name, list[cst.CSTNode]]]:
    """Occurrences of variable ``name`` in ``func``'s body with their paths (ancestors
    inside the body); those inside nested scopes are included (callers decide)."""
    for node, path in name_nodes(func.body):
        if node.value == name:
            yield node, path


def is_binding_occurrence(node: cst.Name, path: list[cst.CSTNode]) -> bool:
    """``node`` is an assignment, loop, with or walrus target (not a read)."""
    if not path:
        return False
    parent = path[-1]
    if isinstance(parent, cst.AssignTarget) and parent.target is node:
        return True
    if isinstance(parent, (cst.AnnAssign, cst.AugAssign)) and parent.target is node:
        return not isinstance(parent, cst.AugAssign)
    if isinstance(parent, (cst.For, cst.CompFor)) and parent.target is node:
        return True
    if isinstance(parent, cst.AsName) and parent.name is node:
        return True
    if isinstance(parent, cst.NamedExpr) and parent.target is node:
        return True
    # Tuple targets: walk up through Element/Tuple/List to a target slot.
    for index in range(len(path) - 1, -1, -1):
        item = path[index]
        if isinstance(item, (cst.Element, cst.StarredElement, cst.Tuple, cst.List)):
            continue
        child = path[index + 1] if index + 1 < len(path) else node
        if isinstance(item, cst.AssignTarget) and item.target is child:
            return True
        if isinstance(item, (cst.For, cst.CompFor)) and item.target is child:
            return True
        return False
    return False


def in_nested_scope(path: list[cst.CSTNode]) -> bool:
    return any(isinstance(p, SCOPE_NODES) for p in path)


def session_holders(body: cst.CSTNode, names: set[str]) -> set[str]:
    """``names`` plus names bound to values built from them outside an ``await``
    (``alias = session``, ``repo = Repo(session)``, ``async with session as s``), or to
    results that keep its connection (``stream = await session.stream(q)``),
    transitively."""
    holders = set(names)
    changed = True
    while changed:
        changed = False
        for node in _same_scope(body):
            value: cst.BaseExpression | None = None
            targets: list[cst.BaseExpression] = []
            if isinstance(node, cst.Assign):
                value, targets = node.value, [t.target for t in node.targets]
            elif isinstance(node, cst.AnnAssign) and node.value is not None:
                value, targets = node.value, [node.target]
            elif isinstance(node, cst.WithItem) and node.asname is not None:
                value, targets = node.item, [node.asname.name]  # type: ignore[list-item]
            if value is None or not (carries(value, holders) or _streams_from(value, holders)):
                continue
            for target in targets:
                new = assigned_names(target) - holders
                if new:
                    holders |= new
                    changed = True
    return holders


def _streams_from(value: cst.BaseExpression, holders: set[str]) -> bool:
    """``await s.stream(q)`` / ``stream_scalars`` / ``connection``: awaited, yet the
    result still needs the session's connection."""
    if isinstance(value, cst.Await) and isinstance(value.expression, cst.Call):
        func = value.expression.func
        return (
            isinstance(func, cst.Attribute)
            and func.attr.value in ("stream", "stream_scalars", "connection")
            and dotted_name(func.value) in holders
        )
    return False


def carries(expr: cst.CSTNode, holders: set[str]) -> bool:
    """The value of ``expr`` can hold one of ``holders``: a holder occurs in it outside
    an ``await`` and not only as the receiver of a method call (``session.get_bind()``
    is a value of its own; ``repo.save``, a bound method, still holds ``repo``)."""
    for name, path in name_nodes(expr):
        if name.value not in holders or any(isinstance(p, cst.Await) for p in path):
            continue
        if in_nested_scope(path) and not any(isinstance(p, cst.Lambda) for p in path):
            continue
        if _own_value(name, path):
            continue
        return True
    return False


def _own_value(name: cst.Name, path: list[cst.CSTNode]) -> bool:
    """``session.get_bind()``, ``session.info.get(k)``: values of their own, made from
    the session; ``session.commit`` or ``repo.save`` (bound methods) still hold it."""
    child: cst.CSTNode = name
    depth = 0
    for parent in reversed(path):
        if isinstance(parent, cst.Attribute) and parent.value is child:
            child, depth = parent, depth + 1
            continue
        if isinstance(parent, cst.Call) and parent.func is child and depth:
            return True
        break
    return depth > 1


def _same_scope(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        if current is not node and isinstance(current, SCOPE_NODES):
            continue
        stack.extend(reversed(list(iter_children(current))))


def session_factory_item(
    item: cst.BaseExpression, context: FileContext, func: cst.FunctionDef | None = None
) -> bool:
    """``async with`` item that opens a new session: ``factory()``, or ``factory.begin()``
    on a sessionmaker (a session in a transaction, closed at the end of the block);
    ``factory`` may be a parameter of ``func`` annotated ``async_sessionmaker[...]``."""
    if not isinstance(item, cst.Call):
        return False
    if is_session_factory_call(item, context) or _sessionmaker_parameter(item.func, func):
        return True
    if isinstance(item.func, cst.Attribute) and item.func.attr.value == "begin" and not item.args:
        maker = item.func.value
        return is_session_factory_call(cst.Call(func=maker), context) or _sessionmaker_parameter(
            maker, func
        )
    return False


def _sessionmaker_parameter(expr: cst.BaseExpression, func: cst.FunctionDef | None) -> bool:
    if func is None or not isinstance(expr, cst.Name):
        return False
    params = func.params
    for param in [*params.posonly_params, *params.params, *params.kwonly_params]:
        if param.name.value == expr.value and param.annotation is not None:
            annotation = param.annotation.annotation
            if isinstance(annotation, cst.Subscript):
                annotation = annotation.value
            return (dotted_name(annotation) or "").rsplit(".", 1)[-1] == "async_sessionmaker"
    return False


def self_session_attributes(
    functions: list[cst.FunctionDef], ancestors: list[cst.CSTNode], context: FileContext
) -> frozenset[str]:
    """``self.session`` when ``functions[0]`` is a method and its class only ever sets
    that attribute to an AsyncSession (an annotated ``__init__`` parameter, a factory
    call, or a class-level ``session: AsyncSession`` annotation)."""
    method = functions[0]
    owner = None
    position = next((i for i, node in enumerate(ancestors) if node is method), 0)
    for node in reversed(ancestors[:position]):
        if isinstance(node, cst.IndentedBlock):
            continue
        if isinstance(node, cst.ClassDef):
            owner = node
        break
    params = method.params.params
    if (
        owner is None
        or not params
        or any(
            isinstance(d.decorator, cst.Name) and d.decorator.value == "staticmethod"
            for d in method.decorators
        )
    ):
        return frozenset()
    key = ("self_session_attributes", id(owner))
    attributes = context.cache.get(key)
    if attributes is None:
        attributes = _class_session_attributes(owner, context)
        context.cache[key] = attributes
    receiver = params[0].name.value
    return frozenset(f"{receiver}.{name}" for name in attributes)


def _class_session_attributes(owner: cst.ClassDef, context: FileContext) -> frozenset[str]:
    from asyncmend.codemods.matchers import _annotation_is_session

    good: set[str] = set()
    bad: set[str] = set()
    for stmt in owner.body.body if isinstance(owner.body, cst.IndentedBlock) else ():
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                if (
                    isinstance(small, cst.AnnAssign)
                    and isinstance(small.target, cst.Name)
                    and _annotation_is_session(small.annotation.annotation, context)
                ):
                    good.add(small.target.value)
        if not isinstance(stmt, cst.FunctionDef) or not stmt.params.params:
            continue
        receiver = stmt.params.params[0].name.value
        sessions: frozenset[str] | None = None  # computed only for `self.x = name`
        for node in scope_statements(stmt.body):
            value: cst.BaseExpression | None = None
            targets: list[cst.BaseExpression] = []
            if isinstance(node, cst.Assign):
                value, targets = node.value, [t.target for t in node.targets]
            elif isinstance(node, (cst.AnnAssign, cst.AugAssign)):
                value, targets = node.value, [node.target]
            for target in targets:
                if not (
                    isinstance(target, cst.Attribute)
                    and isinstance(target.value, cst.Name)
                    and target.value.value == receiver
                ):
                    continue
                if isinstance(value, cst.Name) and sessions is None:
                    sessions = session_names(stmt, context)
                is_session = isinstance(node, cst.Assign) and (
                    (isinstance(value, cst.Name) and value.value in (sessions or ()))
                    or (value is not None and is_session_factory_call(value, context))
                )
                (good if is_session else bad).add(target.attr.value)
    return frozenset(good - bad)
