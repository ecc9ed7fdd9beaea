"""Request-scoped values of a FastAPI handler: the names that die with the request
(the session, the request, an upload, a resource of an ``async with``, an ORM object
loaded through the session or derived from one) and why. A value read from one now
(``user.email``) is not; a relationship attribute (``user.orders``) still is."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from typing import TYPE_CHECKING

import libcst as cst

from asyncmend.codemods.facts import routes as route_facts
from asyncmend.codemods.semantic.fastapi import annotation_types
from asyncmend.codemods.semantic.sessions import session_method, session_names
from asyncmend.codemods.semantic.tree import (
    annotation_of,
    assigned_names,
    name_nodes,
    parameters,
    reads,
)

if TYPE_CHECKING:
    from asyncmend.codemods.base import FileContext

REQUEST_CLASSES = frozenset(
    {"fastapi.Request", "fastapi.WebSocket", "fastapi.requests.Request",
     "starlette.requests.Request", "starlette.requests.HTTPConnection",
     "starlette.websockets.WebSocket"}
)  # fmt: skip
UPLOAD_CLASSES = frozenset(
    {"fastapi.UploadFile", "fastapi.datastructures.UploadFile",
     "starlette.datastructures.UploadFile"}
)  # fmt: skip
#: Attributes of an ``UploadFile`` that are plain values (``.file`` is the open stream).
UPLOAD_VALUES = frozenset({"filename", "content_type", "size", "headers"})
#: Session methods that attach an object to the session (it becomes session-bound).
ATTACHING_METHODS = frozenset({"add", "add_all", "merge", "refresh", "delete"})
#: Session methods whose arguments are objects of the session (``session.refresh(user)``);
#: the arguments of the others (``session.get(Order, order_id)``, ``execute(stmt)``) are
#: a model class, keys and statements: passing ``order_id`` loads nothing into it.
_OBJECT_METHODS = ATTACHING_METHODS | {"delete_all", "merge_all", "expunge", "expire"}


class Scoped:
    """What dies with the request in one handler: name -> why."""

    def __init__(self) -> None:
        self.reasons: dict[str, str] = {}
        self.uploads: set[str] = set()

    def add(self, names: set[str] | frozenset[str], reason: str) -> None:
        for name in names:
            self.reasons.setdefault(name, reason)


_SESSION = "is the request's session, closed (or its transaction gone) when the task runs"
_REQUEST = "is the request, whose body and connection are gone after the response"
_UPLOAD = "is an upload, closed after the response (pass what you read from it)"
_RESOURCE = "is closed when its `async with` block ends"
_DEPENDENCY_ORM = (
    "is an ORM object a dependency loaded through its session; its lazy attributes "
    "die with that session (pass the attributes the task needs, such as its id)"
)
_ORM = (
    "was loaded through the session; its lazy attributes die with the session "
    "(pass the attributes the task needs, such as its id)"
)


def request_scoped(handler: cst.FunctionDef, context: FileContext) -> Scoped:
    """The names in ``handler`` that must not outlive the request, and why."""
    scoped = Scoped()
    sessions = session_names(handler, context)
    scoped.add(sessions, _SESSION)
    for param in parameters(handler):
        annotation = annotation_of(param)
        if annotation is None:
            continue
        types = annotation_types(annotation, context)
        if types & REQUEST_CLASSES:
            scoped.add({param.name.value}, _REQUEST)
        elif types & UPLOAD_CLASSES:
            scoped.add({param.name.value}, _UPLOAD)
            scoped.uploads.add(param.name.value)
        elif any(_is_orm_model(t, context) for t in types):
            scoped.add({param.name.value}, _DEPENDENCY_ORM)
    resources: set[str] = set()
    for node in context.semantic.own_scope(handler.body):
        if isinstance(node, cst.WithItem) and node.asname is not None:
            resources |= assigned_names(node.asname.name)  # type: ignore[arg-type]
    scoped.add(resources - set(sessions), _RESOURCE)
    # ORM objects: whatever is computed from the session (or from what was), to a fixpoint.
    derived: set[str] = set(sessions)
    for node in context.semantic.own_scope(handler.body):
        derived |= _attached_names(node, sessions)
    bindings = list(_bindings(handler, context))
    relationships = relationship_names(context)
    changed = True
    while changed:
        changed = False
        for targets, value in bindings:
            new = targets - derived
            if new and _carries(value, derived, relationships):
                derived |= new
                changed = True
    scoped.add(derived - set(sessions), _ORM)
    return scoped


def _is_orm_model(qualified: str, context: FileContext) -> bool:
    """A class of the repo mapped to a table (pass-1 fact ``orm_models``)."""
    if "." not in qualified:
        module, name = context.module_name, qualified
    else:
        module, _, name = context.index.resolve(qualified).rpartition(".")
    facts = context.index.by_module.get(module) if module else None
    if facts is None and "." not in qualified:
        facts = context.index.by_path.get(context.path)
    return bool(facts and name in route_facts.orm_models.of(facts))


def _bindings(
    handler: cst.FunctionDef, context: FileContext
) -> Iterator[tuple[set[str], cst.BaseExpression]]:
    """(names bound, value) for the assignments and loops of the handler's own scope."""
    for node in context.semantic.own_scope(handler.body):
        if isinstance(node, cst.Assign):
            names: set[str] = set()
            for target in node.targets:
                names |= assigned_names(target.target)
            yield names, node.value
        elif isinstance(node, (cst.AnnAssign, cst.AugAssign)) and node.value is not None:
            yield assigned_names(node.target), node.value
        elif isinstance(node, (cst.For, cst.CompFor)):
            yield assigned_names(node.target), node.iter
        elif isinstance(node, cst.NamedExpr):
            yield assigned_names(node.target), node.value


def _attached_names(node: cst.CSTNode, sessions: frozenset[str]) -> set[str]:
    """``session.add(user)``: ``user`` is now an object of the session."""
    called = session_method(node, sessions)
    if called is None or called[1] not in _OBJECT_METHODS:
        return set()
    assert isinstance(node, cst.Call)
    found: set[str] = set()
    for arg in node.args:
        value = arg.value
        if isinstance(value, cst.Name):
            found.add(value.value)
        elif isinstance(value, (cst.List, cst.Tuple, cst.Set)):
            found |= {e.value.value for e in value.elements if isinstance(e.value, cst.Name)}
    return found


def _carries(
    expr: cst.CSTNode, names: set[str] | frozenset[str], relationships: frozenset[str]
) -> bool:
    """Whether ``expr``'s value may hold one of ``names``'s objects: the name itself, in
    a container, passed to a call, the receiver of a method call, or a relationship
    attribute of it. A plain attribute read (``user.email``, ``user.name.upper()``) is a
    value computed now."""
    return request_scoped_use(expr, names, relationships=relationships) is not None


def request_scoped_use(
    expr: cst.CSTNode,
    names: Collection[str],
    *,
    uploads: Collection[str] = (),
    relationships: frozenset[str] = frozenset(),
) -> str | None:
    """The first of ``names`` whose object (not just a value read from it) ``expr``
    would hand on, or ``name.attr`` for a relationship read from it."""
    if not reads(expr, set(names)):
        return None
    for name, path in name_nodes(expr):
        if name.value not in names:
            continue
        parent = path[-1] if path else None
        if isinstance(parent, cst.Attribute) and parent.value is name:
            grandparent = path[-2] if len(path) > 1 else None
            is_method_call = isinstance(grandparent, cst.Call) and grandparent.func is parent
            if name.value in uploads:
                if parent.attr.value in UPLOAD_VALUES:
                    continue
            elif not is_method_call:
                if parent.attr.value not in relationships:
                    continue
                return f"{name.value}.{parent.attr.value}"
        return name.value
    return None


def relationship_names(context: FileContext) -> frozenset[str]:
    """Relationship attributes of the repo's ORM models (pass-1 fact)."""
    cached = context.semantic.memo.get("orm_relationships")
    if cached is None:
        cached = frozenset(
            name
            for facts in context.index.by_path.values()
            for name in route_facts.orm_relationships.of(facts)
        )
        context.semantic.memo["orm_relationships"] = cached
    return cached
