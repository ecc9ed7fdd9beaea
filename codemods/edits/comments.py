"""Comment edits: a fix that rebuilds code from a template must carry the comments of
the code it replaces. ``comments_in`` finds them (libcst keeps comments in whitespace
nodes, which the rules' walks skip); ``comment_lines`` re-homes them above a statement."""

from __future__ import annotations

import re
from collections.abc import Iterable

import libcst as cst


class _Comments(cst.CSTVisitor):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def visit_Comment(self, node: cst.Comment) -> None:
        self.found.append(node.value)


def comments_in(node: cst.CSTNode) -> list[str]:
    """Every comment inside ``node``, in source order."""
    visitor = _Comments()
    node.visit(visitor)
    return visitor.found


def comment_lines(comments: Iterable[str]) -> list[cst.EmptyLine]:
    """Own-line comments at the indentation of the statement they are put above."""
    return [cst.EmptyLine(indent=True, comment=cst.Comment(text)) for text in comments]


def with_comment_after_paren(call: cst.Call, comment: str) -> cst.Call:
    space = call.whitespace_before_args
    assert isinstance(space, cst.ParenthesizedWhitespace)
    first = space.first_line.with_changes(
        whitespace=cst.SimpleWhitespace("  "), comment=cst.Comment(comment)
    )
    return call.with_changes(whitespace_before_args=space.with_changes(first_line=first))


def argument_comments(
    call: cst.Call, args: list[cst.Arg], own: cst.Comment | None, *, skip_head: bool = False
) -> list[tuple[list[cst.EmptyLine], str]]:
    """For each argument, the comment lines written above it and the comment at the end
    of its line. A comment after ``gather(`` goes with the first argument; comments
    before ``)`` and after the statement go with the last one."""
    spaces: list[object] = [call.whitespace_before_args]
    for arg in args:
        comma = arg.comma
        spaces.append(
            comma.whitespace_after if isinstance(comma, cst.Comma) else arg.whitespace_after_arg
        )
    found = [whitespace_comments(space) for space in spaces]
    # The statement's own comment stays on the line where it was: the first one when
    # the whole call was on one line, else the last one.
    one_line = not any(isinstance(space, cst.ParenthesizedWhitespace) for space in spaces)
    own_at = 0 if one_line else len(args) - 1
    result: list[tuple[list[cst.EmptyLine], str]] = []
    for position in range(len(args)):
        parts = [found[0][1]] if position == 0 and not skip_head else []
        parts.append(found[position + 1][1])
        if position == len(args) - 1:
            parts.extend(line.comment.value for line in found[-1][0] if line.comment)
        if position == own_at:
            parts.append(own.value if own is not None else "")
        leading = [cst.EmptyLine(comment=line.comment) for line in found[position][0]]
        result.append((leading, "  ".join(part for part in parts if part)))
    return result


def whitespace_comments(whitespace: object) -> tuple[list[cst.EmptyLine], str]:
    if not isinstance(whitespace, cst.ParenthesizedWhitespace):
        return [], ""
    comment = whitespace.first_line.comment
    lines = [line for line in whitespace.empty_lines if line.comment is not None]
    return lines, comment.value if comment else ""


_NOQA = re.compile(r"#\s*noqa(?::\s*(?P<codes>[A-Z]+[0-9]+(?:[\s,]+[A-Z]+[0-9]+)*))?", re.I)


def without_noqa_codes(
    line: cst.SimpleStatementLine, codes: frozenset[str]
) -> cst.SimpleStatementLine:
    """``line`` without the ``# noqa`` codes among ``codes`` that a fix made stale (a
    ``# noqa: RUF006`` on a task the fix now keeps); the comment goes when nothing is
    left of it. A bare ``# noqa`` silences everything and stays."""
    comment = line.trailing_whitespace.comment
    if comment is None:
        return line
    match = _NOQA.search(comment.value)
    if match is None or not match.group("codes"):
        return line
    listed = [code for code in re.split(r"[\s,]+", match.group("codes")) if code]
    kept = [code for code in listed if code.upper() not in codes]
    if len(kept) == len(listed):
        return line
    before = comment.value[: match.start()].rstrip()
    after = comment.value[match.end() :].strip()
    noqa = f"# noqa: {', '.join(kept)}" if kept else ""
    text = "  ".join(part for part in (before, noqa, after) if part and part != "#")
    if text and not text.startswith("#"):
        text = f"# {text.lstrip('# ')}"
    trailing = line.trailing_whitespace
    if not text:
        trailing = trailing.with_changes(whitespace=cst.SimpleWhitespace(""), comment=None)
    else:
        trailing = trailing.with_changes(comment=cst.Comment(text))
    return line.with_changes(trailing_whitespace=trailing)
