"""Argument and element edits: add an argument to a call, or an element to a list,
tuple or dict display, keeping the layout (one item per line stays one per line)."""

from __future__ import annotations

from typing import TypeVar

import libcst as cst

Item = TypeVar("Item", cst.Arg, cst.Element, cst.DictElement, cst.Param)


def append_one_per_line(items: list[Item], new: Item, opening: object) -> list[Item] | None:
    """With a magic trailing comma (one item per line): ``items`` plus ``new`` on its own
    line, taking the trailing comma; None for items on one line. ``opening`` is the
    whitespace after the opening bracket. (Also used for parameters: ``edits.params``.)"""
    if not items:
        return None
    last = items[-1]
    if not (
        isinstance(last.comma, cst.Comma)
        and isinstance(last.comma.whitespace_after, cst.ParenthesizedWhitespace)
    ):
        return None
    separator = items[-2].comma if len(items) > 1 else None
    if not isinstance(separator, cst.Comma) and isinstance(opening, cst.ParenthesizedWhitespace):
        separator = cst.Comma(whitespace_after=opening)
    if not isinstance(separator, cst.Comma):
        return None
    return [*items[:-1], last.with_changes(comma=separator), new.with_changes(comma=last.comma)]


def append_item(items: list[Item], new: Item, opening: object) -> list[Item]:
    """``items`` plus ``new`` last, keeping the layout (``append_one_per_line``; else on
    the line of the last item, a trailing comma moved after ``new``)."""
    found = append_one_per_line(items, new, opening)
    if found is not None:
        return found
    if items and isinstance(items[-1].comma, cst.Comma):
        last = items[-1]
        return [
            *items[:-1],
            last.with_changes(comma=cst.MaybeSentinel.DEFAULT),
            new.with_changes(comma=last.comma),
        ]
    return [*items, new]


def with_argument(call: cst.Call, arg: cst.Arg) -> cst.Call:
    """``call`` with ``arg`` as its last argument."""
    return call.with_changes(args=append_item(list(call.args), arg, call.whitespace_before_args))


def keyword(name: str, value: cst.BaseExpression) -> cst.Arg:
    """``name=value`` as an argument."""
    nothing = cst.SimpleWhitespace("")
    return cst.Arg(value, keyword=cst.Name(name), equal=cst.AssignEqual(nothing, nothing))


def with_element(
    display: cst.List | cst.Tuple | cst.Dict, element: cst.Element | cst.DictElement
) -> cst.List | cst.Tuple | cst.Dict:
    """A list, tuple or dict display with ``element`` last."""
    if isinstance(display, cst.Dict):
        opening: object = display.lbrace.whitespace_after
    elif isinstance(display, cst.List):
        opening = display.lbracket.whitespace_after
    else:
        opening = display.lpar[0].whitespace_after if display.lpar else None
    elements = append_item(list(display.elements), element, opening)  # type: ignore[arg-type]
    if isinstance(display, cst.Tuple) and len(elements) == 1 and not display.lpar:
        return display.with_changes(
            elements=elements, lpar=[cst.LeftParen()], rpar=[cst.RightParen()]
        )
    return display.with_changes(elements=elements)
