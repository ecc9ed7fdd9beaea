"""``semantic.session_flow`` read on a function's ``ast`` body, for candidate tests
(``Frame.node``): which names may carry a session the function holds.

Each helper over-approximates its libcst counterpart (``tree.own_scope``,
``session_flow.carries`` / ``session_holders``, ``tree.assigned_names``): whatever
they find, these find too.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator

from asyncmend.codemods.facts.base import dotted

_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)


def own_scope(body: list[ast.stmt]) -> Iterator[ast.AST]:
    """``tree.own_scope``: nested functions, lambdas and classes are yielded, not
    entered."""
    stack: list[ast.AST] = list(reversed(body))
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, _SCOPES):
            stack.extend(reversed(list(ast.iter_child_nodes(node))))


def carries(expr: ast.AST, holders: set[str]) -> bool:
    """``session_flow.carries``: a holder occurs in ``expr`` outside an ``await``, not
    as the root of a called attribute (``session.get_bind()``) or of a longer attribute
    chain (``session.info.x``)."""
    stack = [expr]
    while stack:
        node = stack.pop()
        kind = type(node)
        if kind is ast.Name:
            if node.id in holders:  # type: ignore[attr-defined]
                return True
            continue
        if kind is ast.Await:
            continue
        if kind is ast.Call:
            func = node.func  # type: ignore[attr-defined]
            stack.extend(node.args)  # type: ignore[attr-defined]
            stack.extend(k.value for k in node.keywords)  # type: ignore[attr-defined]
            if type(func) is ast.Attribute:
                root, _ = _chain_root(func)
                if type(root) is not ast.Name:  # `f(session).g()`: the root's own reads
                    stack.append(root)
                continue  # `session.get_bind()`: a value of its own
            stack.append(func)
            continue
        if kind is ast.Attribute:
            root, depth = _chain_root(node)  # type: ignore[arg-type]
            if type(root) is ast.Name:
                if depth == 1 and root.id in holders:  # `repo.save`: a bound method
                    return True
            else:
                stack.append(root)
            continue
        stack.extend(ast.iter_child_nodes(node))
    return False


def holders(nodes: Iterable[ast.AST], names: set[str]) -> set[str]:
    """``session_flow.session_holders`` over the own-scope ``nodes`` of a function:
    ``names`` plus the names bound (``x = v``, ``x: T = v``, ``with v as x``) to a value
    that carries one of them, or that streams from one (``await s.stream(q)``),
    transitively."""
    assignments: list[tuple[ast.expr, list[ast.expr]]] = []
    for node in nodes:
        kind = type(node)
        if kind is ast.Assign:
            assignments.append((node.value, node.targets))  # type: ignore[attr-defined]
        elif kind is ast.AnnAssign and node.value is not None:  # type: ignore[attr-defined]
            assignments.append((node.value, [node.target]))  # type: ignore[attr-defined]
        elif kind is ast.withitem and node.optional_vars is not None:  # type: ignore[attr-defined]
            assignments.append((node.context_expr, [node.optional_vars]))  # type: ignore[attr-defined]
    found = set(names)
    changed = True
    while changed:
        changed = False
        for value, targets in assignments:
            if carries(value, found) or _streams_from(value, found):
                new = {n for target in targets for n in assigned_names(target)} - found
                if new:
                    found |= new
                    changed = True
    return found


def assigned_names(target: ast.expr) -> set[str]:
    """``tree.assigned_names``: the names a target binds (tuples, starred)."""
    if type(target) is ast.Name:
        return {target.id}  # type: ignore[attr-defined]
    if type(target) in (ast.Tuple, ast.List):
        return {n for element in target.elts for n in assigned_names(element)}  # type: ignore[attr-defined]
    if type(target) is ast.Starred:
        return assigned_names(target.value)  # type: ignore[attr-defined]
    return set()


def base_name(target: ast.expr) -> str | None:
    """The name under an attribute or subscript target (``app.state.x``: ``app``)."""
    while isinstance(target, (ast.Attribute, ast.Subscript)):
        target = target.value
    return target.id if type(target) is ast.Name else None  # type: ignore[attr-defined]


def _chain_root(node: ast.Attribute) -> tuple[ast.expr, int]:
    """The value at the bottom of an attribute chain and the chain's length."""
    depth = 0
    current: ast.expr = node
    while type(current) is ast.Attribute:
        current = current.value  # type: ignore[attr-defined]
        depth += 1
    return current, depth


def _streams_from(value: ast.expr, names: set[str]) -> bool:
    """``session_flow._streams_from``: ``await s.stream(q)`` and the like."""
    if type(value) is ast.Await and type(call := value.value) is ast.Call:  # type: ignore[attr-defined]
        func = call.func  # type: ignore[attr-defined]
        return (
            type(func) is ast.Attribute
            and func.attr in ("stream", "stream_scalars", "connection")
            and dotted(func.value) in names
        )
    return False


def callee(call: ast.Call) -> str | None:
    """The dotted callee of a call (``GateFacts``' convention): None for a call of a
    call (``get_maker()()``), "" for any other callee that is no dotted name."""
    if type(call.func) is ast.Call:
        return None
    return dotted(call.func) or ""
