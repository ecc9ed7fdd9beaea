"""AM305 at run time, on SQLite through aiosqlite: a column the database fills on UPDATE
(`onupdate=text(...)`, `Computed`) or on INSERT (a server default, with
`eager_defaults=False`) is expired by the flush that wrote the row; reading it afterwards
fails with ``MissingGreenlet`` even with ``expire_on_commit=False``. asyncmend's fix
refreshes those columns right after the flush or commit, and the same code returns the
values the database made.

The module below is fixed by asyncmend itself (``run(..., fix=True)``), then both
versions are imported with importlib and run.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
from fix_and_load import load, write_module
from sqlalchemy.exc import MissingGreenlet, StatementError

from asyncmend.engine import run

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the failed lazy load

SOURCE = '''\
"""Articles with a revision counter and a slug the database computes; tickets whose
status is a server default."""

from sqlalchemy import Computed, String, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Article(Base):
    __tablename__ = "articles"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    revision: Mapped[int] = mapped_column(default=1, onupdate=text("revision + 1"))
    slug: Mapped[str] = mapped_column(String(200), Computed("lower(title)"))


class Ticket(Base):
    __tablename__ = "tickets"
    __mapper_args__ = {"eager_defaults": False}
    id: Mapped[int] = mapped_column(primary_key=True)
    subject: Mapped[str]
    status: Mapped[str] = mapped_column(server_default="open")


async def retitle(session: AsyncSession, article_id: int, title: str) -> tuple[int, str]:
    article = await session.get(Article, article_id)
    if article is None:
        raise LookupError(article_id)
    article.title = title
    await session.commit()
    return article.revision, article.slug


async def open_ticket(session: AsyncSession, subject: str) -> str:
    ticket = Ticket(subject=subject)
    session.add(ticket)
    await session.flush()
    status = ticket.status
    await session.commit()
    return status


async def main(which: str) -> object:
    engine = create_async_engine("sqlite+aiosqlite://")
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    factory = async_sessionmaker(engine, expire_on_commit=False)
    async with factory() as session:
        session.add(Article(id=1, title="Draft"))
        await session.commit()
    async with factory() as session:
        if which == "update":
            return await retitle(session, 1, "Final Title")
        return await open_ticket(session, "printer jam")
'''


@pytest.mark.parametrize("which", ["update", "insert"])
def test_generated_column_read_fails_with_missing_greenlet(tmp_path: Path, which: str) -> None:
    module = load(
        write_module(tmp_path / "original", "articles_original", SOURCE), f"am305_o_{which}"
    )
    with pytest.raises((MissingGreenlet, StatementError)) as raised:
        asyncio.run(module.main(which))
    error = raised.value
    assert isinstance(getattr(error, "orig", error), MissingGreenlet), error


def test_fixed_code_reads_what_the_database_made(tmp_path: Path) -> None:
    path = write_module(tmp_path / "fixed", "articles_fixed", SOURCE)
    report = run([str(path)], select=["AM305"], preview=True, fix=True, jobs=1)
    assert [f.code for f in report.findings] == ["AM305"] * 3
    assert report.apply().written == [str(path)]
    text = path.read_text("utf-8")
    assert (
        '    await session.commit()\n    await session.refresh(article, ["revision", "slug"])\n'
        in text
    )
    assert '    await session.flush()\n    await session.refresh(ticket, ["status"])\n' in text

    module = load(path, "am305_fixed")
    assert asyncio.run(module.main("update")) == (2, "final title")
    assert asyncio.run(module.main("insert")) == "open"
    again = run([str(path)], select=["AM305"], preview=True, fix=True, jobs=1)
    assert not again.findings and not again.changed


def test_no_read_is_reported_by_am303_and_am305(tmp_path: Path) -> None:
    """With expire_on_commit=True the read after the commit is AM303's, the read after
    the flush AM305's; each marked line is reported by its rule alone."""
    case = Path(__file__).resolve().parent.parent / "fixtures/rules/AM305/positive_split_with_am303"
    shutil.copytree(case, tmp_path / "case", ignore=shutil.ignore_patterns("*.expected.py"))
    service = tmp_path / "case" / "app" / "service.py"
    report = run([str(tmp_path / "case")], select=["AM303", "AM305"], preview=True, jobs=1)
    lines: dict[int, list[str]] = {}
    for finding in report.findings:
        assert Path(finding.path).name == "service.py", finding
        lines.setdefault(finding.line, []).append(finding.code)
    marked = {
        number: [line.rsplit("# expect: ", 1)[1].strip()]
        for number, line in enumerate(service.read_text("utf-8").splitlines(), start=1)
        if "# expect: " in line
    }
    assert lines == marked
    assert sorted(c for codes in marked.values() for c in codes) == ["AM303", "AM305"]
