"""Pass 1 reads files the running Python's ``ast`` rejects (through libcst, lowered),
and the lowering changes nothing in files ``ast`` accepts: one collector per fact,
whatever the syntax."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from asyncmend.codemods.facts.lowering import lowered
from asyncmend.codemods.facts.sessions import session_dependencies
from asyncmend.engine.index import collect_facts

ROOT = Path(__file__).resolve().parent.parent
FIXTURE_FILES = sorted((ROOT / "fixtures").rglob("*.py"))

NEWER_SYNTAX = b"""
from collections.abc import AsyncIterator

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

engine = create_async_engine("sqlite+aiosqlite://")
async_session = async_sessionmaker(engine, expire_on_commit=False)
type Rows[T] = list[T]


async def get_session() -> AsyncIterator[AsyncSession]:
    async with async_session() as session:
        yield session


async def first[T](rows: Rows[T]) -> T:
    try:
        return rows[0]
    except IndexError, KeyError:
        raise LookupError("empty") from None


class Repository[M]:
    async def save(self, session: AsyncSession, item: M) -> None:
        session.add(item)
        await session.commit()
"""


def test_newer_syntax_is_lowered() -> None:
    tree = lowered(NEWER_SYNTAX)
    assert tree is not None
    names = {n.name for n in ast.walk(tree) if isinstance(n, ast.AsyncFunctionDef)}
    assert names == {"get_session", "first", "save"}


def test_newer_syntax_keeps_its_facts() -> None:
    """On Pythons before 3.14 ``ast`` rejects this file (PEP 758); pass 1 still reads it."""
    facts = collect_facts("app/db.py", NEWER_SYNTAX)
    assert set(facts.async_defs) >= {"get_session", "first", "Repository.save"}
    assert facts.sessionmakers["async_session"] == {"async": True, "expire_on_commit": False}
    assert "get_session" in session_dependencies.of(facts)


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_lowering_is_identity_where_ast_reads_the_file(path: Path) -> None:
    data = path.read_bytes()
    try:
        expected = ast.parse(data)
    except SyntaxError:
        pytest.skip("not a file the running Python reads")
    tree = lowered(data)
    assert tree is not None
    assert ast.dump(tree, include_attributes=True) == ast.dump(expected, include_attributes=True)
