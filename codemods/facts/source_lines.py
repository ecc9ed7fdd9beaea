"""Which lines of the file pass 1 reads hold a token: a few byte searches that let a
collector skip a function whose lines cannot hold what it looks for (a ``yield``)
instead of walking every expression of it.

The answer is exact-or-over-approximate: "no" only when no line of the range holds the
token, so no node there can be spelled with it; "yes" whenever it cannot tell (a tree
lowered from newer syntax, whose lines may not be the file's). Lines are counted as the
``ast`` tokenizer counts them (``\\r\\n``, ``\\r`` and ``\\n`` each end one). A name may
also sit on any line holding a character outside ASCII: an identifier spelled with other
characters may normalize (NFKC) to it.
"""

from __future__ import annotations

import ast
import re
from bisect import bisect_left
from collections import deque
from collections.abc import Iterator

from asyncmend.codemods.facts.base import FileFacts, iter_child_nodes

_LINE_ENDS = re.compile(rb"\r\n?|\n")
#: Bytes of a character outside ASCII: an identifier there may normalize (NFKC) to a
#: name it does not spell (a fullwidth letter reads as the ASCII one).
_NON_ASCII = re.compile(rb"[\x80-\xff]+")

#: The line numbers found for each (token, is a name) asked about the file being read
#: (pass 1 reads one file at a time: a new ``source`` object starts a new memo).
_memo: tuple[bytes, dict[tuple[bytes, bool], list[int]]] = (b"", {})


def _lines_at(source: bytes, positions: list[int]) -> list[int]:
    """The line numbers (1-based, ascending) of ascending byte positions."""
    if b"\r" in source:
        ends = [m.end() for m in _LINE_ENDS.finditer(source)]
        return [bisect_left(ends, at + 1) + 1 for at in positions]
    found, line, counted = [], 1, 0  # the common case: count the newlines in between
    for at in positions:
        line += source.count(b"\n", counted, at)
        counted = at
        found.append(line)
    return found


def _token_lines(source: bytes, token: bytes, name: bool) -> list[int]:
    """The lines where ``token`` occurs; for a ``name``, also every line holding a
    character outside ASCII."""
    global _memo
    if _memo[0] is not source:
        _memo = (source, {})
    found = _memo[1].get((token, name))
    if found is None:
        positions, at = [], source.find(token)
        while at >= 0:
            positions.append(at)
            at = source.find(token, at + 1)
        if name and not source.isascii():
            positions = sorted({*positions, *(m.start() for m in _NON_ASCII.finditer(source))})
        found = _memo[1][(token, name)] = _lines_at(source, positions)
    return found


def lines_hold(
    facts: FileFacts, token: bytes, first: int, last: int | None, name: bool = False
) -> bool:
    """Whether a line from ``first`` to ``last`` (inclusive) may hold ``token`` (for a
    ``name``: an identifier or attribute containing it)."""
    if not facts.lines_match or not facts.source or last is None:
        return True
    lines = _token_lines(facts.source, token, name)
    at = bisect_left(lines, first)
    return at < len(lines) and lines[at] <= last


def name_lines_hold(facts: FileFacts, name: bytes, node: ast.AST) -> bool:
    """Whether the lines of ``node`` may hold an identifier (or attribute) containing ``name``."""
    return lines_hold(facts, name, node.lineno, node.end_lineno, name=True)  # type: ignore[attr-defined]


def walk_holding(facts: FileFacts, node: ast.AST, names: tuple[bytes, ...]) -> Iterator[ast.AST]:
    """``walk(node)``'s nodes, in its order, less the statements (and all under them) whose
    lines hold none of ``names``: where only nodes spelled with one of them matter."""
    todo = deque([node])
    pop, push, statement = todo.popleft, todo.append, ast.stmt
    while todo:
        node = pop()
        for child in iter_child_nodes(node):
            if not isinstance(child, statement) or any(
                lines_hold(facts, name, _first_line(child), child.end_lineno, name=True)
                for name in names
            ):
                push(child)
        yield node


def _first_line(node: ast.stmt) -> int:
    """The first line of a statement, a definition's decorators (above it) included."""
    decorators = getattr(node, "decorator_list", None)
    return min([node.lineno, *(d.lineno for d in decorators)]) if decorators else node.lineno


def definition_holds(facts: FileFacts, node: ast.stmt, token: bytes) -> bool:
    """Whether the lines of a definition, its decorators included, may hold ``token``."""
    return lines_hold(facts, token, _first_line(node), node.end_lineno)


def forget() -> None:
    """Drop the memo (and the file it holds) once a file's pass 1 is done."""
    global _memo
    _memo = (b"", {})
