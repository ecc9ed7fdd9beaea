"""Syntax-only facts about libcst nodes: children, descendants, dotted names, the
parameters of a function, and the one "walk without entering nested scopes".

Nothing here depends on the file being checked, so nothing here is memoized: questions
that are asked many times of the same subtree live on the per-file ``SemanticModel``,
which owns their memo for the lifetime of the tree.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence

import libcst as cst

#: Nodes that open a new scope for the names bound inside them.
SCOPE_NODES = (cst.FunctionDef, cst.Lambda, cst.ClassDef)
SCOPE_TYPES = frozenset(SCOPE_NODES)

_FIELDS: dict[type, tuple[str, ...]] = {}
#: type -> whether it is a CSTNode class. ``isinstance(x, cst.CSTNode)`` goes through
#: ``ABCMeta.__instancecheck__`` (libcst's node classes are ABCs), which made it the
#: single largest cost of every subtree walk; a dict lookup by type is several times
#: cheaper. (A cache of facts about classes, not about any tree.)
NODE_TYPES: dict[type, bool] = {}


def is_node(value: object) -> bool:
    kind = type(value)
    known = NODE_TYPES.get(kind)
    if known is None:
        known = NODE_TYPES[kind] = issubclass(kind, cst.CSTNode)
    return known


def child_fields(node_type: type) -> tuple[str, ...]:
    """The dataclass fields of ``node_type`` that can hold code (not whitespace)."""
    fields = _FIELDS.get(node_type)
    if fields is None:
        # Whitespace and punctuation fields hold no code a rule cares about, but they
        # are nodes too; skipping them halves the walk.
        fields = tuple(
            f.name
            for f in dataclasses.fields(node_type)
            if not f.name.startswith(("whitespace", "lpar", "rpar", "comma", "semicolon"))
            and f.name not in ("header", "footer", "leading_lines", "lines_after_decorators")
        )
        _FIELDS[node_type] = fields
    return fields


def iter_children(node: cst.CSTNode) -> list[cst.CSTNode]:
    """The child nodes that carry code (not whitespace), in source order."""
    items: list[cst.CSTNode] = []
    known = NODE_TYPES
    for name in _FIELDS.get(type(node)) or child_fields(type(node)):
        value = getattr(node, name)
        kind = type(value)
        if kind is tuple or kind is list:
            for item in value:
                is_child = known.get(type(item))
                if is_child is None:
                    is_child = is_node(item)
                if is_child:
                    items.append(item)
        else:
            is_child = known.get(kind)
            if is_child is None:
                is_child = is_node(value)
            if is_child:
                items.append(value)
    return items


#: How a walk reads a node's children: ``iter_children``, or the memoized
#: ``SemanticModel.children`` (walks of the same subtree repeat, per rule and per call).
Children = Callable[[cst.CSTNode], "list[cst.CSTNode] | tuple[cst.CSTNode, ...]"]


def iter_descendants(
    node: cst.CSTNode, children: Children = iter_children
) -> Iterator[cst.CSTNode]:
    """``node`` and everything below it, depth first, in source order."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(children(current)))


def own_scope_with_parents(
    node: cst.CSTNode, children: Children = iter_children
) -> Iterator[tuple[cst.CSTNode, cst.CSTNode | None]]:
    """The one "walk without entering nested scopes": ``node`` and its descendants in
    source order, each with its parent (None for ``node``), not entering nested
    functions, lambdas or classes (whose own node is yielded: its name is bound here)."""
    stack: list[tuple[cst.CSTNode, cst.CSTNode | None]] = [(node, None)]
    while stack:
        current, parent = stack.pop()
        yield current, parent
        if current is not node and type(current) in SCOPE_TYPES:
            continue
        stack.extend((child, current) for child in reversed(children(current)))


def own_scope(node: cst.CSTNode, children: Children = iter_children) -> Iterator[cst.CSTNode]:
    """``own_scope_with_parents`` without the parents (and without their cost)."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        if current is not node and type(current) in SCOPE_TYPES:
            continue
        stack.extend(reversed(children(current)))


def dotted_name(node: cst.CSTNode | None) -> str | None:
    """``a.b.c`` for a Name/Attribute chain, else None."""
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        base = dotted_name(node.value)
        return f"{base}.{node.attr.value}" if base else None
    return None


def parameters(func: cst.FunctionDef | cst.Lambda, *, stars: bool = False) -> list[cst.Param]:
    """The named parameters of ``func`` in order: positional-only, normal, keyword-only;
    with ``stars``, also ``*args`` and ``**kwargs``."""
    params = func.params
    found = [*params.posonly_params, *params.params, *params.kwonly_params]
    if stars:
        found.extend(p for p in (params.star_arg, params.star_kwarg) if isinstance(p, cst.Param))
    return found


def annotation_of(param: cst.Param) -> cst.BaseExpression | None:
    return param.annotation.annotation if param.annotation is not None else None


def assigned_names(target: cst.BaseExpression) -> set[str]:
    """Names bound by an assignment target (tuples and starred targets unpacked)."""
    if isinstance(target, cst.Name):
        return {target.value}
    if isinstance(target, (cst.Tuple, cst.List)):
        found: set[str] = set()
        for element in target.elements:
            found |= assigned_names(element.value)
        return found
    if isinstance(target, cst.StarredElement):
        return assigned_names(target.value)
    return set()


def assignment(node: cst.CSTNode) -> tuple[cst.BaseExpression | None, list[cst.BaseExpression]]:
    """(value, targets) of ``x = v``, ``x: T = v``, ``async with v as x`` / ``with``;
    (None, []) for anything else."""
    if isinstance(node, cst.Assign):
        return node.value, [t.target for t in node.targets]
    if isinstance(node, cst.AnnAssign) and node.value is not None:
        return node.value, [node.target]
    if isinstance(node, cst.WithItem) and node.asname is not None:
        return node.item, [node.asname.name]  # type: ignore[list-item]
    return None, []


def derived_names(scope: cst.CSTNode, names: set[str] | frozenset[str]) -> set[str]:
    """Names bound in ``scope`` (nested scopes aside), transitively, to values that read
    ``names``: ``rows = (await s.execute(q)).all()`` and ``for row in rows`` derive ``rows``
    and ``row`` from ``s``. Order is ignored (an over-approximation)."""
    watched = set(names)
    derived: set[str] = set()
    changed = True
    while changed:
        changed = False
        for node in own_scope(scope):
            value, targets = assignment(node)
            if isinstance(node, (cst.For, cst.CompFor)):
                value, targets = node.iter, [node.target]
            if value is None or not reads(value, watched):
                continue
            new = set().union(*(assigned_names(t) for t in targets)) - watched
            if new:
                derived |= new
                watched |= new
                changed = True
    return derived


def name_nodes(node: cst.CSTNode) -> Iterator[tuple[cst.Name, list[cst.CSTNode]]]:
    """Every variable ``Name`` in the subtree (not attribute names, keyword argument
    names or parameter names), with its ancestors inside the subtree."""
    stack: list[tuple[cst.CSTNode, list[cst.CSTNode]]] = [(node, [])]
    while stack:
        current, path = stack.pop()
        if type(current) is cst.Name:
            yield current, path  # type: ignore[misc]
            continue
        skip = not_a_variable(current)
        inner = [*path, current]
        for child in reversed(iter_children(current)):
            if child is not skip:
                stack.append((child, inner))


def not_a_variable(node: cst.CSTNode) -> cst.CSTNode | None:
    """The child ``Name`` of ``node`` that names no variable: an attribute, a keyword
    argument, a parameter, a def's or class's own name. (Type identity, not
    ``isinstance``: libcst's classes are ABCs, and this runs for every node.)"""
    kind = type(node)
    if kind is cst.Attribute:
        return node.attr  # type: ignore[attr-defined]
    if kind is cst.Arg:
        return node.keyword  # type: ignore[attr-defined]
    if kind is cst.Param or kind is cst.FunctionDef or kind is cst.ClassDef:
        return node.name  # type: ignore[attr-defined]
    return None


def names_in(node: cst.CSTNode, children: Children = iter_children) -> frozenset[str]:
    """The variable names that occur in the subtree (see ``name_nodes``).
    ``SemanticModel.names_read`` memoizes it."""
    names: set[str] = set()
    stack = [node]
    while stack:
        current = stack.pop()
        if type(current) is cst.Name:
            names.add(current.value)  # type: ignore[attr-defined]
            continue
        skip = not_a_variable(current)
        stack.extend(child for child in children(current) if child is not skip)
    return frozenset(names)


def reads(node: cst.CSTNode, names: set[str] | frozenset[str]) -> bool:
    """Whether a variable named in ``names`` occurs in the subtree."""
    return bool(names) and not names_in(node).isdisjoint(names)


def in_nested_scope(path: list[cst.CSTNode]) -> bool:
    return any(isinstance(p, SCOPE_NODES) for p in path)


def child_blocks(stmt: cst.CSTNode) -> Iterator[cst.IndentedBlock]:
    """The indented blocks directly owned by a compound statement (if/else/elif, for,
    while, try/except/else/finally, with, match cases), not by nested functions."""
    if isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
        return
    for child in iter_children(stmt):
        if isinstance(child, cst.IndentedBlock):
            yield child
        elif isinstance(
            child,
            (cst.If, cst.Else, cst.ExceptHandler, cst.ExceptStarHandler, cst.Finally,
             cst.MatchCase),
        ):  # fmt: skip
            yield from child_blocks(child)


def line_of(small: cst.CSTNode, ancestors: Sequence[cst.CSTNode]) -> cst.SimpleStatementLine | None:
    """The line holding the small statement ``small`` (``ancestors`` are its own) when
    ``small`` is all of it and the line stands in a block or the module: a fix may
    replace the whole line, or add lines after it."""
    if len(ancestors) < 2:
        return None
    line, block = ancestors[-1], ancestors[-2]
    if (
        isinstance(line, cst.SimpleStatementLine)
        and len(line.body) == 1
        and isinstance(block, (cst.IndentedBlock, cst.Module))
    ):
        return line
    return None


def caught_types(handler: cst.ExceptHandler) -> list[cst.BaseExpression] | None:
    """The exception classes an ``except`` names (``except (A, B)`` -> [A, B]); None for
    a bare ``except:``."""
    if handler.type is None:
        return None
    if isinstance(handler.type, cst.Tuple):
        return [element.value for element in handler.type.elements]
    return [handler.type]


def enclosing_functions(ancestors: list[cst.CSTNode]) -> list[cst.FunctionDef] | None:
    """The functions around the current node, innermost first; None when the node sits
    in a lambda or a class body (directly), or at module level."""
    found: list[cst.FunctionDef] = []
    for node in reversed(ancestors):
        if isinstance(node, (cst.Lambda, cst.ClassDef)) and not found:
            return None
        if isinstance(node, cst.FunctionDef):
            found.append(node)
    return found or None


def owner_class(func: cst.FunctionDef, ancestors: list[cst.CSTNode]) -> cst.ClassDef | None:
    """The class ``func`` is directly a method of (``ancestors``: the walker's stack)."""
    position = next((i for i, node in enumerate(ancestors) if node is func), len(ancestors))
    for node in reversed(ancestors[:position]):
        if isinstance(node, cst.IndentedBlock):
            continue
        return node if isinstance(node, cst.ClassDef) else None
    return None


def self_name(func: cst.FunctionDef) -> str | None:
    """The instance parameter of a method (None for static and class methods)."""
    for decorator in func.decorators:
        if (dotted_name(decorator.decorator) or "") in ("staticmethod", "classmethod"):
            return None
    params = [*func.params.posonly_params, *func.params.params]
    return params[0].name.value if params else None


def nested_scopes(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    """Functions, lambdas, classes and generator expressions inside ``node``."""
    for item in iter_descendants(node):
        if item is not node and isinstance(item, (*SCOPE_NODES, cst.GeneratorExp)):
            yield item
