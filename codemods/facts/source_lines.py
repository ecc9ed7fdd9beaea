"""Which lines of the file pass 1 reads hold a token: a few byte searches that let a
collector skip a function whose lines cannot hold what it looks for (a ``yield``)
instead of walking every expression of it.

The answer is exact-or-over-approximate: "no" only when no line of the range holds the
token, so no node there can be spelled with it; "yes" whenever it cannot tell (a tree
lowered from newer syntax, whose lines may not be the file's). Lines are counted as the
``ast`` tokenizer counts them (``\\r\\n``, ``\\r`` and ``\\n`` each end one). A name is
looked for as written only in an ASCII file: elsewhere an identifier spelled with other
characters may normalize (NFKC) to it, so ``name_lines_hold`` answers "yes".
"""

from __future__ import annotations

import ast
import re
from bisect import bisect_left
from collections import deque
from collections.abc import Iterator

from asyncmend.codemods.facts.base import FileFacts, iter_child_nodes, walk

_LINE_ENDS = re.compile(rb"\r\n?|\n")

#: The line numbers holding each token asked for, of the file being read (pass 1 reads
#: one file at a time: a new ``source`` object starts a new memo), and whether it is ASCII.
_memo: tuple[bytes, dict[bytes, list[int]], list[bool]] = (b"", {}, [])


def _file_memo(source: bytes) -> tuple[bytes, dict[bytes, list[int]], list[bool]]:
    global _memo
    if _memo[0] is not source:
        _memo = (source, {}, [])
    return _memo


def _token_lines(source: bytes, token: bytes) -> list[int]:
    """Sorted line numbers (1-based) of the lines where ``token`` occurs."""
    found = _file_memo(source)[1].get(token)
    if found is not None:
        return found
    found = []
    if b"\r" in source:
        ends = [m.end() for m in _LINE_ENDS.finditer(source)]
        at = source.find(token)
        while at >= 0:
            found.append(bisect_left(ends, at + 1) + 1)
            at = source.find(token, at + 1)
    else:  # the common case: count newlines between one occurrence and the next
        line, counted, at = 1, 0, source.find(token)
        while at >= 0:
            line += source.count(b"\n", counted, at)
            counted = at
            found.append(line)
            at = source.find(token, at + 1)
    _memo[1][token] = found
    return found


def _is_ascii(source: bytes) -> bool:
    known = _file_memo(source)[2]
    if not known:
        known.append(source.isascii())
    return known[0]


def lines_hold(facts: FileFacts, token: bytes, first: int, last: int | None) -> bool:
    """Whether a line from ``first`` to ``last`` (inclusive) may hold ``token``."""
    if not facts.lines_match or not facts.source or last is None:
        return True
    lines = _token_lines(facts.source, token)
    at = bisect_left(lines, first)
    return at < len(lines) and lines[at] <= last


def name_lines_hold(facts: FileFacts, name: bytes, node: ast.AST) -> bool:
    """Whether the lines of ``node`` may hold an identifier (or attribute) containing ``name``."""
    if facts.source and not _is_ascii(facts.source):
        return True
    return lines_hold(facts, name, node.lineno, node.end_lineno)  # type: ignore[attr-defined]


def walk_holding(facts: FileFacts, node: ast.AST, names: tuple[bytes, ...]) -> Iterator[ast.AST]:
    """``walk(node)``'s nodes, in its order, less the statements (and all under them) whose
    lines hold none of ``names``: where only nodes spelled with one of them matter."""
    if facts.source and not _is_ascii(facts.source):
        yield from walk(node)
        return
    todo = deque([node])
    pop, push, statement = todo.popleft, todo.append, ast.stmt
    while todo:
        node = pop()
        for child in iter_child_nodes(node):
            if not isinstance(child, statement) or any(
                lines_hold(facts, name, _first_line(child), child.end_lineno) for name in names
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
    _memo = (b"", {}, [])
