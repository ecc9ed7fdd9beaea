"""What pass 1 records per file, and how collectors register.

A collector is a function ``(tree, facts) -> JSON-able data`` over a stdlib ``ast``
tree, registered with ``@collector(name, triggers=..., empty=...)`` beside the tokens
that must occur in a file for it to find anything. The decorator turns it into a typed
``Fact``: rules read ``fact.of(file_facts)`` (typed by the collector's return type),
never a string key. The records stay plain JSON-able data, so the cache stores them
as they are.
"""

from __future__ import annotations

import ast
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Generic, TypeVar

R = TypeVar("R")
Collector = Callable[[ast.Module, "FileFacts"], Any]


@dataclass
class FileFacts:
    path: str
    module: str | None
    #: Qualified names (``func``, ``Class.method``) of the module's ``async def``s.
    async_defs: list[str] = field(default_factory=list)
    #: Module-level import bindings: local name -> dotted target.
    imports: dict[str, str] = field(default_factory=dict)
    #: Module-level sessionmaker bindings: name -> {"async": bool, "expire_on_commit": bool|None} (None: not readable).
    sessionmakers: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Facts from the registered collectors (see ``COLLECTORS``), by collector name.
    extra: dict[str, Any] = field(default_factory=dict)
    #: The file's bytes while pass 1 runs, so a collector can skip work a token rules
    #: out (``b"yield"``); emptied before the facts are stored or sent anywhere.
    source: bytes = field(default=b"", repr=False, compare=False)
    #: Whether the tree's line numbers are those of ``source`` while pass 1 runs: False
    #: for a tree lowered from newer syntax (``facts.parse``), whose lines may shift, so
    #: no collector may rule a node out by the text of its lines (``facts.source_lines``).
    lines_match: bool = field(default=True, repr=False, compare=False)


#: Registered collectors: name -> function(tree, facts) returning JSON-able data.
COLLECTORS: dict[str, Collector] = {}
#: A collector runs only on files holding one of its tokens (absent: on every file).
COLLECTOR_TRIGGERS: dict[str, tuple[bytes, ...]] = {}


class Fact(Generic[R]):
    """A registered pass-1 collector and the typed reader of what it recorded."""

    def __init__(self, name: str, func: Callable[[ast.Module, FileFacts], R], empty: R) -> None:
        self.name = name
        self.func = func
        self.empty = empty

    def __call__(self, tree: ast.Module, facts: FileFacts) -> R:
        return self.func(tree, facts)

    def of(self, facts: FileFacts | None) -> R:
        """What the collector recorded for one file (``empty`` when nothing was)."""
        if facts is None:
            return self.empty
        return facts.extra.get(self.name, self.empty)  # type: ignore[no-any-return]


def collector(
    name: str, *, empty: Any, triggers: tuple[bytes, ...] = ()
) -> Callable[[Callable[[ast.Module, FileFacts], R]], Fact[R]]:
    """Register a pass-1 collector under ``name``, run on files holding one of
    ``triggers`` (every parsed file when empty); ``empty`` is what ``Fact.of`` answers
    for a file it found nothing in."""

    def register(func: Callable[[ast.Module, FileFacts], R]) -> Fact[R]:
        if name in COLLECTORS:
            raise ValueError(f"two pass-1 collectors named {name!r}")
        fact = Fact(name, func, empty)
        COLLECTORS[name] = fact
        if triggers:
            COLLECTOR_TRIGGERS[name] = triggers
        return fact

    return register


#: Fields never walked: names and flags, and the load/store context (a leaf no collector
#: asks for: reading `node.ctx` still works).
_SCALAR_FIELDS = frozenset(
    {"ctx", "id", "attr", "name", "arg", "asname", "module", "level", "is_async", "kind",
     "conversion", "simple", "type_comment"}
)  # fmt: skip


@cache
def _node_fields(kind: type) -> tuple[str, ...]:
    return tuple(name for name in kind._fields if name not in _SCALAR_FIELDS)


def iter_child_nodes(node: ast.AST) -> Iterator[ast.AST]:
    """``ast.iter_child_nodes`` without the context leaves, in the same order and
    without its per-field generator (pass 1 walks every tree several times)."""
    for name in _node_fields(type(node)):
        value = getattr(node, name, None)
        if type(value) is list:
            for item in value:
                if isinstance(item, ast.AST):
                    yield item
        elif isinstance(value, ast.AST):
            yield value


def walk(node: ast.AST) -> Iterator[ast.AST]:
    """``ast.walk`` without the context leaves (``Load``, ``Store``, ``Del``): every
    other node under ``node`` (itself included), in the same order."""
    todo = deque([node])
    pop, push, node_type = todo.popleft, todo.append, ast.AST
    while todo:
        node = pop()
        for name in _node_fields(type(node)):
            value = getattr(node, name, None)
            if type(value) is list:
                for item in value:
                    if isinstance(item, node_type):
                        push(item)
            elif isinstance(value, node_type):
                push(value)
        yield node


#: Nodes that open a scope of their own: a function's own nodes stop at them.
SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)


def own_nodes(roots: list[ast.AST]) -> list[ast.AST]:
    """``roots`` and every node under them in their own scope: nested functions, lambdas
    and classes listed but not entered. Depth-first, the last root and child first (the
    order of a stack of ``iter_child_nodes``), in one loop without a generator per node.
    (The child loop is ``walk``'s, written out again: a shared helper would cost a call
    per node on pass 1's hottest path.)"""
    found: list[ast.AST] = []
    stack = list(roots)
    pop, push, keep, node_type = stack.pop, stack.append, found.append, ast.AST
    while stack:
        node = pop()
        keep(node)
        if isinstance(node, SCOPES):
            continue
        for name in _node_fields(type(node)):
            value = getattr(node, name, None)
            if type(value) is list:
                for item in value:
                    if isinstance(item, node_type):
                        push(item)
            elif isinstance(value, node_type):
                push(value)
    return found


#: The fields that hold statements: blocks, and the clauses that hold blocks
#: (``except`` handlers, ``match`` cases).
_BLOCK_FIELDS = frozenset({"body", "handlers", "orelse", "finalbody", "cases"})


@cache
def _block_fields(kind: type) -> tuple[str, ...]:
    return tuple(name for name in _node_fields(kind) if name in _BLOCK_FIELDS)


def block_children(node: ast.AST) -> Iterator[ast.AST]:
    """The statements (and handlers, cases) directly under a statement, a handler or a
    case, in ``iter_child_nodes``'s order; expressions skipped (they hold no statement)."""
    for name in _block_fields(type(node)):
        yield from getattr(node, name)


def statements(node: ast.AST) -> Iterator[ast.AST]:
    """The statements ``walk(node)`` yields, in the same order, without walking any
    expression: a tenth of the nodes. Statements sit only in blocks, and a walk's
    breadth-first order kept to a subtree's top part is that part's own walk order."""
    todo = deque([node])
    pop, push, statement = todo.popleft, todo.append, ast.stmt
    while todo:
        node = pop()
        for name in _block_fields(type(node)):
            for item in getattr(node, name):
                push(item)
        if isinstance(node, statement):
            yield node


def assignment(stmt: ast.stmt) -> tuple[list[ast.expr], ast.expr | None]:
    """(targets, value) of ``x = v`` / ``x: T = v``; ([], None) for anything else."""
    if isinstance(stmt, ast.Assign):
        return stmt.targets, stmt.value
    if isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
        return [stmt.target], stmt.value
    return [], None


def depends_aliases(tree: ast.Module) -> list[tuple[str, ast.Subscript, ast.Call]]:
    """Pass 1's one reader of ``Depends`` in aliases: module-level ``Alias = X[...,
    Depends(dep, ...)]`` -> (alias, the subscript, the ``Depends`` call)."""
    found = []
    for stmt in tree.body:
        if not (isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Subscript)):
            continue
        call = next(
            (
                node
                for node in walk(stmt.value)
                if isinstance(node, ast.Call)
                and (dotted(node.func) or "").rsplit(".", 1)[-1] == "Depends"
            ),
            None,
        )
        if call is not None:
            found.extend(
                (target.id, stmt.value, call)
                for target in stmt.targets
                if isinstance(target, ast.Name)
            )
    return found


def module_functions(
    tree: ast.Module,
) -> Iterator[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    """Module-level functions and the methods of module-level classes, with the name the
    repo index knows them by (``func``, ``Class.method``)."""
    for stmt in tree.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield stmt.name, stmt
        elif isinstance(stmt, ast.ClassDef):
            for inner in stmt.body:
                if isinstance(inner, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    yield f"{stmt.name}.{inner.name}", inner


def dotted(node: ast.AST) -> str | None:
    """``a.b.c`` for an ``ast`` Name/Attribute chain, else None (pass 1's dotted_name)."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def release_closure(function: Callable[..., object]) -> None:
    """Cut a recursive closure's reference to itself once it is done. The nested
    function holds its own cell: a cycle that keeps everything it closes over (a rule,
    its context, a whole tree) until the cyclic collector runs, which batch runs keep
    off (``engine/gcpolicy.py``); cut, reference counting frees it all at once."""
    for cell in function.__closure__ or ():
        if cell.cell_contents is function:
            cell.cell_contents = None


def resolve_import(name: str | None, facts: FileFacts) -> str | None:
    """A dotted name as written in a module, its head resolved through the module's
    imports (``Adapter`` -> ``app.db.Adapter``); unchanged when the head is no import."""
    return resolve_through(name, facts.imports)


def resolve_through(name: str | None, imports: Mapping[str, str]) -> str | None:
    """``name``'s first part replaced by what ``imports`` (local name -> dotted target)
    binds it to; ``name`` unchanged when its head is no import (the one rule, for pass-1
    facts and the semantic model alike)."""
    if name is None:
        return None
    head, _, rest = name.partition(".")
    target = imports.get(head)
    if target is None:
        return name
    return f"{target}.{rest}" if rest else target
