"""Keep lines that a fix made too long within the project's line length.

A fix that wraps statements in a block (``async with``, ``try``) moves them right; a
line that fitted before may then pass the project's line length, and the project's own
formatter or linter would flag the fixed file. Like black's right-hand split, a simple
statement whose value is a call gets its arguments on their own line (all on one, or
one per line with a trailing comma when one line is still too long). Only lines the
fix changed are touched, only when the split makes the statement's longest line
shorter, and never where a comment or an existing line break would have to move.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

#: The line length when the project sets none (black's and ruff's default).
DEFAULT_LINE_LENGTH = 88
_NEWLINE = re.compile(r"\r\n|\r|\n")


def fit_changed_lines(before: str, after: str, limit: int) -> str:
    """``after`` (a fix's output for ``before``) with each simple statement that holds a
    changed line longer than ``limit`` split at its call's arguments, where that helps."""
    kept = set(_lines(before))
    too_long = {
        number
        for number, line in enumerate(_lines(after), 1)
        if len(line.expandtabs()) > limit and line not in kept
    }
    if not too_long:
        return after
    try:
        wrapper = MetadataWrapper(cst.parse_module(after), unsafe_skip_copy=True)
    except cst.ParserSyntaxError:
        return after
    splitter = _SplitCalls(wrapper, too_long, limit)
    return wrapper.module.visit(splitter).code


def _lines(text: str) -> list[str]:
    """Lines as libcst numbers them (``str.splitlines`` also breaks at form feeds)."""
    return _NEWLINE.split(text)


class _SplitCalls(cst.CSTTransformer):
    def __init__(self, wrapper: MetadataWrapper, lines: set[int], limit: int) -> None:
        super().__init__()
        self.positions = wrapper.resolve(PositionProvider)
        self.unit = wrapper.module.default_indent
        self.module = wrapper.module
        self.lines = lines
        self.limit = limit

    def leave_SimpleStatementLine(
        self, original_node: cst.SimpleStatementLine, updated_node: cst.SimpleStatementLine
    ) -> cst.SimpleStatementLine:
        where = self.positions[original_node]
        # One line, so no line break or comment inside that a split would have to move.
        if where.start.line != where.end.line or where.start.line not in self.lines:
            return updated_node
        # A trailing comment (a noqa or type-ignore pragma) belongs to its line: not moved.
        if len(updated_node.body) != 1 or updated_node.trailing_whitespace.comment:
            return updated_node
        call = _value_call(updated_node.body[0])
        if call is None or not call.args:
            return updated_node
        indent = " " * where.start.column
        before = self._longest(updated_node, indent)
        best = updated_node
        for args in (_hugged(call.args, self.unit), _exploded(call.args, self.unit)):
            if args is None:
                continue
            candidate = updated_node.deep_replace(
                call,
                call.with_changes(whitespace_before_args=_break(self.unit), args=args),
            )
            longest = self._longest(candidate, indent)
            if longest < before:
                best, before = candidate, longest
            if longest <= self.limit:
                break
        return best  # type: ignore[return-value]

    def _longest(self, node: cst.SimpleStatementLine, indent: str) -> int:
        text = self.module.code_for_node(node.with_changes(leading_lines=()))
        return max(len((indent + line).expandtabs()) for line in text.splitlines())


def _value_call(statement: cst.BaseSmallStatement) -> cst.Call | None:
    """The call a simple statement is made of: ``f(...)``, ``x = await f(...)``,
    ``return f(...)``."""
    value = getattr(statement, "value", None)
    if isinstance(statement, cst.AnnAssign) and value is None:
        return None
    if isinstance(value, cst.Await) and not value.lpar:
        value = value.expression
    return value if isinstance(value, cst.Call) and not value.lpar else None


def _break(unit: str, depth: int = 1) -> cst.ParenthesizedWhitespace:
    return cst.ParenthesizedWhitespace(
        first_line=cst.TrailingWhitespace(),
        indent=True,
        last_line=cst.SimpleWhitespace(unit * depth),
    )


def _hugged(args: Sequence[cst.Arg], unit: str) -> list[cst.Arg] | None:
    """All arguments on one line of their own (black's first try); not when the last
    argument has a trailing comma (black then puts one per line)."""
    if not isinstance(args[-1].comma, cst.MaybeSentinel):
        return None
    *head, last = args
    return [*head, last.with_changes(whitespace_after_arg=_break(unit, 0))]


def _exploded(args: Sequence[cst.Arg], unit: str) -> list[cst.Arg] | None:
    """One argument per line, with a trailing comma (black's magic trailing comma)."""
    if len(args) < 2:
        return None
    result = [
        arg.with_changes(
            comma=cst.Comma(whitespace_after=_break(unit)),
            whitespace_after_arg=cst.SimpleWhitespace(""),
        )
        for arg in args[:-1]
    ]
    result.append(
        args[-1].with_changes(
            comma=cst.Comma(),
            whitespace_after_arg=_break(unit, 0),
        )
    )
    return result
