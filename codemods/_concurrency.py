"""Helpers of the concurrency family (AM201-AM203): what a receiver name was bound to,
which names a module already uses, and how to spell ``asyncio`` in a given file.

All of them read the tree by hand (no ScopeProvider) and cache per file in
``context.cache``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import libcst as cst

from asyncmend.codemods.analysis import child_blocks, dotted_name, import_map, qualified_name
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


#: A binding as written: (value assigned or None, annotation or None, is an import).
_Raw = tuple[cst.BaseExpression | None, cst.BaseExpression | None, bool]


def _target_names(target: cst.BaseExpression) -> Iterator[str]:
    """Dotted names bound by an assignment target (``a``, ``self.x``, tuple elements)."""
    name = dotted_name(target)
    if name is not None:
        yield name
    elif isinstance(target, (cst.Tuple, cst.List)):
        for element in target.elements:
            yield from _target_names(element.value)
    elif isinstance(target, cst.StarredElement):
        yield from _target_names(target.value)


#: Node types that bind names (checked first: most nodes bind nothing).
_BINDING_TYPES = frozenset(
    {cst.Assign, cst.AnnAssign, cst.AugAssign, cst.WithItem, cst.For, cst.CompFor,
     cst.NamedExpr, cst.Import, cst.ImportFrom, cst.Global, cst.Nonlocal, cst.FunctionDef,
     cst.ClassDef, cst.ExceptHandler, cst.Param}
)  # fmt: skip


def _bindings_of(node: cst.CSTNode) -> Iterator[tuple[str, _Raw]]:
    """The names ``node`` binds in the scope it belongs to, with what it binds them to
    (a value only when the name is the whole target)."""
    if type(node) not in _BINDING_TYPES:
        return
    if isinstance(node, cst.Assign):
        for target in node.targets:
            whole = dotted_name(target.target) is not None
            for name in _target_names(target.target):
                yield name, (node.value if whole else None, None, False)
    elif isinstance(node, cst.AnnAssign):
        for name in _target_names(node.target):
            yield name, (node.value, node.annotation.annotation, False)
    elif isinstance(node, cst.AugAssign):
        for name in _target_names(node.target):
            yield name, (None, None, False)
    elif isinstance(node, cst.WithItem) and node.asname is not None:
        whole = dotted_name(node.asname.name) is not None
        for name in _target_names(node.asname.name):  # type: ignore[arg-type]
            yield name, (node.item if whole else None, None, False)
    elif isinstance(node, (cst.For, cst.CompFor)):
        for name in _target_names(node.target):
            yield name, (None, None, False)
    elif isinstance(node, cst.NamedExpr):
        for name in _target_names(node.target):
            yield name, (node.value, None, False)
    elif isinstance(node, (cst.Import, cst.ImportFrom)):
        if not isinstance(node.names, cst.ImportStar):
            for alias in node.names:
                local = alias.asname.name if alias.asname is not None else alias.name
                name = dotted_name(local)  # type: ignore[arg-type]
                if name is not None:
                    yield name.split(".")[0], (None, None, True)
    elif isinstance(node, (cst.Global, cst.Nonlocal)):
        for item in node.names:
            yield item.name.value, (None, None, False)
    elif isinstance(node, (cst.FunctionDef, cst.ClassDef)):
        yield node.name.value, (None, None, False)
    elif isinstance(node, cst.ExceptHandler) and node.name is not None:
        for name in _target_names(node.name.name):  # type: ignore[arg-type]
            yield name, (None, None, False)
    elif isinstance(node, cst.Param):
        annotation = node.annotation.annotation if node.annotation else None
        yield node.name.value, (None, annotation, False)


def _kind_of(raw: _Raw, context: FileContext) -> str | None:
    """What a binding holds, as a qualified class or function name: the annotation, or
    the callee of the call it was assigned (``httpx.AsyncClient``); None if unknown."""
    value, annotation, _ = raw
    if annotation is not None:
        return qualified_name(annotation, context)
    if isinstance(value, cst.Call):
        return qualified_name(value.func, context)
    return None  # awaited results, literals, parameters without annotation...


def _scope_table(scope: cst.CSTNode, context: FileContext) -> dict[str, list[_Raw]]:
    """Every binding made directly in ``scope`` (a function or the module; nested scopes
    contribute only their own name), by name. One walk per scope, cached."""
    key = ("concurrency:scope", id(scope))
    table = context.cache.get(key)
    if table is not None:
        return table
    table = {}
    stack: list[cst.CSTNode] = [scope]
    if isinstance(scope, cst.FunctionDef):
        stack = [scope.body, scope.params]
    while stack:
        node = stack.pop()
        for name, raw in _bindings_of(node):
            table.setdefault(name, []).append(raw)
        if node is not scope and isinstance(node, _SCOPES):
            continue  # its name is bound here; its body is another scope
        stack.extend(iter_children(node))
    context.cache[key] = table
    return table


def _class_table(cls: cst.ClassDef, context: FileContext) -> dict[str, list[_Raw]]:
    """``self.x`` bindings anywhere in the methods of ``cls``, by dotted name."""
    key = ("concurrency:class", id(cls))
    table = context.cache.get(key)
    if table is None:
        table = {}
        for node in iter_descendants(cls.body):
            for name, raw in _bindings_of(node):
                if name.startswith("self."):
                    table.setdefault(name, []).append(raw)
        context.cache[key] = table
    return table


def _module_counts(context: FileContext) -> dict[str, tuple[int, int]]:
    """Name -> (bindings anywhere in the module, bindings other than imports).

    Bindings made directly in a class body (methods, class attributes) are left out:
    they never shadow a module-level name in the functions of the module."""
    counts = context.cache.get("concurrency:counts")
    if counts is None:
        counts = {}
        stack: list[tuple[cst.CSTNode, bool]] = [(context.module, False)]
        while stack:
            node, in_class_body = stack.pop()
            if not in_class_body:
                for name, (_, _, is_import) in _bindings_of(node):
                    total, other = counts.get(name, (0, 0))
                    counts[name] = (total + 1, other + (0 if is_import else 1))
            if isinstance(node, cst.ClassDef):
                stack.append((node.body, True))
            elif isinstance(node, (cst.FunctionDef, cst.Lambda)):
                stack.extend((child, False) for child in iter_children(node))
            else:
                stack.extend((child, in_class_body) for child in iter_children(node))
        context.cache["concurrency:counts"] = counts
    return counts


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
        return _single(_class_table(cls, context).get(receiver, []), context)
    if "." in receiver:
        return None
    for node in reversed(ancestors):
        if isinstance(node, cst.Lambda):
            if any(p.name.value == receiver for p in node.params.params):
                return None
        elif isinstance(node, cst.FunctionDef):
            raws = _scope_table(node, context).get(receiver)
            if raws:
                return _single(raws, context)
    return _single(_scope_table(context.module, context).get(receiver, []), context)


def _single(raws: list[_Raw], context: FileContext) -> str | None:
    kinds = [_kind_of(raw, context) for raw in raws]
    if kinds and all(k is not None and k == kinds[0] for k in kinds):
        return kinds[0]
    return None


def binds_locally(func: cst.FunctionDef, name: str, context: FileContext) -> bool:
    """Whether ``func`` itself (not a nested scope) binds ``name``."""
    return name in _scope_table(func, context)


def count_bindings(context: FileContext, name: str) -> int:
    """How many statements, parameters, defs and imports bind ``name`` in the module."""
    return _module_counts(context).get(name, (0, 0))[0]


def _means_import(name: str, context: FileContext, ancestors: Sequence[cst.CSTNode]) -> bool:
    """Whether ``name``, read where ``ancestors`` lead, is only ever bound by imports:
    the module scope binds it by imports alone and no enclosing function or lambda
    binds it. (Bindings in unrelated functions do not matter; one walk per scope.)"""
    raws = _scope_table(context.module, context).get(name, [])
    if any(not is_import for _, _, is_import in raws):
        return False
    return not _bound_in_enclosing_functions(name, context, ancestors)


def _bound_in_enclosing_functions(
    name: str, context: FileContext, ancestors: Sequence[cst.CSTNode]
) -> bool:
    for node in ancestors:
        if isinstance(node, cst.FunctionDef) and name in _scope_table(node, context):
            return True
        if isinstance(node, cst.Lambda) and any(p.name.value == name for p in node.params.params):
            return True
    return False


def asyncio_reference(
    context: FileContext, ancestors: Sequence[cst.CSTNode] = ()
) -> tuple[str | None, bool]:
    """How to write ``asyncio.<x>`` where ``ancestors`` lead (the module level when
    empty): (the name to use, whether ``import asyncio`` must be added). ``(None, False)``
    when ``asyncio`` means something else there and no alias of the module is bound."""
    imports = import_map(context)
    bound_module = sorted(local for local, target in imports.items() if target == "asyncio")
    if "asyncio" in bound_module and _means_import("asyncio", context, ancestors):
        return "asyncio", False
    for local in bound_module:
        if _means_import(local, context, ancestors):
            return local, False
    module_level = _scope_table(context.module, context)
    if "asyncio" not in module_level and not _bound_in_enclosing_functions(
        "asyncio", context, ancestors
    ):
        return "asyncio", True
    return None, False


def resolves_to(
    func: cst.BaseExpression,
    targets: frozenset[str],
    context: FileContext,
    ancestors: Sequence[cst.CSTNode],
) -> bool:
    """Whether the callee ``func`` is one of the qualified ``targets`` through the module's
    imports (``gather`` after ``from asyncio import gather``, ``aio.gather``), its first
    name not rebound where it is read."""
    qualified = qualified_name(func, context)
    if qualified not in targets:
        return False
    head = (dotted_name(func) or "").split(".")[0]
    return head in import_map(context) and _means_import(head, context, ancestors)


def after_imports_anchor(
    module: cst.Module, needs: str | None = None
) -> tuple[cst.BaseStatement | None, bool]:
    """Where a module-level definition goes: (statement, True) to insert after it (the
    last import of the leading import block, or the docstring), (first statement, False)
    to insert before it; (None, True) for an empty module. With ``needs``, never before
    the last top-level statement that imports that name (``if ...: import asyncio``)."""
    body = list(module.body)
    if not body:
        return None, True
    index = 0
    if _is_docstring(body[0]):
        index = 1
    while index < len(body) and _is_import_block(body[index]):
        index += 1
    if needs is not None:
        for position, stmt in enumerate(body):
            if position >= index and _imports_name(stmt, needs):
                index = position + 1
    if index > 0:
        return body[index - 1], True
    return body[0], False


def _imports_name(stmt: cst.BaseStatement, name: str) -> bool:
    """Whether a top-level statement imports ``name`` (directly or in its blocks)."""
    stack: list[cst.CSTNode] = [stmt]
    while stack:
        node = stack.pop()
        if isinstance(node, (cst.Import, cst.ImportFrom)):
            if any(bound == name for bound, _ in _bindings_of(node)):
                return True
        elif not isinstance(node, _SCOPES):
            stack.extend(iter_children(node))
    return False


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


class _ShiftContinuations(cst.CSTTransformer):
    """Move the continuation lines of an expression left (``remove``) or right (``add``)
    when the expression itself moves to another indentation."""

    def __init__(self, remove: str, add: str) -> None:
        super().__init__()
        self.remove = remove
        self.add = add

    def _shift(self, text: str) -> str:
        if self.remove and text.startswith(self.remove):
            text = text[len(self.remove) :]
        return self.add + text

    def leave_ParenthesizedWhitespace(
        self, original_node: cst.ParenthesizedWhitespace, updated_node: cst.ParenthesizedWhitespace
    ) -> cst.ParenthesizedWhitespace:
        lines = [
            line.with_changes(whitespace=cst.SimpleWhitespace(self._shift(line.whitespace.value)))
            if line.indent and line.comment is not None
            else line
            for line in updated_node.empty_lines
        ]
        if not updated_node.indent:
            return updated_node.with_changes(empty_lines=lines)
        return updated_node.with_changes(
            empty_lines=lines,
            last_line=cst.SimpleWhitespace(self._shift(updated_node.last_line.value)),
        )


def shift_continuations(node: cst.CSTNodeT, *, remove: str = "", add: str = "") -> cst.CSTNodeT:
    """``node`` with its continuation lines re-indented (nothing to do on one line)."""
    if not remove and not add:
        return node
    return node.visit(_ShiftContinuations(remove, add))  # type: ignore[return-value]
