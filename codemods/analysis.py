"""Small, fast facts about libcst subtrees that several rules need: dotted names, the
module's import bindings, names read and bound by a statement, nested scopes.

These replace libcst's ScopeProvider for what the rules ask (see ``base``): they look
only at the subtree they are given.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import libcst as cst

from asyncmend.codemods.base import FileContext
from asyncmend.engine.walker import iter_children, iter_descendants, reset_children

SCOPE_NODES = (cst.FunctionDef, cst.Lambda, cst.ClassDef)

#: Per-tree memo of the subtree facts below, keyed by (fact, id(node)). Rules ask the
#: same question of the same function body many times (once per call they visit);
#: the engine clears it whenever a new tree is walked. Entries keep their node, so an
#: id reused by another tree never matches.
_MEMO: dict[tuple[str, int], tuple[cst.CSTNode, Any]] = {}


def _memo_get(kind: str, node: cst.CSTNode) -> Any:
    entry = _MEMO.get((kind, id(node)))
    return entry[1] if entry is not None and entry[0] is node else None


def _memo_put(kind: str, node: cst.CSTNode, value: Any) -> Any:
    _MEMO[(kind, id(node))] = (node, value)
    return value


def reset_memo() -> None:
    _MEMO.clear()
    reset_children()


def dotted_name(node: cst.CSTNode | None) -> str | None:
    """``a.b.c`` for a Name/Attribute chain, else None."""
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        base = dotted_name(node.value)
        return f"{base}.{node.attr.value}" if base else None
    return None


def import_map(context: FileContext) -> dict[str, str]:
    """Module-level import bindings of the file: local name -> dotted target.

    ``import asyncio as aio`` gives ``aio -> asyncio``; ``from asyncio import sleep``
    gives ``sleep -> asyncio.sleep``; relative imports resolve against the module name.
    Cached per file.
    """
    cached = context.cache.get("import_map")
    if cached is not None:
        return cached
    result: dict[str, str] = {}
    for stmt in _module_level_small_statements(context.module.body):
        if isinstance(stmt, cst.Import):
            for alias in stmt.names:
                full = dotted_name(alias.name) or ""
                if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                    result[alias.asname.name.value] = full
                else:
                    head = full.split(".")[0]
                    result[head] = head
        elif isinstance(stmt, cst.ImportFrom) and not isinstance(stmt.names, cst.ImportStar):
            base = _resolve_from(context, stmt)
            for alias in stmt.names:
                name = dotted_name(alias.name) or ""
                local = name
                if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                    local = alias.asname.name.value
                result[local] = f"{base}.{name}" if base else name
    context.cache["import_map"] = result
    return result


def _resolve_from(context: FileContext, stmt: cst.ImportFrom) -> str:
    module = dotted_name(stmt.module) if stmt.module is not None else ""
    level = len(stmt.relative)
    if level == 0:
        return module or ""
    parts = (context.module_name or "").split(".")
    if not context.path.endswith("__init__.py"):
        parts = parts[:-1]
    if level > 1:
        parts = parts[: len(parts) - (level - 1)]
    return ".".join(p for p in [*parts, module or ""] if p)


def _module_level_small_statements(body: object) -> Iterator[cst.BaseSmallStatement]:
    for stmt in body:  # type: ignore[attr-defined]
        if isinstance(stmt, cst.SimpleStatementLine):
            yield from stmt.body
        elif isinstance(stmt, cst.If):
            yield from _module_level_small_statements(stmt.body.body)
            if isinstance(stmt.orelse, cst.Else):
                yield from _module_level_small_statements(stmt.orelse.body.body)
            elif isinstance(stmt.orelse, cst.If):
                yield from _module_level_small_statements([stmt.orelse])
        elif isinstance(stmt, cst.Try):
            yield from _module_level_small_statements(stmt.body.body)
            for handler in stmt.handlers:
                yield from _module_level_small_statements(handler.body.body)


def qualified_name(node: cst.CSTNode | None, context: FileContext) -> str | None:
    """The dotted name of an expression with its first part resolved through the
    module's imports: ``aio.sleep`` -> ``asyncio.sleep`` after ``import asyncio as aio``."""
    name = dotted_name(node)
    if name is None:
        return None
    head, _, rest = name.partition(".")
    target = import_map(context).get(head)
    if target is None:
        return name
    return f"{target}.{rest}" if rest else target


def name_nodes(node: cst.CSTNode) -> Iterator[tuple[cst.Name, list[cst.CSTNode]]]:
    """Every variable ``Name`` in the subtree (not attribute names, keyword argument
    names or parameter names), with its ancestors inside the subtree."""
    stack: list[tuple[cst.CSTNode, list[cst.CSTNode]]] = [(node, [])]
    while stack:
        current, path = stack.pop()
        if type(current) is cst.Name:
            yield current, path  # type: ignore[misc]
            continue
        skip = _not_a_variable(current)
        inner = [*path, current]
        for child in reversed(list(iter_children(current))):
            if child is not skip:
                stack.append((child, inner))


def _not_a_variable(node: cst.CSTNode) -> cst.CSTNode | None:
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


def reads(node: cst.CSTNode, names: set[str] | frozenset[str]) -> bool:
    """Whether a variable named in ``names`` occurs in the subtree."""
    if not names:
        return False
    return not variable_names(node).isdisjoint(names)


def variable_names(node: cst.CSTNode) -> frozenset[str]:
    """The variable names that occur in the subtree (see ``name_nodes``). Memoized."""
    found = _memo_get("variable_names", node)
    if found is None:
        names: set[str] = set()
        stack = [node]
        while stack:
            current = stack.pop()
            if type(current) is cst.Name:
                names.add(current.value)  # type: ignore[attr-defined]
                continue
            skip = _not_a_variable(current)
            stack.extend(child for child in iter_children(current) if child is not skip)
        found = _memo_put("variable_names", node, frozenset(names))
    return found


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


def bound_names(stmt: cst.CSTNode) -> frozenset[str]:
    """Names a statement binds in its own scope (not inside nested functions). Memoized."""
    cached = _memo_get("bound_names", stmt)
    if cached is None:
        cached = _memo_put("bound_names", stmt, frozenset(_bound_names(stmt)))
    return cached


_BINDERS = frozenset(
    {cst.Assign, cst.AnnAssign, cst.AugAssign, cst.For, cst.WithItem, cst.NamedExpr,
     cst.FunctionDef, cst.ClassDef, cst.ExceptHandler}
)  # fmt: skip


def _bound_names(stmt: cst.CSTNode) -> set[str]:
    if isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
        return {stmt.name.value}  # its body binds in its own scope
    found: set[str] = set()
    for item in _same_scope_descendants(stmt):
        if type(item) not in _BINDERS:
            continue  # most nodes: one set lookup instead of nine ABC isinstance checks
        if isinstance(item, cst.Assign):
            for target in item.targets:
                found |= assigned_names(target.target)
        elif isinstance(item, (cst.AnnAssign, cst.AugAssign)):
            found |= assigned_names(item.target)
        elif isinstance(item, (cst.For, cst.CompFor)):
            if isinstance(item, cst.For):
                found |= assigned_names(item.target)
        elif isinstance(item, cst.WithItem) and item.asname is not None:
            found |= assigned_names(item.asname.name)  # type: ignore[arg-type]
        elif isinstance(item, cst.NamedExpr):
            found |= assigned_names(item.target)
        elif isinstance(item, (cst.FunctionDef, cst.ClassDef)):
            found.add(item.name.value)
        elif isinstance(item, cst.ExceptHandler) and item.name is not None:
            found |= assigned_names(item.name.name)  # type: ignore[arg-type]
    return found


_SCOPE_TYPES = frozenset(SCOPE_NODES)


def _same_scope_descendants(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        if current is not node and type(current) in _SCOPE_TYPES:
            continue
        stack.extend(reversed(list(iter_children(current))))


def nested_scopes(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    """Functions, lambdas, classes and generator expressions inside ``node``."""
    for item in iter_descendants(node):
        if item is not node and isinstance(item, (*SCOPE_NODES, cst.GeneratorExp)):
            yield item


def statement_blocks(body: cst.BaseSuite) -> list[cst.BaseStatement]:
    """The statements of a suite (an indented block, or a one-line ``if x: y``)."""
    if isinstance(body, cst.IndentedBlock):
        return list(body.body)
    return []


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
            (
                cst.If,
                cst.Else,
                cst.ExceptHandler,
                cst.ExceptStarHandler,
                cst.Finally,
                cst.MatchCase,
            ),
        ):
            yield from child_blocks(child)


def module_bound_names(context: FileContext) -> frozenset[str]:
    """Names the module binds at top level other than by imports (defs, classes,
    assignments, loop and with targets). Cached per file."""
    cached = context.cache.get("module_bound_names")
    if cached is None:
        found: set[str] = set()
        for stmt in context.module.body:
            found |= bound_names(stmt)
        cached = frozenset(found)
        context.cache["module_bound_names"] = cached
    return cached


def function_bound_names(func: cst.FunctionDef | cst.Lambda) -> frozenset[str]:
    """Parameters of ``func`` and the names its body binds in its own scope."""
    params = func.params
    found = {p.name.value for p in [*params.posonly_params, *params.params, *params.kwonly_params]}
    for star in (params.star_arg, params.star_kwarg):
        if isinstance(star, cst.Param):
            found.add(star.name.value)
    if isinstance(func, cst.FunctionDef):
        for stmt in iter_children(func.body):
            found |= bound_names(stmt)
        found |= set(function_imports(func))
    return frozenset(found)


def function_imports(func: cst.FunctionDef) -> dict[str, str]:
    """Imports inside ``func``'s own scope: local name -> dotted target (absolute
    imports only; ``import a.b`` binds ``a``). Memoized: do not mutate the result."""
    cached = _memo_get("function_imports", func)
    if cached is None:
        cached = _memo_put("function_imports", func, _function_imports(func))
    return cached


def _function_imports(func: cst.FunctionDef) -> dict[str, str]:
    found: dict[str, str] = {}
    for node in _same_scope_descendants(func.body):
        if isinstance(node, cst.Import):
            for alias in node.names:
                full = dotted_name(alias.name) or ""
                if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                    found[alias.asname.name.value] = full
                else:
                    found[full.split(".")[0]] = full.split(".")[0]
        elif isinstance(node, cst.ImportFrom) and not isinstance(node.names, cst.ImportStar):
            base = dotted_name(node.module) if node.module is not None else None
            for alias in node.names:
                name = dotted_name(alias.name) or ""
                local = name
                if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                    local = alias.asname.name.value
                # A relative import's target is unknown here: record it as itself.
                found[local] = f"{base}.{name}" if base and not node.relative else local
    return found


def shadowed(name: str, ancestors: list[cst.CSTNode], context: FileContext) -> bool:
    """Whether ``name`` at the current node (``ancestors``: the walker's stack) may mean
    something other than its module-level import or builtin: a parameter or local of an
    enclosing function, or a top-level binding besides imports."""
    for node in ancestors:
        if isinstance(node, (cst.FunctionDef, cst.Lambda)):
            key = ("function_bound_names", id(node))
            bound = context.cache.get(key)
            if bound is None:
                bound = context.cache[key] = function_bound_names(node)
            if name in bound:
                return True
    return name in module_bound_names(context)


_BLOCK_PARTS = (
    cst.BaseSuite,
    cst.BaseCompoundStatement,
    cst.Else,
    cst.ExceptHandler,
    cst.ExceptStarHandler,
    cst.Finally,
    cst.MatchCase,
)


def scope_statements(body: cst.CSTNode) -> list[cst.CSTNode]:
    """The small statements (``Assign``, ``Expr``, ...) and ``WithItem``s of ``body``'s
    own scope, at any block depth, without entering expressions or nested functions and
    classes: about a tenth of the nodes ``iter_descendants`` visits. Memoized."""
    cached = _memo_get("scope_statements", body)
    if cached is not None:
        return cached
    found: list[cst.CSTNode] = []
    stack: list[cst.CSTNode] = [body]
    while stack:
        node = stack.pop()
        if isinstance(node, (cst.SimpleStatementLine, cst.SimpleStatementSuite)):
            found.extend(node.body)
        elif isinstance(node, (cst.FunctionDef, cst.ClassDef)) and node is not body:
            continue
        elif isinstance(node, _BLOCK_PARTS) or node is body:
            if isinstance(node, cst.With):
                found.extend(node.items)
            children = [
                c
                for c in iter_children(node)
                if isinstance(c, (*_BLOCK_PARTS, cst.SimpleStatementLine, cst.SimpleStatementSuite))
            ]
            stack.extend(reversed(children))
    return _memo_put("scope_statements", body, found)
