"""Lock-family helpers (AM501, AM502): row-lock calls in libcst form, the acquisition
slots of a function (the same numbering as ``asyncmend.engine.lock_facts``), and the
repo's lock graph for the file being checked."""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from asyncmend.codemods.base import FileContext
from asyncmend.codemods.facts.locks import (
    NON_BLOCKING_OPTIONS,
    ROW_EXECUTE_METHODS,
    ROW_GET_METHODS,
)
from asyncmend.codemods.semantic.lock_graph import LockGraph, build_graph
from asyncmend.codemods.semantic.tree import dotted_name, own_scope


@dataclass
class RowLock:
    """One awaited row-lock call: ``await <session>.get(<model>, <key>, with_for_update=...)``
    or ``await <session>.execute(select(<model>).where(<model>.<col> == <key>)...)``."""

    node: cst.Await
    session: str | None
    model: cst.BaseExpression
    #: The key expression, when the lock is on one row found by one key.
    key: cst.BaseExpression | None


def _truthy_constant(node: cst.BaseExpression) -> bool | None:
    if isinstance(node, cst.Name) and node.value in ("True", "False", "None"):
        return node.value == "True"
    if isinstance(node, cst.Integer):
        return node.value != "0"
    return None


def _string_value(node: cst.BaseExpression) -> str | None:
    if isinstance(node, cst.SimpleString):
        return node.value[1:-1] if node.value[:1] in "'\"" else None
    return None


def _blocking(value: cst.BaseExpression) -> bool:
    """Mirror of ``lock_facts._blocking_option`` for a ``with_for_update=`` value."""
    constant = _truthy_constant(value)
    if constant is not None:
        return constant
    if isinstance(value, cst.Dict):
        for element in value.elements:
            if isinstance(element, cst.DictElement):
                if _string_value(element.key) in NON_BLOCKING_OPTIONS and (
                    _truthy_constant(element.value) is not False
                ):
                    return False
    return True


def row_lock(node: cst.Await) -> RowLock | None:
    """The row lock an ``await`` takes, else None (the libcst twin of
    ``lock_facts.row_lock_model``: both must accept the same calls)."""
    call = node.expression
    if not (isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute)):
        return None
    method = call.func.attr.value
    session = dotted_name(call.func.value)
    positional = [arg.value for arg in call.args if arg.keyword is None and not arg.star]
    if method in ROW_GET_METHODS:
        for arg in call.args:
            if arg.keyword is not None and arg.keyword.value == "with_for_update":
                if not _blocking(arg.value) or not positional:
                    return None
                key = positional[1] if len(positional) > 1 else None
                return RowLock(node, session, positional[0], key)
        return None
    if method in ROW_EXECUTE_METHODS and positional and call.args[0].keyword is None:
        found = _locked_select(positional[0])
        if found is not None:
            return RowLock(node, session, found[0], found[1])
    return None


def _locked_select(
    stmt: cst.BaseExpression,
) -> tuple[cst.BaseExpression, cst.BaseExpression | None] | None:
    locked = False
    wheres: list[cst.Call] = []
    current = stmt
    while isinstance(current, cst.Call) and isinstance(current.func, cst.Attribute):
        name = current.func.attr.value
        if name == "with_for_update":
            for arg in current.args:
                if (
                    arg.keyword is not None
                    and arg.keyword.value in NON_BLOCKING_OPTIONS
                    and _truthy_constant(arg.value) is not False
                ):
                    return None
            locked = True
        elif name in ("where", "filter"):
            wheres.append(current)
        elif name == "filter_by":
            wheres.append(current)
        current = current.func.value
    if not locked or not isinstance(current, cst.Call):
        return None
    name = dotted_name(current.func) or ""
    positional = [a for a in current.args if a.keyword is None and not a.star]
    if name.rsplit(".", 1)[-1] != "select" or len(current.args) != 1 or not positional:
        return None
    model = positional[0].value
    return model, _single_key(wheres, model)


def _single_key(wheres: list[cst.Call], model: cst.BaseExpression) -> cst.BaseExpression | None:
    """``.where(M.col == key)`` (one where, one condition) -> ``key``."""
    if len(wheres) != 1 or len(wheres[0].args) != 1:
        return None
    condition = wheres[0].args[0].value
    model_name = dotted_name(model)
    if not (
        isinstance(condition, cst.Comparison)
        and len(condition.comparisons) == 1
        and isinstance(condition.comparisons[0].operator, cst.Equal)
    ):
        return None
    left, right = condition.left, condition.comparisons[0].comparator
    for column, key in ((left, right), (right, left)):
        if isinstance(column, cst.Attribute) and dotted_name(column.value) == model_name:
            return key
    return None


def model_node(model: cst.BaseExpression, context: FileContext) -> tuple[str, str] | None:
    """The lock-graph node of a model expression, named as the pass-1 collector names it."""
    name = dotted_name(model)
    if name is None:
        return None
    head, _, rest = name.partition(".")
    target = context.semantic.imports.get(head)
    if target is not None:
        qualified = f"{target}.{rest}" if rest else target
    else:
        qualified = f"{context.module_name or ''}.{name}".lstrip(".")
    return ("row", context.index.resolve(qualified))


def acquisition_slots(func: cst.FunctionDef) -> dict[tuple[str, int], cst.CSTNode]:
    """``("with", n)`` -> the n-th ``async with`` item, ``("row", n)`` -> the n-th
    row-lock ``await``, as ``lock_facts`` numbers them."""
    slots: dict[tuple[str, int], cst.CSTNode] = {}
    withs = rows = 0
    for node in own_scope(func.body):
        if isinstance(node, cst.With) and node.asynchronous is not None:
            for item in node.items:
                slots[("with", withs)] = item
                withs += 1
        elif isinstance(node, cst.Await) and row_lock(node) is not None:
            slots[("row", rows)] = node
            rows += 1
    return slots


def qualified_function_name(func: cst.FunctionDef, ancestors: list[cst.CSTNode]) -> str:
    parts = [
        node.name.value for node in ancestors if isinstance(node, (cst.FunctionDef, cst.ClassDef))
    ]
    return ".".join([*parts, func.name.value])


def repo_lock_graph(context: FileContext) -> LockGraph:
    return build_graph(context.index, context.config.settings.get("lock-order", []))
