"""Pass-1 facts about locks: which asyncio locks a module defines, and every place where
one lock is acquired while another is held (the edges of the repo's lock graph).

Two kinds of lock take part:

- ``lock``: an ``asyncio.Lock``/``Semaphore``/``BoundedSemaphore``/``Condition`` (or
  anyio's) acquired with ``async with``. It is named by what it was bound to:
  ``module.name`` for a module global, ``module.Class.attr`` for a class attribute or a
  ``self.attr = asyncio.Lock()`` in a method. Locks bound to a local or a parameter have
  no stable name and are left out.
- ``row``: a row lock, ``await s.get(M, key, with_for_update=...)`` or
  ``await s.execute(select(M)....with_for_update())`` (also ``scalar``/``scalars``),
  named by its model's dotted name. A row lock is held until the transaction ends, so it
  stays held for the rest of the block it was taken in.

A lock is written ``[kind, name, expression]`` (the expression as the code spells it,
so pass 2 can tell that a node still takes that lock after a fix). Each site records
the function, the line, and a *slot* (``["with", n]``: the n-th
``async with`` item of the function, ``["row", n]``: its n-th row-lock await, in source
order) so that pass 2 finds the same node in its libcst tree without positions.
Candidate lock names are checked against every module's bindings when the graph is
built (``asyncmend.engine.lock_graph``), since an imported lock is defined elsewhere.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from typing import Any

from asyncmend.codemods.facts.base import (
    FileFacts,
    block_children,
    collector,
    iter_child_nodes,
)
from asyncmend.codemods.facts.base import dotted as _dotted
from asyncmend.codemods.facts.source_lines import lines_hold

#: What a lock is bound to (after import resolution).
LOCK_FACTORIES = frozenset(
    f"{module}.{name}"
    for module in ("asyncio", "asyncio.locks", "anyio")
    for name in ("Lock", "Semaphore", "BoundedSemaphore", "Condition")
)
#: ``Session.get``-like methods that take ``with_for_update=``.
ROW_GET_METHODS = frozenset({"get", "get_one"})
#: Session methods that execute a statement.
ROW_EXECUTE_METHODS = frozenset({"execute", "scalar", "scalars"})
#: Options of a row lock that make it fail or skip instead of wait: no deadlock then.
NON_BLOCKING_OPTIONS = frozenset({"nowait", "skip_locked"})


def _qualify(dotted: str, facts: FileFacts) -> str:
    head, _, rest = dotted.partition(".")
    target = facts.imports.get(head)
    if target is not None:
        return f"{target}.{rest}" if rest else target
    return f"{facts.module or ''}.{dotted}".lstrip(".")


def _is_lock_call(node: ast.AST | None, facts: FileFacts) -> bool:
    if isinstance(node, ast.Call):
        name = _dotted(node.func)
        return name is not None and _qualify(name, facts) in LOCK_FACTORIES
    return False


def _blocking_option(keyword: ast.keyword) -> bool:
    """Whether a ``with_for_update=`` value asks for a lock that waits."""
    value = keyword.value
    if isinstance(value, ast.Constant):
        return bool(value.value)
    if isinstance(value, ast.Dict):
        return not any(
            isinstance(k, ast.Constant)
            and k.value in NON_BLOCKING_OPTIONS
            and not (isinstance(v, ast.Constant) and not v.value)
            for k, v in zip(value.keys, value.values, strict=True)
        )
    return True


def row_lock_model(node: ast.Await) -> str | None:
    """The model expression (dotted) an awaited row-lock call locks, else None."""
    call = node.value
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)):
        return None
    method = call.func.attr
    if method in ROW_GET_METHODS:
        for keyword in call.keywords:
            if keyword.arg == "with_for_update" and _blocking_option(keyword):
                return _dotted(call.args[0]) if call.args else None
        return None
    if method in ROW_EXECUTE_METHODS and call.args:
        return _locked_select_model(call.args[0])
    return None


def _ends_transaction(node: ast.Await) -> bool:
    call = node.value
    return (
        isinstance(call, ast.Call)
        and isinstance(call.func, ast.Attribute)
        and call.func.attr in ("commit", "rollback")
    )


def _locked_select_model(stmt: ast.AST) -> str | None:
    """``select(M)....with_for_update(...)....`` -> ``M`` (blocking locks only)."""
    locked = False
    current = stmt
    while isinstance(current, ast.Call) and isinstance(current.func, ast.Attribute):
        if current.func.attr == "with_for_update":
            if any(
                k.arg in NON_BLOCKING_OPTIONS
                and not (isinstance(k.value, ast.Constant) and not k.value.value)
                for k in current.keywords
            ):
                return None
            locked = True
        current = current.func.value
    if not locked or not isinstance(current, ast.Call):
        return None
    name = _dotted(current.func) or ""
    if name.rsplit(".", 1)[-1] != "select" or len(current.args) != 1:
        return None
    return _dotted(current.args[0])


# -- bindings ----------------------------------------------------------------------------


def _bindings(tree: ast.Module, facts: FileFacts) -> list[str]:
    module = facts.module or ""
    found: list[str] = []

    def assigned(stmt: ast.stmt) -> list[ast.expr]:
        if isinstance(stmt, ast.Assign):
            return stmt.targets if _is_lock_call(stmt.value, facts) else []
        if isinstance(stmt, ast.AnnAssign):
            if _is_lock_call(stmt.value, facts) or _lock_field(stmt.value, facts):
                return [stmt.target]
        return []

    for stmt in tree.body:
        for target in assigned(stmt):
            if isinstance(target, ast.Name):
                found.append(f"{module}.{target.id}".lstrip("."))
        if isinstance(stmt, ast.ClassDef):
            prefix = f"{module}.{stmt.name}".lstrip(".")
            for item in stmt.body:
                for target in assigned(item):
                    if isinstance(target, ast.Name):
                        found.append(f"{prefix}.{target.id}")
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.args.args:
                    me = item.args.args[0].arg
                    for node in _statements(item.body):
                        for target in assigned(node):
                            if (
                                isinstance(target, ast.Attribute)
                                and isinstance(target.value, ast.Name)
                                and target.value.id == me
                            ):
                                found.append(f"{prefix}.{target.attr}")
    return sorted(set(found))


def _statements(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """The statements of a body and of the blocks nested in it, not entering functions
    or classes (statements only: much cheaper than ``ast.walk``)."""
    stack = list(reversed(body))
    while stack:
        stmt = stack.pop()
        yield stmt
        if isinstance(stmt, _SCOPES):
            continue
        for name in ("body", "orelse", "finalbody", "handlers", "cases"):
            block = getattr(stmt, name, None)
            if block:
                for inner in reversed(block):
                    stack.extend(
                        reversed(inner.body) if not isinstance(inner, ast.stmt) else [inner]
                    )


def _lock_field(value: ast.AST | None, facts: FileFacts) -> bool:
    """``field(default_factory=asyncio.Lock)`` in a dataclass."""
    if not isinstance(value, ast.Call) or (_dotted(value.func) or "").rsplit(".")[-1] != "field":
        return False
    for keyword in value.keywords:
        if keyword.arg == "default_factory":
            name = _dotted(keyword.value)
            return name is not None and _qualify(name, facts) in LOCK_FACTORIES
    return False


# -- acquisitions ------------------------------------------------------------------------

_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)


class _FunctionWalk:
    """Walks one function's body in source order, tracking what is held."""

    def __init__(self, func: ast.AsyncFunctionDef, qualname: str, owner: str | None,
                 facts: FileFacts) -> None:  # fmt: skip
        self.qualname = qualname
        self.rows = row_lock_file.of(facts)
        self.facts = facts
        self.owner = owner  # ``module.Class`` for a method
        self.me = func.args.args[0].arg if owner and func.args.args else None
        self.func = func
        self._local: set[str] | None = None  # computed on the first lock-like name
        self.sites: list[dict[str, Any]] = []
        self.with_slots = 0
        self.row_slots = 0
        # Held asyncio locks (a stack) and row locks with the block path they were taken in.
        self.held_locks: list[tuple[int, list[str] | None]] = []
        self.held_rows: list[tuple[list[str], tuple[int, ...]]] = []
        for stmt in func.body:
            self.visit(stmt, (id(func),))

    def lock_name(self, expr: ast.expr) -> str | None:
        name = _dotted(expr)
        if name is None:
            return None
        head, _, rest = name.partition(".")
        if self.me is not None and head == self.me and rest and "." not in rest:
            return f"{self.owner}.{rest}"
        if self._local is None:
            self._local = _local_names(self.func)
        if head in self._local:
            return None
        return _qualify(name, self.facts)

    def acquire(self, node: list[str], line: int, slot: list[Any], path: tuple[int, ...],
                enclosing: list[str] | None = None) -> None:  # fmt: skip
        """Record an edge from everything held to ``node``. ``enclosing`` is the lock of
        the ``async with`` item right before this one (same statement or the directly
        enclosing one): its edge is marked ``direct``, the only shape AM502 can fix."""
        held = [lock for _, lock in self.held_locks if lock is not None]
        held += [row for row, where in self.held_rows if where == path[: len(where)]]
        for before in dict.fromkeys(map(tuple, held)):
            if list(before) != node:
                self.sites.append(
                    {"from": list(before), "to": node, "line": line, "func": self.qualname,
                     "slot": slot, "direct": list(before) == enclosing}
                )  # fmt: skip

    def visit(self, node: ast.AST, path: tuple[int, ...]) -> None:
        if isinstance(node, _SCOPES) or (not self.rows and isinstance(node, ast.expr)):
            return  # without row locks in the file, expressions hold nothing to see
        if isinstance(node, ast.AsyncWith):
            pushed = 0
            for item in node.items:
                self.visit(item.context_expr, path)
                slot = ["with", self.with_slots]
                self.with_slots += 1
                name = self.lock_name(item.context_expr)
                lock = ["lock", name, _dotted(item.context_expr) or ""] if name else None
                if lock is not None:
                    top = self.held_locks[-1] if self.held_locks else None
                    enclosing = top[1] if top is not None and top[0] == slot[1] - 1 else None
                    self.acquire(lock, item.context_expr.lineno, slot, path, enclosing)
                self.held_locks.append((slot[1], lock))
                pushed += 1
            inner = (*path, id(node))
            for stmt in node.body:
                self.visit(stmt, inner)
            del self.held_locks[len(self.held_locks) - pushed :]
            return
        if isinstance(node, ast.Await) and _ends_transaction(node):
            self.held_rows.clear()  # commit / rollback: the row locks end here
        elif isinstance(node, ast.Await) and (model := row_lock_model(node)) is not None:
            slot = ["row", self.row_slots]
            self.row_slots += 1
            row = ["row", _qualify(model, self.facts), model]
            self.acquire(row, node.lineno, slot, path)
            self.held_rows.append((row, path))
        if not self.rows:  # then only statements matter, and no block path
            for child in block_children(node):
                self.visit(child, path)
            return
        for _, value in ast.iter_fields(node):
            if isinstance(value, ast.AST):
                self.visit(value, path)
            elif isinstance(value, list):
                # A statement list is a block: row locks taken in it stay held in it.
                inner = (*path, id(value)) if value and isinstance(value[0], ast.stmt) else path
                for item in value:
                    if isinstance(item, ast.AST):
                        self.visit(item, inner)


def _local_names(func: ast.AsyncFunctionDef) -> set[str]:
    """Parameters and names the function assigns (not globals it declares)."""
    args = func.args
    names = {a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]}
    names |= {a.arg for a in (args.vararg, args.kwarg) if a is not None}
    declared: set[str] = set()
    stack: list[ast.AST] = list(func.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Global, ast.Nonlocal)):
            declared.update(node.names)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        if not isinstance(node, _SCOPES):
            stack.extend(iter_child_nodes(node))
        elif not isinstance(node, ast.Lambda):
            names.add(node.name)
    return names - declared


def _functions(tree: ast.Module, facts: FileFacts):  # type: ignore[no-untyped-def]
    """Every ``async def`` with its qualified name and owning class (``module.Class``)."""
    module = facts.module or ""
    stack: list[tuple[ast.AST, str, str | None]] = [(tree, "", None)]
    while stack:
        node, prefix, owner = stack.pop()
        blocks, clauses = _nested_blocks(type(node))
        body = [stmt for name in blocks for stmt in getattr(node, name)]
        for name in clauses:
            for clause in getattr(node, name):
                body += clause.body
        for child in body:
            if isinstance(child, ast.ClassDef):
                stack.append(
                    (child, f"{prefix}{child.name}.", f"{module}.{child.name}".lstrip("."))
                )
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if isinstance(child, ast.AsyncFunctionDef):
                    yield child, prefix + child.name, owner
                # A body without `async` in its lines holds no `async def`.
                if lines_hold(facts, b"async", child.body[0].lineno, child.end_lineno):
                    stack.append((child, f"{prefix}{child.name}.", None))
            elif _nested_blocks(type(child)) != ((), ()):  # a leaf statement holds no def
                stack.append((child, prefix, owner))


@cache
def _nested_blocks(kind: type) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """A statement type's blocks (``body``, ``orelse``, ``finalbody``) and clauses
    (``handlers``, ``cases``), in the order ``_functions`` reads them."""
    fields = kind._fields
    return (
        tuple(name for name in ("body", "orelse", "finalbody") if name in fields),
        tuple(name for name in ("handlers", "cases") if name in fields),
    )


#: Whether the file mentions ``with_for_update`` at all (pass 1 then reads expressions
#: too); registered before ``locks``, which reads it.
ROW_LOCK_FILE = "row_lock_file"


@collector(ROW_LOCK_FILE, triggers=(b"with_for_update",), empty=False)
def row_lock_file(tree: ast.Module, facts: FileFacts) -> bool:
    return True


#: A file without these holds neither a lock binding nor an acquisition.
@collector(
    "locks",
    triggers=(b"async with", b"with_for_update", b"Lock", b"Semaphore", b"Condition"),
    empty={},
)
def lock_facts(tree: ast.Module, facts: FileFacts) -> dict[str, Any]:
    sites: list[dict[str, Any]] = []
    for func, qualname, owner in _functions(tree, facts):
        # A site takes a lock by `async with` or by a `with_for_update` written in the call:
        # none without `with` in the function's lines.
        if lines_hold(facts, b"with", func.lineno, func.end_lineno):
            sites.extend(_FunctionWalk(func, qualname, owner, facts).sites)
    # A binding calls a lock class, spelled somewhere in the file (in its call, its import
    # or, in a module named like asyncio, its name): without one, there is none to find.
    # (Outside ASCII an identifier may be spelled otherwise and NFKC-normalize to it.)
    source = facts.source
    spelled = not source.isascii() or any(name in source for name in _LOCK_CLASS_NAMES)
    return {"bindings": _bindings(tree, facts) if spelled else [], "sites": sites}


#: What every name in ``LOCK_FACTORIES`` ends with (``BoundedSemaphore`` holds ``Semaphore``).
_LOCK_CLASS_NAMES = (b"Lock", b"Semaphore", b"Condition")
