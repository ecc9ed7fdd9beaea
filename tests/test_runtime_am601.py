"""AM601 at run time, on SQLite through aiosqlite: a relationship read from an object
loaded without a loader option fails with ``MissingGreenlet`` (the implicit lazy load
runs outside SQLAlchemy's greenlet); asyncmend's fix adds ``selectinload`` to the
statement that loaded it, and the same code returns the related rows.

The module below is fixed by asyncmend itself (``run(..., fix=True, unsafe_fixes=True)``),
then both versions are imported with importlib and run.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from fix_and_load import load
from sqlalchemy.exc import MissingGreenlet, StatementError

from asyncmend.engine import run

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the failed lazy load

SOURCE = '''\
"""Users and their posts."""

from sqlalchemy import ForeignKey, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]
    posts: Mapped[list["Post"]] = relationship(back_populates="author", order_by="Post.id")


class Post(Base):
    __tablename__ = "posts"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str]
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    author: Mapped[User] = relationship(back_populates="posts")


async def setup() -> async_sessionmaker[AsyncSession]:
    engine = create_async_engine("sqlite+aiosqlite://")
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    factory = async_sessionmaker(engine, expire_on_commit=False)
    async with factory() as session:
        ada = User(name="ada", posts=[Post(title="engines"), Post(title="notes")])
        session.add_all([ada, User(name="bob")])
        await session.commit()
    return factory


async def post_titles(session: AsyncSession, name: str) -> list[str]:
    user = (await session.execute(select(User).where(User.name == name))).scalar_one()
    return [post.title for post in user.posts]


async def post_counts(session: AsyncSession) -> dict[str, int]:
    users = (await session.scalars(select(User).order_by(User.id))).all()
    return {user.name: len(user.posts) for user in users}


async def main(which: str) -> object:
    factory = await setup()
    async with factory() as session:
        if which == "titles":
            return await post_titles(session, "ada")
        return await post_counts(session)
'''


def _write(tmp_path: Path, folder: str) -> Path:
    path = tmp_path / folder / f"blog_{folder}.py"
    path.parent.mkdir()
    path.write_text(SOURCE, encoding="utf-8")
    return path


@pytest.mark.parametrize("which", ["titles", "counts"])
def test_lazy_load_fails_with_missing_greenlet(tmp_path: Path, which: str) -> None:
    module = load(_write(tmp_path, "original"), f"asyncmend_am601_original_{which}")
    with pytest.raises((MissingGreenlet, StatementError)) as raised:
        asyncio.run(module.main(which))
    error = raised.value
    assert isinstance(getattr(error, "orig", error), MissingGreenlet), error


def test_fixed_statements_load_the_relationship(tmp_path: Path) -> None:
    path = _write(tmp_path, "fixed")
    report = run([str(path)], select=["AM601"], preview=True, fix=True, unsafe_fixes=True, jobs=1)
    assert [f.code for f in report.findings] == ["AM601", "AM601"]
    assert report.apply().written == [str(path)]
    text = path.read_text("utf-8")
    assert "select(User).where(User.name == name).options(selectinload(User.posts))" in text
    assert "select(User).order_by(User.id).options(selectinload(User.posts))" in text
    assert (
        "from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, selectinload"
        in text
    )

    module = load(path, "asyncmend_am601_fixed")
    assert asyncio.run(module.main("titles")) == ["engines", "notes"]
    assert asyncio.run(module.main("counts")) == {"ada": 2, "bob": 0}
    again = run([str(path)], select=["AM601"], preview=True, fix=True, unsafe_fixes=True, jobs=1)
    assert not again.findings
