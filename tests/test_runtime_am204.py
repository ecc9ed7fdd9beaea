"""AM204 at run time, on SQLite through aiosqlite: the input loses its commit (and its
misplaced `await` raises), the output of asyncmend's own fix commits and reads back."""

from __future__ import annotations

import asyncio
import gc
import shutil
import warnings
from pathlib import Path
from types import ModuleType

import pytest
from fix_and_load import load
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from asyncmend.engine import run

SOURCE = """\
from sqlalchemy import String, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Note(Base):
    __tablename__ = "notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(String(200))


async def save_note(session: AsyncSession, text: str) -> None:
    session.add(Note(text=text))
    session.commit()


async def latest_text(session: AsyncSession) -> str | None:
    return await session.execute(select(Note.text).order_by(Note.id.desc())).scalars().first()
"""


async def _save_then_read(module: ModuleType, url: str) -> list[str]:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(module.Base.metadata.create_all)
        factory = async_sessionmaker(engine)
        async with factory() as session:
            await module.save_note(session, "hello")
        async with factory() as fresh:
            return list((await fresh.execute(select(module.Note.text))).scalars())
    finally:
        await engine.dispose()


async def _latest(module: ModuleType, url: str) -> str | None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(module.Base.metadata.create_all)
            await conn.execute(module.Note.__table__.insert().values(text="stored"))
        async with async_sessionmaker(engine)() as session:
            return await module.latest_text(session)
    finally:
        await engine.dispose()


@pytest.fixture
def versions(tmp_path: Path) -> tuple[Path, Path]:
    """The input, and its copy fixed by asyncmend (AM204 only)."""
    original = tmp_path / "before" / "notes.py"
    original.parent.mkdir()
    original.write_text(SOURCE)
    fixed_dir = tmp_path / "after"
    shutil.copytree(original.parent, fixed_dir)
    report = run([str(fixed_dir)], select=["AM204"], fix=True, jobs=1)
    assert not report.internal_errors
    assert sorted(f.line for f in report.findings) == [19, 23]
    assert report.apply().written == [str(fixed_dir / "notes.py")]
    fixed = fixed_dir / "notes.py"
    assert fixed.read_text() != SOURCE
    return original, fixed


def test_unawaited_commit_loses_the_row_and_the_fix_commits_it(
    versions: tuple[Path, Path], tmp_path: Path
) -> None:
    original, fixed = versions
    before = load(original, "am204_runtime_before")
    after = load(fixed, "am204_runtime_after")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "coroutine ... was never awaited"
        lost = asyncio.run(_save_then_read(before, f"sqlite+aiosqlite:///{tmp_path}/before.db"))
        gc.collect()
    assert lost == []
    kept = asyncio.run(_save_then_read(after, f"sqlite+aiosqlite:///{tmp_path}/after.db"))
    assert kept == ["hello"]


def test_misplaced_await_raises_and_the_fix_reads_the_row(
    versions: tuple[Path, Path], tmp_path: Path
) -> None:
    original, fixed = versions
    before = load(original, "am204_runtime_before_read")
    after = load(fixed, "am204_runtime_after_read")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.raises(AttributeError, match="scalars"):
            asyncio.run(_latest(before, f"sqlite+aiosqlite:///{tmp_path}/before-read.db"))
        gc.collect()  # the dropped coroutine warns here, inside the filter
    assert asyncio.run(_latest(after, f"sqlite+aiosqlite:///{tmp_path}/after-read.db")) == "stored"
