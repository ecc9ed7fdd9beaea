"""Pass 1's shortcuts answer what the walks they replace answered: statement-only walks
in the walks' own order, a function's own nodes, the line tests that skip a function,
the trigger tokens searched once. (``bench/facts_check.py`` compares every fact of the
corpora with the previous code; these pin the pieces.)"""

from __future__ import annotations

import ast

import pytest

from asyncmend.codemods.facts import sessions, source_lines
from asyncmend.codemods.facts.base import (
    COLLECTOR_TRIGGERS,
    FileFacts,
    iter_child_nodes,
    own_nodes,
    statements,
    walk,
)
from asyncmend.engine.index import _TokenTest, collect_facts

SAMPLE = b"""
import asyncio
from sqlalchemy.ext.asyncio import AsyncSession

class Repo:
    lock = asyncio.Lock()

    async def load(self, session: AsyncSession, key):
        try:
            async with self.lock:
                row = await session.get(Row, key)
        except (KeyError, ValueError) as error:
            return None
        else:
            for item in row.items:
                while item:
                    item = item.next
            return row
        finally:
            def inner():
                return lambda: (yield)
            with open("x") as handle:
                pass

def dispatch(command):
    match command:
        case {"kind": "a"}:
            return 1
        case _ if command:
            class Local:
                value = 2
            return Local
    if command:
        return [x for x in command]
"""


def _reference_own_nodes(roots: list[ast.AST]) -> list[ast.AST]:
    """The stack walk ``own_nodes`` replaced, written out."""
    found, stack = [], list(roots)
    while stack:
        node = stack.pop()
        found.append(node)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            continue
        stack.extend(iter_child_nodes(node))
    return found


def test_statements_are_the_walks_statements_in_its_order() -> None:
    tree = ast.parse(SAMPLE)
    for root in [tree, *(n for n in walk(tree) if isinstance(n, ast.stmt))]:
        expected = [n for n in walk(root) if isinstance(n, ast.stmt)]
        assert list(statements(root)) == expected


def test_own_nodes_and_own_statements_keep_the_stack_order() -> None:
    tree = ast.parse(SAMPLE)
    for func in (n for n in walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))):
        roots = list(iter_child_nodes(func))
        assert own_nodes(roots) == _reference_own_nodes(roots)
        assert own_nodes(func.body) == _reference_own_nodes(func.body)
        expected = [n for n in _reference_own_nodes(func.body) if isinstance(n, ast.stmt)]
        found = [n for n in sessions._own_statements(func) if isinstance(n, ast.stmt)]
        assert found == expected


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"])
def test_lines_are_counted_as_ast_counts_them(newline: bytes) -> None:
    data = SAMPLE.replace(b"\n", newline)
    tree = ast.parse(data)
    facts = FileFacts(path="m.py", module="m", source=data)
    yields = [n.lineno for n in walk(tree) if isinstance(n, ast.Yield)]
    assert yields and all(source_lines.lines_hold(facts, b"yield", y, y) for y in yields)
    dispatch = tree.body[-1]
    assert isinstance(dispatch, ast.FunctionDef)
    assert not source_lines.definition_holds(facts, dispatch, b"yield")
    assert source_lines.definition_holds(facts, tree.body[2], b"yield")  # class Repo
    source_lines.forget()


def test_no_line_test_where_lines_or_names_may_differ() -> None:
    tree = ast.parse(SAMPLE)
    dispatch = tree.body[-1]
    assert isinstance(dispatch, ast.FunctionDef)
    lowered = FileFacts(path="m.py", module="m", source=SAMPLE, lines_match=False)
    assert source_lines.definition_holds(lowered, dispatch, b"yield")
    # An identifier spelled outside ASCII may normalize (NFKC) to the name looked for.
    data = "def f():\n    x: \uff33ession = 1\n\ndef g():\n    return 1\n".encode()
    tree = ast.parse(data)
    assert isinstance(tree.body[0].body[0].annotation, ast.Name)  # type: ignore[attr-defined]
    assert tree.body[0].body[0].annotation.id == "Session"  # type: ignore[attr-defined]
    wide = FileFacts(path="m.py", module="m", source=data)
    assert source_lines.name_lines_hold(wide, b"Session", tree.body[0])
    assert not source_lines.name_lines_hold(wide, b"Session", tree.body[1])
    assert not source_lines.lines_hold(wide, b"Session", 1, 2)  # as bytes: not there
    source_lines.forget()


def test_a_walk_holding_names_skips_only_statements_without_them() -> None:
    data = SAMPLE + b"@register(Depends(get_db))\ndef route():\n    return 1\n"
    tree = ast.parse(data)
    facts = FileFacts(path="m.py", module="m", source=data)
    kept = list(source_lines.walk_holding(facts, tree, (b"Depends",)))
    every = list(walk(tree))
    assert kept == [n for n in every if n in kept]  # the walk's order
    calls = [n for n in every if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "Depends"]
    assert calls and all(call in kept for call in calls)  # in a decorator, above `def`
    assert len(kept) < len(every) / 3
    source_lines.forget()


def test_a_generator_on_carriage_return_lines_is_still_one() -> None:
    data = b"async def stream():\r    yield 1\r\rasync def plain():\r    return 1\r"
    facts = collect_facts("m.py", data)
    assert sessions.async_def_kinds.of(facts) == {"stream": "generator"}


def test_each_trigger_token_is_searched_as_any_would() -> None:
    every = [tokens for tokens in COLLECTOR_TRIGGERS.values()]
    for data in (SAMPLE, b"", b"AsyncSession(x)", b"Session yield Depends", b"sessionmaker"):
        test = _TokenTest(data)
        assert [test.any(t) for t in every] == [any(x in data for x in t) for t in every]
