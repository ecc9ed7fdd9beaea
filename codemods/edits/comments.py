"""Comment edits: a fix that rebuilds code from a template must carry the comments of
the code it replaces. ``comments_in`` finds them (libcst keeps comments in whitespace
nodes, which the rules' walks skip); ``comment_lines`` re-homes them above a statement."""

from __future__ import annotations

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
