"""Helpers of the transaction rules (AM301-AM304): session calls, where each statement of
a function sits on its control-flow paths, which objects a session loaded or added.

A function is read once per file (``flow_of`` caches it): every node the rules ask about
gets a *site*, the chain of ``(block, index)`` pairs from the function body down to the
statement holding it. Two sites are on one path when, at the first block where their
chains part, they are in the same block (one statement runs before the other); in two
blocks of the same compound statement (``if``/``else``, ``try``/``except``) they are on
different paths. Loops are read as straight code (a statement is not "after" itself).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

import libcst as cst

from asyncmend.codemods.base import FileContext
from asyncmend.codemods.facts import transactions as transaction_facts
from asyncmend.codemods.facts.base import FileFacts
from asyncmend.codemods.semantic.fastapi import parameter_depends
from asyncmend.codemods.semantic.queries import entity_of, is_write_statement
from asyncmend.codemods.semantic.sessions import is_async_session_class, method_session_names
from asyncmend.codemods.semantic.tree import (
    SCOPE_NODES,
    Children,
    annotation_of,
    assigned_names,
    dotted_name,
    iter_descendants,
    owner_class,
    parameters,
)

#: Session methods that stage writes for the next flush.
WRITE_METHODS = frozenset({"add", "add_all", "delete", "merge", "merge_all", "delete_all"})
#: Result methods that return one ORM object (or None) of an entity query.
ONE_OBJECT = {
    "scalar_one": False,
    "scalar_one_or_none": True,
    "scalar": True,
    "first": True,
    "one": False,
    "one_or_none": True,
}


@dataclass(frozen=True)
class Site:
    """Where a node sits in its function: the block chain down to its statement, and its
    position in source order (to order nodes of one statement)."""

    path: tuple[tuple[int, int], ...]
    order: int
    #: The innermost statement holding the node (a small statement for ``a; b`` lines).
    statement: cst.CSTNode
    #: The statement list (IndentedBlock or SimpleStatementSuite) holding ``statement``'s
    #: line, or None for the function header.
    block: cst.CSTNode | None


def precedes(a: Site, b: Site) -> bool:
    """``a`` runs before ``b`` on some path through the function (see module doc)."""
    for (block_a, index_a), (block_b, index_b) in zip(a.path, b.path, strict=False):
        if block_a != block_b:
            return False
        if index_a != index_b:
            return index_a < index_b
    return a.order < b.order


def between(first: Site, site: Site, last: Site) -> bool:
    """``site`` runs after ``first`` and before ``last`` on some path."""
    return precedes(first, site) and precedes(site, last)


def dominates(a: Site, b: Site) -> bool:
    """Every path to ``b`` passes ``a`` first: ``a``'s block encloses ``b`` and ``a`` comes
    earlier in it."""
    if len(a.path) > len(b.path) or a.path[:-1] != b.path[: len(a.path) - 1]:
        return False
    return precedes(a, b)


@dataclass
class SessionCall:
    site: Site
    session: str
    method: str
    call: cst.Call
    #: The ``await`` around the call, if any.
    awaited: cst.Await | None


@dataclass
class Binding:
    site: Site
    name: str
    #: The value bound, when the target is the plain name (None for tuples, loops...).
    value: cst.BaseExpression | None


@dataclass
class AttributeUse:
    site: Site
    name: str
    node: cst.Attribute
    #: Assigned or deleted (``x.a = 1``), not read; ``x.a += 1`` reads.
    store: bool
    #: The target of ``x.a += 1`` (reads and writes).
    augmented: bool = False


@dataclass
class Flow:
    """The facts of one function the transaction rules need, in source order."""

    func: cst.FunctionDef
    sessions: frozenset[str]
    calls: list[SessionCall] = field(default_factory=list)
    #: Calls that receive a session as an argument (``method`` is the callee as written).
    handoffs: list[SessionCall] = field(default_factory=list)
    bindings: list[Binding] = field(default_factory=list)
    attributes: list[AttributeUse] = field(default_factory=list)
    #: Statement (line) -> the block holding it and its index there.
    positions: dict[int, tuple[cst.CSTNode, int]] = field(default_factory=dict)
    #: Every call of the function's own scope, with its site.
    every_call: list[tuple[Site, cst.Call]] = field(default_factory=list)

    def bindings_of(self, name: str) -> list[Binding]:
        return [b for b in self.bindings if b.name == name]

    def value_of(self, name: str, before: Site) -> cst.BaseExpression | None:
        """The value of the one binding of ``name`` before ``before`` (None when there are
        several, or none: then the name's value is not known)."""
        found = [b for b in self.bindings_of(name) if precedes(b.site, before)]
        if len(self.bindings_of(name)) == 1 and len(found) == 1:
            return found[0].value
        return None

    def calls_on(self, name: str, methods: Collection[str]) -> list[SessionCall]:
        """Session calls of ``methods`` whose first argument is the name ``name``
        (``s.refresh(user)``, ``s.expunge(user)``)."""
        return [
            c
            for c in self.calls
            if c.method in methods
            and c.call.args
            and isinstance(c.call.args[0].value, cst.Name)
            and c.call.args[0].value.value == name
        ]

    def site_of(self, call: cst.Call) -> Site | None:
        """Where the method call ``call`` sits: ``result.scalar_one()`` is recorded as an
        attribute use, ``(await s.execute(q)).scalar_one()`` through its session call."""
        for use in self.attributes:
            if use.node is call.func:
                return use.site
        inner = {id(n) for n in iter_descendants(call.func)}
        for item in self.calls:
            if id(item.call) in inner:
                return item.site
        return None

    def session_call(self, call: cst.Call) -> SessionCall | None:
        for item in self.calls:
            if item.call is call:
                return item
        return None


def flow_of(func: cst.FunctionDef, context: FileContext, ancestors: list[cst.CSTNode]) -> Flow:
    """The flow of ``func`` (built once per file); ``ancestors`` are ``func``'s, to find
    the class it is a method of (its ``self.<attr>`` sessions count)."""
    key = ("transactions_flow", id(func))
    cached = context.semantic.memo.get(key)
    if cached is None:
        sessions = method_session_names(func, owner_class(func, ancestors), context)
        cached = _FlowBuilder(func, sessions, context.semantic.children).build()
        context.semantic.memo[key] = cached
    return cached


class _FlowBuilder:
    def __init__(self, func: cst.FunctionDef, sessions: frozenset[str], children: Children) -> None:
        self.flow = Flow(func, sessions)
        self.children = children
        self.order = 0
        #: id(call) -> the ``await`` around it (the await is walked before its call).
        self.awaits: dict[int, cst.Await] = {}

    def build(self) -> Flow:
        self._block(self.flow.func.body, ())
        return self.flow

    def _block(self, block: cst.BaseSuite, path: tuple[tuple[int, int], ...]) -> None:
        for index, stmt in enumerate(block.body):
            self.flow.positions[id(stmt)] = (block, index)
            if not isinstance(stmt, SCOPE_NODES):  # nested defs run at another time
                self._statement(stmt, (*path, (id(block), index)), block)

    def _statement(
        self, stmt: cst.CSTNode, path: tuple[tuple[int, int], ...], block: cst.CSTNode
    ) -> None:
        stores: set[int] = set()
        self.augmented: set[int] = set()
        stack: list[cst.CSTNode] = [stmt]
        while stack:
            node = stack.pop()
            if node is not stmt and isinstance(node, (cst.IndentedBlock, cst.SimpleStatementSuite)):
                self._block(node, path)
                continue
            if node is not stmt and isinstance(node, SCOPE_NODES):
                continue  # nested scopes run at another time
            self.order += 1
            self._record(node, Site(path, self.order, stmt, block), stores)
            stack.extend(reversed(self.children(node)))

    def _record(self, node: cst.CSTNode, site: Site, stores: set[int]) -> None:
        flow = self.flow
        if isinstance(node, cst.Await) and isinstance(node.expression, cst.Call):
            self.awaits[id(node.expression)] = node
        elif isinstance(node, cst.Call):
            flow.every_call.append((site, node))
            if isinstance(node.func, cst.Attribute):
                receiver = dotted_name(node.func.value)
                if receiver is not None and receiver in flow.sessions:
                    awaited = self.awaits.get(id(node))
                    method = node.func.attr.value
                    flow.calls.append(SessionCall(site, receiver, method, node, awaited))
            for arg in node.args:
                session = dotted_name(arg.value)
                if session is not None and session in flow.sessions:
                    callee = dotted_name(node.func) or ""
                    awaited = self.awaits.get(id(node))
                    flow.handoffs.append(SessionCall(site, session, callee, node, awaited))
        elif isinstance(node, (cst.Assign, cst.AnnAssign, cst.AugAssign, cst.Del)):
            targets: list[cst.BaseExpression] = (
                [t.target for t in node.targets] if isinstance(node, cst.Assign) else [node.target]
            )
            for target in targets:
                for item in _flatten_targets(target):
                    if isinstance(item, cst.Attribute):
                        augmented = isinstance(node, cst.AugAssign)
                        (self.augmented if augmented else stores).add(id(item))
            if isinstance(node, (cst.Assign, cst.AnnAssign)):
                for target in targets:
                    if isinstance(target, cst.Name):
                        flow.bindings.append(Binding(site, target.value, node.value))
                    else:
                        for name in assigned_names(target):
                            flow.bindings.append(Binding(site, name, None))
        elif isinstance(node, cst.For):
            for name in assigned_names(node.target):
                flow.bindings.append(Binding(site, name, None))
        elif isinstance(node, cst.WithItem) and node.asname is not None:
            target = node.asname.name
            if isinstance(target, cst.Name):
                flow.bindings.append(Binding(site, target.value, node.item))
            else:
                for name in assigned_names(target):  # type: ignore[arg-type]
                    flow.bindings.append(Binding(site, name, None))
        elif isinstance(node, cst.NamedExpr) and isinstance(node.target, cst.Name):
            flow.bindings.append(Binding(site, node.target.value, node.value))
        elif isinstance(node, cst.Attribute) and isinstance(node.value, cst.Name):
            flow.attributes.append(
                AttributeUse(
                    site, node.value.value, node, id(node) in stores, id(node) in self.augmented
                )
            )


def _flatten_targets(target: cst.BaseExpression) -> list[cst.BaseExpression]:
    if isinstance(target, (cst.Tuple, cst.List)):
        found: list[cst.BaseExpression] = []
        for element in target.elements:
            found.extend(_flatten_targets(element.value))
        return found
    if isinstance(target, cst.StarredElement):
        return _flatten_targets(target.value)
    return [target]


# -- queries -----------------------------------------------------------------------------


def resolve_query(
    flow: Flow, expr: cst.BaseExpression | None, at: Site
) -> cst.BaseExpression | None:
    """A query expression, following one plain local assignment (``q = select(M)...``)."""
    if isinstance(expr, cst.Name):
        return flow.value_of(expr.value, at)
    return expr


def first_arg(call: cst.Call) -> cst.BaseExpression | None:
    for arg in call.args:
        if arg.keyword is None and not arg.star:
            return arg.value
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == "statement":
            return arg.value
    return None


def is_write(flow: Flow, call: SessionCall) -> bool:
    """A session call that stages or runs a write."""
    if call.method in WRITE_METHODS:
        return True
    if call.method == "execute":
        return is_write_statement(resolve_query(flow, first_arg(call.call), call.site))
    return False


@dataclass
class Loaded:
    """An object added to or loaded through a session, bound to ``name``."""

    name: str
    site: Site
    session: str
    #: Whether the value may be None (``get``, ``scalar_one_or_none``...).
    may_be_none: bool


#: The session methods through which ``loaded_objects`` finds objects (adds, direct
#: loads, and the ``execute``/``scalars`` calls results come from): AM303's gate.
LOADING_METHODS = frozenset(
    {"add", "add_all", "get", "get_one", "merge", "scalar", "execute", "scalars"}
)


def loaded_objects(flow: Flow) -> list[Loaded]:
    """Names bound to ORM objects of a session: ``x = await s.get(M, k)``,
    ``x = (await s.execute(select(M)...)).scalar_one()`` (directly or through a result
    name), ``x = (await s.scalars(select(M)...)).first()``, ``s.add(x)``, ``s.add_all([x])``."""
    found: list[Loaded] = []
    for call in flow.calls:
        if call.method == "add" and call.call.args:
            value = call.call.args[0].value
            if isinstance(value, cst.Name):
                found.append(Loaded(value.value, call.site, call.session, False))
        elif call.method == "add_all" and call.call.args:
            value = call.call.args[0].value
            if isinstance(value, (cst.List, cst.Tuple)):
                for element in value.elements:
                    if isinstance(element.value, cst.Name):
                        found.append(Loaded(element.value.value, call.site, call.session, False))
    for binding in flow.bindings:
        if binding.value is None:
            continue
        origin = object_origin(flow, binding.value, binding.site)
        if origin is not None:
            session, may_be_none = origin
            found.append(Loaded(binding.name, binding.site, session, may_be_none))
    found.sort(key=lambda item: item.site.order)
    return found


def _awaited_session_call(flow: Flow, expr: cst.BaseExpression) -> SessionCall | None:
    if isinstance(expr, cst.Await) and isinstance(expr.expression, cst.Call):
        return flow.session_call(expr.expression)
    return None


def object_origin(flow: Flow, value: cst.BaseExpression, at: Site) -> tuple[str, bool] | None:
    """``(session, may_be_none)`` when ``value`` evaluates to one ORM object of a session."""
    direct = _awaited_session_call(flow, value)
    if direct is not None:
        if direct.method in ("get", "get_one", "merge"):
            return direct.session, direct.method == "get"
        if direct.method == "scalar":
            query = resolve_query(flow, first_arg(direct.call), direct.site)
            return (direct.session, True) if entity_of(query) else None
        return None
    if not (isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute)):
        return None
    method = value.func.attr.value
    if method not in ONE_OBJECT or value.args:
        return None
    receiver = value.func.value
    source = execute_source(flow, receiver, at)
    if source is None:
        return None
    call, scalars = source
    if method in ("first", "one", "one_or_none") and not scalars:
        return None  # a Row, not an object
    query = resolve_query(flow, first_arg(call.call), call.site)
    if entity_of(query) is None:
        return None
    return call.session, ONE_OBJECT[method]


def _without_scalars(expr: cst.BaseExpression) -> tuple[cst.BaseExpression, bool]:
    """``x`` and True for ``x.scalars()``, else ``expr`` and False."""
    if (
        isinstance(expr, cst.Call)
        and isinstance(expr.func, cst.Attribute)
        and expr.func.attr.value == "scalars"
        and not expr.args
    ):
        return expr.func.value, True
    return expr, False


def execute_source(
    flow: Flow, receiver: cst.BaseExpression, at: Site
) -> tuple[SessionCall, bool] | None:
    """The ``execute``/``scalars`` call a result comes from, and whether the result is a
    scalars result: ``(await s.execute(q))``, ``(await s.execute(q)).scalars()``,
    ``(await s.scalars(q))``, or a name bound once to one of those."""
    receiver, scalars = _without_scalars(receiver)
    if isinstance(receiver, cst.Name):
        bound = flow.value_of(receiver.value, at)
        if bound is None:
            return None
        receiver, bound_scalars = _without_scalars(bound)
        scalars = scalars or bound_scalars
    call = _awaited_session_call(flow, receiver)
    if call is None:
        return None
    if call.method == "execute":
        return call, scalars
    if call.method == "scalars" and not scalars:
        return call, True
    return None


def commit_flow(
    func: cst.FunctionDef, context: FileContext, ancestors: list[cst.CSTNode]
) -> tuple[Flow, list[SessionCall]] | None:
    """For an ``async def`` that awaits a commit of its sessions: its flow and its awaited
    commits, in source order (the start of every commit-reading rule); else None."""
    if func.asynchronous is None or not isinstance(func.body, cst.IndentedBlock):
        return None
    if not mentions_attribute(func, "commit", context):
        return None
    flow = flow_of(func, context, ancestors)
    commits = awaited_method(flow, "commit")
    return (flow, commits) if commits else None


def awaited_method(flow: Flow, method: str) -> list[SessionCall]:
    """``await s.<method>(...)`` calls on a session of the function, in source order."""
    return [c for c in flow.calls if c.method == method and c.awaited is not None]


def statement_line(flow: Flow, call: SessionCall) -> cst.SimpleStatementLine | None:
    """The line of an ``await s.m(...)`` written as a statement of its own (in an indented
    block), else None."""
    line = call.site.statement
    if not (
        isinstance(line, cst.SimpleStatementLine)
        and len(line.body) == 1
        and isinstance(line.body[0], cst.Expr)
        and line.body[0].value is call.awaited
        and isinstance(call.site.block, cst.IndentedBlock)
    ):
        return None
    return line


# -- expire_on_commit ----------------------------------------------------------------------


def repo_expires_on_commit(context: FileContext) -> bool:
    """Whether a session whose factory is not known locally (a parameter, a dependency we
    cannot follow) expires its objects on commit. Only when the repo index determines its
    factory: the repo makes sessions in exactly one place (one sessionmaker or one
    ``AsyncSession(...)`` call) and that one visibly keeps the default
    ``expire_on_commit=True``. With two or more factories (one test file's
    ``AsyncSession(engine)`` next to the app's factory, even when both keep the default),
    a value that cannot be read, or no factory at all (a library: its users' factories
    decide), the factory is not determined: False, so the rules stay silent."""
    cached = context.semantic.memo.get("repo_expires_on_commit")
    if cached is None:
        cached = transaction_facts.repo_expires_on_commit(context.index.by_path.values())
        context.semantic.memo["repo_expires_on_commit"] = cached
    return cached


def session_expires_on_commit(flow: Flow, session: str, context: FileContext) -> bool:
    """Whether ``session`` expires its objects on commit. A session bound once in the
    function to a factory call we can read (``AsyncSession(..., expire_on_commit=...)``,
    or a sessionmaker of this module or imported from the repo) answers for itself;
    a parameter ``Depends(dep)`` (directly, in ``Annotated``, or through an alias such as
    ``SessionDep``) whose dependency yields a session of a known sessionmaker answers
    with that sessionmaker; any other session takes the repo's answer."""
    memo = f"expires_on_commit:{session}"
    found = context.semantic.memoized(memo, flow.func)
    if found is not None:
        return found  # type: ignore[no-any-return]
    bindings = flow.bindings_of(session)
    known: bool | None = None
    if len(bindings) == 1 and isinstance(bindings[0].value, cst.Call):
        known = _factory_expires(bindings[0].value, context)
    elif not bindings:
        known = _dependency_expires(flow.func, session, context)
    answer = repo_expires_on_commit(context) if known is None else known
    return context.semantic.remember(memo, flow.func, answer)  # type: ignore[no-any-return]


def _factory_expires(call: cst.Call, context: FileContext) -> bool | None:
    callee = dotted_name(call.func)
    if callee is None:
        return None
    qualified = context.semantic.resolve(call.func) or callee
    if is_async_session_class(call.func, context):
        for arg in call.args:
            if arg.star == "**":
                return None
            if arg.keyword is not None and arg.keyword.value == "expire_on_commit":
                return _literal_bool(arg.value)
        return True
    facts = context.index.by_path.get(context.path) or context.index.by_module.get(
        context.module_name or ""
    )
    name = callee
    if "." in callee or callee in context.semantic.imports:
        module, _, name = context.index.resolve(qualified).rpartition(".")
        facts = context.index.by_module.get(module)
    if facts is None:
        return None
    info = facts.sessionmakers.get(name)
    if not info or not info.get("async"):
        return None
    value = info.get("expire_on_commit")
    return value if isinstance(value, bool) else None


def _literal_bool(expr: cst.BaseExpression) -> bool | None:
    if isinstance(expr, cst.Name) and expr.value in ("True", "False"):
        return expr.value == "True"
    return None


def _resolve_written(
    facts: FileFacts, written: str, context: FileContext
) -> tuple[FileFacts, str] | None:
    """The module facts and name that ``written`` (a dotted name as written in the
    module of ``facts``) refers to: a name of that module, or one it imports."""
    head, _, rest = written.partition(".")
    target = facts.imports.get(head)
    if target is None:
        return (facts, written) if not rest else None
    qualified = f"{target}.{rest}" if rest else target
    module, _, name = context.index.resolve(qualified).rpartition(".")
    other = context.index.by_module.get(module)
    return (other, name) if other is not None else None


def _dependency_expires(func: cst.FunctionDef, session: str, context: FileContext) -> bool | None:
    """``expire_on_commit`` of the sessionmaker behind a session parameter's dependency
    (pass-1 facts ``alias_dependencies`` and ``dependency_factories``), None if unknown."""
    here = context.index.by_path.get(context.path) or context.index.by_module.get(
        context.module_name or ""
    )
    if here is None:
        return None
    param = next((p for p in parameters(func) if p.name.value == session), None)
    if param is None:
        return None
    annotation = annotation_of(param)
    depends = parameter_depends(param)
    written = dotted_name(depends.args[0].value) if depends is not None and depends.args else None
    dependency: tuple[FileFacts, str] | None = None
    if written is not None:
        dependency = _resolve_written(here, written, context)
    elif (alias := dotted_name(annotation)) is not None:
        located = _resolve_written(here, alias, context)
        if located is not None:
            alias_facts, alias_name = located
            target = transaction_facts.alias_dependencies.of(alias_facts).get(alias_name)
            if target is not None:
                dependency = _resolve_written(alias_facts, target, context)
    if dependency is None:
        return None
    dep_facts, dep_name = dependency
    factory = transaction_facts.dependency_factories.of(dep_facts).get(dep_name)
    located = _resolve_written(dep_facts, factory, context) if factory else None
    if located is None:
        return None
    maker_facts, maker_name = located
    info = maker_facts.sessionmakers.get(maker_name)
    if not info or not info.get("async"):
        return None
    value = info.get("expire_on_commit")
    return value if isinstance(value, bool) else None


def mentions_attribute(func: cst.FunctionDef, attribute: str, context: FileContext) -> bool:
    """Whether ``func`` contains ``<something>.<attribute>`` at all: a cheap test before
    the flow (whose session matching is the costly part) is built."""
    key = ("transactions_attributes", id(func))
    names = context.semantic.memo.get(key)
    if names is None:
        names = {
            n.attr.value
            for n in context.semantic.descendants(func.body)
            if isinstance(n, cst.Attribute)
        }
        context.semantic.memo[key] = names
    return attribute in names


# -- None checks ---------------------------------------------------------------------------


def checked_not_none(flow: Flow, name: str, bound: Site, before: Site) -> bool:
    """Whether ``name``, bound at ``bound``, is known not None at ``before``: an ``if name
    is None: raise/return`` (or ``if not name:``), or an ``assert name`` / ``assert name is
    not None``, between the two, in the block of the binding."""
    position = flow.positions.get(id(bound.statement))
    if position is None:
        return False
    block, index = position
    end = before.path[len(bound.path) - 1][1]
    for stmt in block.body[index + 1 : end]:  # type: ignore[attr-defined]
        if isinstance(stmt, cst.SimpleStatementLine) and any(
            isinstance(small, cst.Assert) and _asserts_not_none(small.test, name)
            for small in stmt.body
        ):
            return True
        if isinstance(stmt, cst.If) and stmt.orelse is None and _is_none_test(stmt.test, name):
            body = list(stmt.body.body)
            last = body[-1] if body else None
            if isinstance(last, cst.SimpleStatementLine):
                last = last.body[-1]
            if isinstance(last, (cst.Raise, cst.Return)):
                return True
    return False


def _compares_to_none(test: cst.BaseExpression, name: str, operator: type[cst.BaseCompOp]) -> bool:
    """``name is None`` (operator ``cst.Is``) or ``name is not None`` (``cst.IsNot``)."""
    if not (isinstance(test, cst.Comparison) and len(test.comparisons) == 1):
        return False
    target = test.comparisons[0]
    return (
        isinstance(test.left, cst.Name)
        and test.left.value == name
        and isinstance(target.operator, operator)
        and isinstance(target.comparator, cst.Name)
        and target.comparator.value == "None"
    )


def _is_none_test(test: cst.BaseExpression, name: str) -> bool:
    if isinstance(test, cst.Comparison):
        return _compares_to_none(test, name, cst.Is)
    if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
        return isinstance(test.expression, cst.Name) and test.expression.value == name
    if isinstance(test, cst.BooleanOperation) and isinstance(test.operator, cst.Or):
        return _is_none_test(test.left, name) or _is_none_test(test.right, name)
    return False


def _asserts_not_none(test: cst.BaseExpression, name: str) -> bool:
    if isinstance(test, cst.Name):
        return test.value == name
    if isinstance(test, cst.Comparison):
        return _compares_to_none(test, name, cst.IsNot)
    if isinstance(test, cst.BooleanOperation) and isinstance(test.operator, cst.And):
        return _asserts_not_none(test.left, name) or _asserts_not_none(test.right, name)
    return False


# -- paths after a statement ---------------------------------------------------------------


def reaching_binding(flow: Flow, name: str, at: Site) -> Binding | None:
    """The latest binding of ``name`` that runs before ``at`` on its path (None for a
    parameter or a name bound elsewhere): two uses of one name reached by different
    bindings (two ``async with maker() as s`` blocks) are two different objects."""
    found = [b for b in flow.bindings_of(name) if precedes(b.site, at)]
    return max(found, key=lambda b: b.site.order) if found else None


def same_object(flow: Flow, name: str, a: Site, b: Site) -> bool:
    """``name`` at ``a`` and at ``b`` is the same object: one binding reaches both."""
    return reaching_binding(flow, name, a) is reaching_binding(flow, name, b)


def may_leave(stmt: cst.CSTNode) -> bool:
    """A ``return`` anywhere in ``stmt``, or a ``break``/``continue`` not inside a loop of
    ``stmt``: after it, the code that follows ``stmt`` may not run."""
    stack: list[tuple[cst.CSTNode, bool]] = [(stmt, False)]
    while stack:
        node, in_loop = stack.pop()
        if node is not stmt and isinstance(node, SCOPE_NODES):
            continue
        if isinstance(node, cst.Return):
            return True
        if isinstance(node, (cst.Break, cst.Continue)) and not in_loop:
            return True
        inner = in_loop or isinstance(node, (cst.For, cst.While))
        stack.extend((child, inner) for child in node.children)
    return False


def certainly_followed_by(
    flow: Flow, site: Site, candidates: list[SessionCall]
) -> SessionCall | None:
    """The first of ``candidates`` (statements of their own) that runs on every path
    that leaves ``site``'s statement normally: in its block or an enclosing one (not
    leaving a loop: an item's statement is not followed by the code after the loop),
    with no ``return``/``break``/``continue``/``raise`` statement in between. Calls that
    may raise are not counted (they are the failures the transaction rules are about)."""
    lines = {id(c.site.statement): c for c in candidates if statement_line(flow, c) is not None}
    blocks = {id(block): block for block, _ in flow.positions.values()}
    for depth in range(len(site.path) - 1, -1, -1):
        block_id, index = site.path[depth]
        block = blocks.get(block_id)
        if block is None:
            return None
        found, left = _first_certain(list(block.body)[index + 1 :], lines)  # type: ignore[attr-defined]
        if found is not None or left:
            return found
        if depth == 0:
            return None
        parent_block_id, parent_index = site.path[depth - 1]
        parent = blocks.get(parent_block_id)
        if parent is None:
            return None
        owner = list(parent.body)[parent_index]  # type: ignore[attr-defined]
        if isinstance(owner, (cst.For, cst.While)):
            return None
        # Leaving a `try` body when the try has an `else`/handlers: the code after it
        # still runs on the normal path, so go on.
    return None


def _first_certain(
    statements: list[cst.CSTNode], lines: dict[int, SessionCall]
) -> tuple[SessionCall | None, bool]:
    """The first of ``lines`` that ``statements`` certainly run, looking into the bodies
    of ``with`` and ``try`` statements (which run when reached); and whether a statement
    before it may leave (then nothing after is certain)."""
    for stmt in statements:
        found = lines.get(id(stmt))
        if found is not None:
            return found, False
        if isinstance(stmt, cst.SimpleStatementLine) and any(
            isinstance(small, cst.Raise) for small in stmt.body
        ):
            return None, True  # the path ends here
        if _runs_its_body(stmt):
            found, left = _first_certain(list(stmt.body.body), lines)  # type: ignore[attr-defined]
            if found is not None or left:
                return found, left
        if may_leave(stmt):
            return None, True
    return None, False


def _runs_its_body(stmt: cst.CSTNode) -> bool:
    """A ``with``, or a ``try`` whose handlers all end by raising: reached normally, its
    body runs to the end or the function raises."""
    if isinstance(stmt, cst.With):
        return isinstance(stmt.body, cst.IndentedBlock)
    if not isinstance(stmt, cst.Try) or not isinstance(stmt.body, cst.IndentedBlock):
        return False
    return all(ends_with_raise(handler.body) for handler in stmt.handlers)


def ends_with_raise(body: cst.BaseSuite) -> bool:
    """The block's last statement is a ``raise``."""
    statements = list(body.body)
    if not statements:
        return False
    last = statements[-1]
    if isinstance(last, cst.SimpleStatementLine):
        return isinstance(last.body[-1], cst.Raise)
    return isinstance(last, cst.Raise)


#: Calls (by the callee's API, method name of the receiver) that hand committed state to
#: another worker, task or process, which reads it there: the commit before them is meant.
HANDOFF_METHODS = frozenset(
    {
        # Celery, RQ, dramatiq, arq
        "delay", "apply_async", "send_task", "enqueue", "enqueue_job", "send_with_options",
        # asyncio / anyio / FastAPI / Starlette: run elsewhere
        "create_task", "ensure_future", "start_soon", "add_task", "run_in_executor",
        # queues and brokers
        "publish", "basic_publish", "send_message", "put", "put_nowait", "xadd", "lpush",
        "rpush", "produce", "send_and_wait",
    }
)  # fmt: skip
#: HTTP client methods (the state is read by another service).
HTTP_METHODS = frozenset({"get", "post", "put", "patch", "delete", "request", "send", "stream"})
HTTP_MODULES = ("httpx", "requests", "aiohttp", "urllib", "urllib3")


def hands_off(call: cst.Call, flow: Flow, context: FileContext) -> bool:
    """``call`` passes work to another worker or service (Celery ``.delay``, a task, a
    queue publish, an HTTP request): a commit just before it makes the data durable for
    that reader on purpose."""
    qualified = context.semantic.resolve(call.func) or ""
    if qualified.split(".")[0] in HTTP_MODULES or qualified in (
        "asyncio.create_task",
        "asyncio.ensure_future",
    ):
        return True
    func = call.func
    if not isinstance(func, cst.Attribute):
        return False
    receiver = dotted_name(func.value)
    if receiver is not None and receiver in flow.sessions:
        return False
    method = func.attr.value
    if method in HANDOFF_METHODS:
        return True
    if method in HTTP_METHODS:
        root = func.value
        while isinstance(root, (cst.Attribute, cst.Call)):
            root = root.func if isinstance(root, cst.Call) else root.value
        resolved = (context.semantic.resolve(root) if isinstance(root, cst.Name) else None) or ""
        return resolved.split(".")[0] in HTTP_MODULES or _bound_to_http_client(
            flow, func.value, context
        )
    return False


def _bound_to_http_client(flow: Flow, receiver: cst.BaseExpression, context: FileContext) -> bool:
    """``client.post(...)`` where ``client`` is bound in the function to an HTTP client
    (``async with httpx.AsyncClient() as client``) or annotated as one."""
    if not isinstance(receiver, cst.Name):
        return False
    for binding in flow.bindings_of(receiver.value):
        value = binding.value
        if isinstance(value, cst.Call):
            resolved = context.semantic.resolve(value.func) or ""
            if resolved.split(".")[0] in HTTP_MODULES:
                return True
    for param in parameters(flow.func):
        if param.name.value == receiver.value:
            annotation = annotation_of(param)
            resolved = context.semantic.resolve(annotation) if annotation is not None else None
            return (resolved or "").split(".")[0] in HTTP_MODULES
    return False
