"""Where a session goes inside a function: names derived from it (``session_holders``),
whether an expression carries it, which ``async with`` items open one, and the session
names visible in a closure."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import libcst as cst

from asyncmend.codemods.semantic.sessions import (
    is_session_factory_call,
    session_attributes,
    session_names,
)
from asyncmend.codemods.semantic.tree import (
    Children,
    assigned_names,
    dotted_name,
    in_nested_scope,
    iter_children,
    name_nodes,
    own_scope,
    owner_class,
    parameters,
    self_name,
)

if TYPE_CHECKING:
    from asyncmend.codemods.base import FileContext


def scoped_session_names(functions: list[cst.FunctionDef], context: FileContext) -> frozenset[str]:
    """AsyncSession names visible in ``functions[0]``: its own, plus those of enclosing
    functions it reads without rebinding (a closure over the request session)."""
    names = set(session_names(functions[0], context))
    shadowed = context.semantic.local_names(functions[0])
    for outer in functions[1:]:
        names |= session_names(outer, context) - shadowed
        shadowed = shadowed | context.semantic.local_names(outer)
    return frozenset(names)


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


def session_holders(
    body: cst.CSTNode, names: set[str], children: Children = iter_children
) -> set[str]:
    """``names`` plus names bound to values built from them outside an ``await``
    (``alias = session``, ``repo = Repo(session)``, ``async with session as s``), or to
    results that keep its connection (``stream = await session.stream(q)``),
    transitively."""
    holders = set(names)
    changed = True
    while changed:
        changed = False
        for node in own_scope(body, children):
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
    for param in parameters(func):
        if param.name.value == expr.value and param.annotation is not None:
            annotation = param.annotation.annotation
            if isinstance(annotation, cst.Subscript):
                annotation = annotation.value
            return (dotted_name(annotation) or "").rsplit(".", 1)[-1] == "async_sessionmaker"
    return False


def self_session_attributes(
    functions: list[cst.FunctionDef], ancestors: list[cst.CSTNode], context: FileContext
) -> frozenset[str]:
    """``self.<attr>`` for the session attributes of the class ``functions[0]`` is a
    method of (see ``sessions.session_attributes``)."""
    method = functions[0]
    owner = owner_class(method, ancestors)
    receiver = self_name(method) if owner is not None else None
    if owner is None or receiver is None:
        return frozenset()
    return frozenset(f"{receiver}.{attr}" for attr in session_attributes(owner, context))


def strict_session_names(func: cst.FunctionDef, context: FileContext) -> frozenset[str]:
    """``session_names`` without the configured-name fallback (plain ``def``s)."""
    return session_names(func, context, fallback=False)
