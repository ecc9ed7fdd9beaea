"""Helpers of the concurrency family (AM201-AM203): what a receiver name was bound to,
which names a module already uses, and how to spell ``asyncio`` in a given file.

All of them read the tree by hand (no ScopeProvider) and cache per file in
``context.cache``.
"""

from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from asyncmend.codemods.analysis import dotted_name, import_map, qualified_name
from asyncmend.codemods.base import FileContext
from asyncmend.engine.walker import iter_children, iter_descendants

_SCOPES = (cst.FunctionDef, cst.Lambda, cst.ClassDef)


def module_name_values(context: FileContext) -> frozenset[str]:
    """Every identifier written anywhere in the module (variables, parameters, imports,
    attributes): a name outside this set collides with nothing."""
    cached = context.cache.get("concurrency:names")
    if cached is None:
        cached = frozenset(
            node.value for node in iter_descendants(context.module) if isinstance(node, cst.Name)
        )
        context.cache["concurrency:names"] = cached
    return cached


def function_name_values(func: cst.CSTNode) -> frozenset[str]:
    """Every identifier written inside ``func`` (its nested scopes included)."""
    return frozenset(node.value for node in iter_descendants(func) if isinstance(node, cst.Name))


def fresh_name(base: str, taken: frozenset[str] | set[str]) -> str:
    """``base``, else ``base_1``, ``base_2``... whichever is not in ``taken``."""
    if base not in taken:
        return base
    number = 1
    while f"{base}_{number}" in taken:
        number += 1
    return f"{base}_{number}"


def _binding_value(
    node: cst.CSTNode, name: str
) -> tuple[bool, cst.BaseExpression | None, cst.BaseExpression | None]:
    """Whether ``node`` binds the dotted ``name``; if so its value and annotation."""
    if isinstance(node, cst.Assign):
        for target in node.targets:
            if dotted_name(target.target) == name:
                return True, node.value, None
            if isinstance(target.target, (cst.Tuple, cst.List)) and any(
                dotted_name(getattr(e, "value", None)) == name for e in target.target.elements
            ):
                return True, None, None
    elif isinstance(node, cst.AnnAssign) and dotted_name(node.target) == name:
        return True, node.value, node.annotation.annotation
    elif isinstance(node, cst.AugAssign) and dotted_name(node.target) == name:
        return True, None, None
    elif isinstance(node, cst.WithItem) and node.asname is not None:
        if dotted_name(node.asname.name) == name:  # type: ignore[arg-type]
            return True, node.item, None
    elif isinstance(node, (cst.For, cst.CompFor)) and dotted_name(node.target) == name:
        return True, None, None
    elif isinstance(node, cst.NamedExpr) and dotted_name(node.target) == name:
        return True, node.value, None
    elif isinstance(node, (cst.Import, cst.ImportFrom)) and not isinstance(
        node.names, cst.ImportStar
    ):
        for alias in node.names:
            local = alias.asname.name if alias.asname is not None else alias.name
            if dotted_name(local) == name:
                return True, None, None
    elif isinstance(node, (cst.Global, cst.Nonlocal)):
        if any(item.name.value == name for item in node.names):
            return True, None, None
    return False, None, None


def _kind_of(
    value: cst.BaseExpression | None,
    annotation: cst.BaseExpression | None,
    context: FileContext,
) -> str | None:
    """What a binding holds, as a qualified class or function name: the annotation, or
    the callee of the call it was assigned (``httpx.AsyncClient``); None if unknown."""
    if annotation is not None:
        return qualified_name(annotation, context)
    if isinstance(value, cst.Await):
        return None  # the result of awaiting something: not the callee's type
    if isinstance(value, cst.Call):
        return qualified_name(value.func, context)
    return None


def _kinds_in(scope: cst.CSTNode, name: str, context: FileContext) -> list[str | None]:
    """Kinds of every binding of ``name`` in ``scope`` (not in its nested scopes)."""
    kinds: list[str | None] = []
    stack: list[cst.CSTNode] = [scope]
    while stack:
        node = stack.pop()
        binds, value, annotation = _binding_value(node, name)
        if binds:
            kinds.append(_kind_of(value, annotation, context))
        if node is not scope and isinstance(node, _SCOPES):
            if isinstance(node, (cst.FunctionDef, cst.ClassDef)) and node.name.value == name:
                kinds.append(None)
            continue
        if isinstance(node, cst.FunctionDef):
            params = node.params
            for param in [
                *params.posonly_params,
                *params.params,
                *params.kwonly_params,
                *([params.star_arg] if isinstance(params.star_arg, cst.Param) else []),
                *([params.star_kwarg] if params.star_kwarg is not None else []),
            ]:
                if param.name.value == name:
                    annotation = param.annotation.annotation if param.annotation else None
                    kinds.append(_kind_of(None, annotation, context))
            stack.append(node.body)
            continue
        stack.extend(iter_children(node))
    return kinds


def receiver_kind(
    receiver: str, ancestors: Sequence[cst.CSTNode], context: FileContext
) -> str | None:
    """What the dotted ``receiver`` (``client``, ``self._http``, ``loop``) was bound to
    where it is used: the qualified callee or annotation of its bindings, when they all
    agree. Looked up in the innermost function that binds it, then the module;
    ``self.x`` in the methods of the enclosing class."""
    if receiver.startswith("self."):
        cls = next((n for n in reversed(ancestors) if isinstance(n, cst.ClassDef)), None)
        if cls is None:
            return None
        return _single(_kinds_in_class(cls, receiver, context))
    if "." in receiver:
        return None
    for node in reversed(ancestors):
        if isinstance(node, cst.Lambda):
            if any(p.name.value == receiver for p in node.params.params):
                return None
        elif isinstance(node, cst.FunctionDef):
            kinds = _kinds_in(node, receiver, context)
            if kinds:
                return _single(kinds)
        elif isinstance(node, cst.ClassDef):
            continue  # class bodies are not enclosing scopes of their methods
    return _single(_kinds_in(context.module, receiver, context))


def _kinds_in_class(cls: cst.ClassDef, receiver: str, context: FileContext) -> list[str | None]:
    kinds: list[str | None] = []
    for node in iter_descendants(cls.body):
        binds, value, annotation = _binding_value(node, receiver)
        if binds:
            kinds.append(_kind_of(value, annotation, context))
    return kinds


def _single(kinds: list[str | None]) -> str | None:
    if kinds and all(k is not None and k == kinds[0] for k in kinds):
        return kinds[0]
    return None


def asyncio_reference(context: FileContext) -> tuple[str | None, bool]:
    """How to write ``asyncio.<x>`` at module level of this file: (the name to use, whether
    ``import asyncio`` must be added). ``(None, False)`` when ``asyncio`` means something
    else here and no alias of the module is available."""
    imports = import_map(context)
    bound_module = [local for local, target in imports.items() if target == "asyncio"]
    if "asyncio" in bound_module and _only_imported(context, "asyncio"):
        return "asyncio", False
    for local in bound_module:
        if _only_imported(context, local):
            return local, False
    if count_bindings(context, "asyncio") == 0:
        return "asyncio", True
    return None, False


def _only_imported(context: FileContext, name: str) -> bool:
    """Whether nothing but import statements binds ``name`` anywhere in the module (no
    assignment, parameter, loop target, def, ``global``...)."""
    key = ("concurrency:only_imported", name)
    cached = context.cache.get(key)
    if cached is None:
        cached = True
        for node in iter_descendants(context.module):
            if isinstance(node, (cst.Import, cst.ImportFrom)):
                continue
            if (
                _binding_value(node, name)[0]
                or (isinstance(node, (cst.FunctionDef, cst.ClassDef)) and node.name.value == name)
                or (isinstance(node, cst.Param) and node.name.value == name)
            ):
                cached = False
                break
        context.cache[key] = cached
    return cached


def resolves_to(func: cst.BaseExpression, targets: frozenset[str], context: FileContext) -> bool:
    """Whether the callee ``func`` is one of the qualified ``targets`` through the module's
    imports (``gather`` after ``from asyncio import gather``, ``aio.gather``), and the
    local name it starts with is not rebound anywhere else in the module."""
    qualified = qualified_name(func, context)
    if qualified not in targets:
        return False
    head = (dotted_name(func) or "").split(".")[0]
    return head in import_map(context) and _only_imported(context, head)


def count_bindings(context: FileContext, name: str) -> int:
    """How many statements, parameters, defs and imports bind ``name`` in the module."""
    count = 0
    for node in iter_descendants(context.module):
        if (
            _binding_value(node, name)[0]
            or (isinstance(node, (cst.FunctionDef, cst.ClassDef)) and node.name.value == name)
            or (isinstance(node, cst.Param) and node.name.value == name)
        ):
            count += 1
    return count


def binds_locally(func: cst.FunctionDef, name: str, context: FileContext) -> bool:
    """Whether ``func`` itself (not a nested scope) binds ``name``."""
    return bool(_kinds_in(func, name, context))


def after_imports_anchor(module: cst.Module) -> tuple[cst.BaseStatement | None, bool]:
    """Where a module-level definition goes: (statement, True) to insert after it (the
    last import of the leading import block, or the docstring), (first statement, False)
    to insert before it; (None, True) for an empty module."""
    body = list(module.body)
    if not body:
        return None, True
    index = 0
    if _is_docstring(body[0]):
        index = 1
    while index < len(body) and _is_import_block(body[index]):
        index += 1
    if index > 0:
        return body[index - 1], True
    return body[0], False


def _is_docstring(stmt: cst.BaseStatement) -> bool:
    return (
        isinstance(stmt, cst.SimpleStatementLine)
        and len(stmt.body) == 1
        and isinstance(stmt.body[0], cst.Expr)
        and isinstance(stmt.body[0].value, (cst.SimpleString, cst.ConcatenatedString))
    )


def _is_import_block(stmt: cst.BaseStatement) -> bool:
    """An import line, or an ``if``/``try`` whose blocks hold only imports (and ``pass``)."""
    if isinstance(stmt, cst.SimpleStatementLine):
        return all(isinstance(s, (cst.Import, cst.ImportFrom)) for s in stmt.body)
    if isinstance(stmt, (cst.If, cst.Try)):
        from asyncmend.codemods.analysis import child_blocks

        for block in child_blocks(stmt):
            for inner in block.body:
                if not (
                    isinstance(inner, cst.SimpleStatementLine)
                    and all(
                        isinstance(s, (cst.Import, cst.ImportFrom, cst.Pass)) for s in inner.body
                    )
                ):
                    return False
        return True
    return False
