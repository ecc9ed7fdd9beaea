"""Pass 1's speed and memory helpers change no fact: the walk visits what ``ast.walk``
visits (less the load/store context leaves) in the same order, and the repo index
keeps each file's facts compact without changing what a rule reads from them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from asyncmend.codemods.facts.base import iter_child_nodes, walk
from asyncmend.codemods.facts.sessions import async_def_kinds, session_returners
from asyncmend.engine.index import RepoIndex, collect_facts

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted((ROOT / "fixtures").rglob("*.py")) + sorted((ROOT / "codemods").rglob("*.py"))


def _without_context(nodes: list[ast.AST]) -> list[ast.AST]:
    return [node for node in nodes if not isinstance(node, ast.expr_context)]


@pytest.mark.parametrize("path", SOURCES[::7], ids=lambda p: str(p.relative_to(ROOT)))
def test_walk_is_ast_walk_in_the_same_order(path: Path) -> None:
    try:
        tree = ast.parse(path.read_bytes())
    except SyntaxError:
        pytest.skip("not readable by this Python's ast")
    expected = _without_context(list(ast.walk(tree)))
    got = list(walk(tree))
    assert len(got) == len(expected)
    assert all(a is b for a, b in zip(got, expected, strict=True))
    for node in expected:
        assert list(iter_child_nodes(node)) == _without_context(list(ast.iter_child_nodes(node)))


def test_walk_reaches_import_aliases_and_match_patterns() -> None:
    tree = ast.parse(
        "import a as b\nfrom c import d\nmatch x:\n    case P(k=1) | [*_]:\n        global g\n"
    )
    kinds = {type(node).__name__ for node in walk(tree)}
    assert {"alias", "MatchClass", "MatchOr", "MatchSequence", "MatchStar", "Global"} <= kinds


SOURCE = b"""
from typing import Optional
from sqlalchemy.ext.asyncio import AsyncSession


class Repo:
    async def session(self) -> AsyncSession:
        return self._session


async def plain() -> Optional[int]:
    return 1
"""


def test_index_interns_names_and_drops_empty_facts() -> None:
    one = collect_facts("pkg/one.py", SOURCE)
    two = collect_facts("pkg/two.py", SOURCE)
    assert "function_summaries" in one.extra or "async_def_kinds" in one.extra
    empty = [name for name, value in one.extra.items() if not value]
    assert empty, "a collector found nothing here: its entry is what compaction drops"
    index = RepoIndex([one, two])
    for name in empty:
        assert name not in index.by_path["pkg/one.py"].extra
    # What a rule reads is unchanged.
    assert session_returners.of(index.by_path["pkg/one.py"]) == {"Repo.session": "session"}
    assert async_def_kinds.of(index.by_path["pkg/one.py"]) == {}
    # One copy of each name across files.
    target_one = index.by_path["pkg/one.py"].imports["Optional"]
    target_two = index.by_path["pkg/two.py"].imports["Optional"]
    assert target_one == "typing.Optional" and target_one is target_two
    assert index.by_path["pkg/one.py"].async_defs[0] is index.by_path["pkg/two.py"].async_defs[0]


def test_session_returners_without_a_maker_or_asyncsession_in_the_bytes() -> None:
    # "Session" triggers the collector; no maker and no `AsyncSession` call can make one.
    facts = collect_facts("m.py", b"from x import ClientSession\ndef f():\n    return g()\n")
    assert session_returners.of(facts) == {}
    made = collect_facts(
        "m.py",
        b"from sqlalchemy.ext.asyncio import AsyncSession\n"
        b"def f(engine):\n    return AsyncSession(engine)\n",
    )
    assert session_returners.of(made) == {"f": "session"}
