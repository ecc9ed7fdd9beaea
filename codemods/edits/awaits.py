"""Adding ``await``: where it may go, and the expression it makes."""

from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

#: Expressions ``await`` binds to as a whole, with no parentheses.
_ATOMS = (cst.Call, cst.Name, cst.Attribute, cst.Subscript)


def awaited(value: cst.BaseExpression, *, parenthesized: bool = False) -> cst.Await:
    """``await value``; ``(await value)`` when asked (the receiver of ``.x``, ``[i]`` or
    a call: ``(await f()).x``)."""
    if parenthesized:
        return cst.Await(expression=value, lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
    return cst.Await(expression=value)


def awaited_operand(value: cst.BaseExpression) -> cst.Await:
    """``await value`` with ``value`` parenthesized unless it is an atom (or already
    parenthesized): ``await (a or b)``."""
    if isinstance(value, _ATOMS) or value.lpar:
        return cst.Await(value)
    return cst.Await(value, lpar=[cst.LeftParen()], rpar=[cst.RightParen()])


def is_receiver(node: cst.CSTNode, parent: cst.CSTNode) -> bool:
    """``node`` is what ``parent`` reads an attribute or item of, or calls."""
    return (isinstance(parent, (cst.Attribute, cst.Subscript)) and parent.value is node) or (
        isinstance(parent, cst.Call) and parent.func is node
    )


def in_generator_expression(ancestors: Sequence[cst.CSTNode]) -> bool:
    """Whether the node ``ancestors`` lead to sits in a generator expression of its
    function: ``await`` there would make it an async generator."""
    for node in reversed(ancestors):
        if isinstance(node, cst.FunctionDef):
            return False
        if isinstance(node, cst.GeneratorExp):
            return True
    return False
