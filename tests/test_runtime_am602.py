"""AM602 at run time, on SQLite through aiosqlite: with the default lazy loader, a
relationship read that no query loaded is an implicit lazy load (a real SELECT under
``run_sync``; ``MissingGreenlet`` in async code); after asyncmend's fix
(``lazy="raise_on_sql"``) that read fails at once with an error naming the attribute,
while reads that a loader option or the identity map answer still return the right data.
And the rule's ``lazy`` setting: ``raise`` is written as set, anything else is a config
error (one line, exit 2).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from conftest import asyncmend
from fix_and_load import load
from sqlalchemy.exc import InvalidRequestError, MissingGreenlet, StatementError

from asyncmend.engine import run

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the failed lazy load

SOURCE = '''\
"""Users and their posts, served by async code only."""

from sqlalchemy import ForeignKey, event, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, selectinload

engine = create_async_engine("sqlite+aiosqlite://")
SessionLocal = async_sessionmaker(engine, expire_on_commit=False)
STATEMENTS: list[str] = []


@event.listens_for(engine.sync_engine, "before_cursor_execute")
def count(conn, cursor, statement, parameters, context, executemany):
    STATEMENTS.append(statement)


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    posts: Mapped[list["Post"]] = relationship(back_populates="author", order_by="Post.id")


class Post(Base):
    __tablename__ = "posts"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str]
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    author: Mapped[User] = relationship(back_populates="posts")


async def setup() -> None:
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    async with SessionLocal() as session:
        session.add(User(id=1, posts=[Post(title="engines"), Post(title="notes")]))
        await session.commit()


async def unloaded_read() -> int:
    async with SessionLocal() as session:
        user = await session.get(User, 1)
        return len(user.posts)


async def loaded_read() -> list[str]:
    async with SessionLocal() as session:
        query = select(User).options(selectinload(User.posts))
        user = (await session.scalars(query)).one()
        return [post.title for post in user.posts]


async def identity_map_read() -> int:
    async with SessionLocal() as session:
        user = await session.get(User, 1)
        post = (await session.scalars(select(Post).limit(1))).one()
        before = len(STATEMENTS)
        author = post.author
        assert len(STATEMENTS) == before, "the author came from the identity map"
        return author.id if author is user else 0
'''


def _write(tmp_path: Path, folder: str) -> Path:
    path = tmp_path / folder / f"blog_{folder}.py"
    path.parent.mkdir()
    path.write_text(SOURCE, encoding="utf-8")
    return path


def _is_missing_greenlet(error: BaseException) -> bool:
    return isinstance(getattr(error, "orig", error), MissingGreenlet)


def test_default_lazy_read_is_an_implicit_query(tmp_path: Path) -> None:
    module = load(_write(tmp_path, "original"), "asyncmend_am602_original")
    asyncio.run(module.setup())
    with pytest.raises((MissingGreenlet, StatementError)) as raised:
        asyncio.run(module.unloaded_read())
    assert _is_missing_greenlet(raised.value), raised.value
    assert asyncio.run(module.loaded_read()) == ["engines", "notes"]


def test_fixed_mapping_raises_at_the_read_and_keeps_loaded_data(tmp_path: Path) -> None:
    path = _write(tmp_path, "fixed")
    report = run([str(path)], select=["AM602"], preview=True, fix=True, unsafe_fixes=True, jobs=1)
    assert [f.code for f in report.findings] == ["AM602", "AM602"]
    report.apply()
    text = "".join(path.read_text("utf-8").split())  # the fix may split a long line
    assert 'relationship(back_populates="author",order_by="Post.id",lazy="raise_on_sql")' in text
    assert 'relationship(back_populates="posts",lazy="raise_on_sql")' in text

    module = load(path, "asyncmend_am602_fixed")
    asyncio.run(module.setup())
    statements = len(module.STATEMENTS)
    with pytest.raises(InvalidRequestError, match=r"User\.posts.*raise_on_sql"):
        asyncio.run(module.unloaded_read())
    assert len(module.STATEMENTS) == statements + 1, "only the get() ran: no implicit load"
    assert asyncio.run(module.loaded_read()) == ["engines", "notes"]
    assert asyncio.run(module.identity_map_read()) == 1


def test_setting_raise_is_written(tmp_path: Path) -> None:
    _write(tmp_path, "strict")
    (tmp_path / "pyproject.toml").write_text('[tool.asyncmend.AM602]\nlazy = "raise"\n')
    result = asyncmend("fix", "--preview", "--unsafe-fixes", "--select", "AM602", ".", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    text = (tmp_path / "strict" / "blog_strict.py").read_text("utf-8")
    assert text.count('lazy="raise"') == 2 and "raise_on_sql" not in text


@pytest.mark.parametrize(
    ("value", "message"),
    [('"joined"', "expected one of 'raise', 'raise_on_sql'"), ("true", "expected str")],
)
def test_bad_setting_is_one_line_and_exit_2(tmp_path: Path, value: str, message: str) -> None:
    _write(tmp_path, "bad")
    (tmp_path / "pyproject.toml").write_text(f"[tool.asyncmend.AM602]\nlazy = {value}\n")
    result = asyncmend("check", "--preview", ".", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
