"""Runtime proofs for AM301-AM304 against SQLite (aiosqlite): the input fails
the way the rule says, and the output of asyncmend's own fix works.

Each module is written to a temp file, fixed by ``asyncmend.engine.run(..., fix=True)``
and ``report.apply()`` (never by hand), loaded with importlib and run with asyncio.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from types import ModuleType

import pytest
from fix_and_load import load
from sqlalchemy.exc import MissingGreenlet, PendingRollbackError, StatementError

from asyncmend.engine import run

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the failed lazy load

MODELS = """
from sqlalchemy import String, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(100))


async def setup(url: str) -> async_sessionmaker[AsyncSession]:
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    return async_sessionmaker(engine)


async def emails(factory: async_sessionmaker[AsyncSession]) -> list[str]:
    async with factory() as reader:
        return list(await reader.scalars(select(User.email).order_by(User.id)))
"""

READ_AFTER_COMMIT = (
    MODELS
    + """

async def rename(session: AsyncSession, user_id: int, name: str) -> str:
    user = await session.get(User, user_id)
    if user is None:
        raise LookupError(user_id)
    user.name = name
    await session.commit()
    return user.name


async def main(url: str) -> str:
    factory = await setup(url)
    async with factory() as seeding:
        seeding.add(User(email="ada@example.com", name="Ada"))
        await seeding.commit()
    async with factory() as request_session:
        return await rename(request_session, 1, "Ada Lovelace")
"""
)

SWALLOWED_FAILED_COMMIT = (
    MODELS
    + """

async def import_users(session: AsyncSession, rows: list[tuple[str, str]]) -> int:
    imported = 0
    for email, name in rows:
        session.add(User(email=email, name=name))
        try:
            await session.commit()
            imported += 1
        except IntegrityError:
            continue  # duplicate e-mail: skip the row
    return imported


ROWS = [
    ("ada@example.com", "Ada"),
    ("alan@example.com", "Alan"),
    ("ada@example.com", "Ada again"),
    ("grace@example.com", "Grace"),
    ("edsger@example.com", "Edsger"),
]


async def main(url: str) -> tuple[int, list[str]]:
    factory = await setup(url)
    async with factory() as session:
        imported = await import_users(session, ROWS)
    return imported, await emails(factory)
"""
)


def _write(folder: Path, source: str) -> Path:
    folder.mkdir(parents=True)
    path = folder / "service.py"
    path.write_text(source)
    return path


def _fixed_by_asyncmend(
    tmp_path: Path, source: str, code: str, *, unsafe: bool = False
) -> tuple[Path, Path]:
    """The original file and a copy fixed by asyncmend's Python API (``code`` only)."""
    original = _write(tmp_path / "original", source)
    fixed = _write(tmp_path / "fixed", source)
    report = run(
        [str(fixed.parent)], select=[code], fix=True, unsafe_fixes=unsafe, preview=True, jobs=1
    )
    assert not report.internal_errors, report.internal_errors
    assert [f.code for f in report.findings] == [code]
    report.apply()
    assert fixed.read_text() != source, "asyncmend did not change the file"
    again = run(
        [str(fixed.parent)], select=[code], fix=True, unsafe_fixes=unsafe, preview=True, jobs=1
    )
    assert not again.findings, "the fixed file still has findings"
    return original, fixed


def _url(tmp_path: Path, label: str) -> str:
    folder = tmp_path / f"db_{label}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    return f"sqlite+aiosqlite:///{folder}/x.db"


def test_am303_input_raises_missing_greenlet_and_fix_returns_value(tmp_path: Path) -> None:
    original, fixed = _fixed_by_asyncmend(tmp_path, READ_AFTER_COMMIT, "AM303")
    assert "await session.refresh(user)" in fixed.read_text()

    before = load(original, "am303_before")
    with pytest.raises((MissingGreenlet, StatementError)) as raised:
        asyncio.run(before.main(_url(tmp_path, "before")))
    # SQLAlchemy 2.1 wraps it in a StatementError naming the implicit SELECT.
    error = raised.value
    assert isinstance(getattr(error, "orig", error), MissingGreenlet), error

    after = load(fixed, "am303_after")
    assert asyncio.run(after.main(_url(tmp_path, "after"))) == "Ada Lovelace"


def test_am301_input_raises_pending_rollback_and_fix_imports_the_rest(tmp_path: Path) -> None:
    original, fixed = _fixed_by_asyncmend(tmp_path, SWALLOWED_FAILED_COMMIT, "AM301")
    assert "await session.rollback()" in fixed.read_text()

    before = load(original, "am301_before")
    with pytest.raises(PendingRollbackError):
        asyncio.run(before.main(_url(tmp_path, "before")))

    after = load(fixed, "am301_after")
    imported, emails = asyncio.run(after.main(_url(tmp_path, "after")))
    assert imported == 4
    assert emails == [
        "ada@example.com",
        "alan@example.com",
        "grace@example.com",
        "edsger@example.com",
    ]


SWALLOWED_IN_SAVEPOINT = (
    MODELS
    + """

async def register(session: AsyncSession, email: str, alias: str) -> None:
    session.add(User(email=email, name=email))
    nested = await session.begin_nested()
    try:
        session.add(User(email=alias, name=alias))
        await session.flush()
    except IntegrityError:
        pass  # the alias is taken: register without it
    await session.commit()


async def main(url: str) -> list[str]:
    factory = await setup(url)
    async with factory() as seeding:
        seeding.add(User(email="taken@example.com", name="Taken"))
        await seeding.commit()
    async with factory() as session:
        await register(session, "ada@example.com", "taken@example.com")
    return await emails(factory)
"""
)


def test_am301_fix_in_a_savepoint_rolls_back_the_savepoint_and_keeps_earlier_work(
    tmp_path: Path,
) -> None:
    """Issue 12: rolling back the session here would lose the request's earlier work."""
    original, fixed = _fixed_by_asyncmend(tmp_path, SWALLOWED_IN_SAVEPOINT, "AM301")
    assert "await nested.rollback()" in fixed.read_text()
    assert "await session.rollback()" not in fixed.read_text()

    before = load(original, "am301_savepoint_before")
    with pytest.raises(PendingRollbackError):
        asyncio.run(before.main(_url(tmp_path, "before")))

    after = load(fixed, "am301_savepoint_after")
    assert asyncio.run(after.main(_url(tmp_path, "after"))) == [
        "taken@example.com",
        "ada@example.com",
    ]


UNCHECKED_SCALAR_ONE = (
    MODELS
    + """

from fastapi import APIRouter, Depends, FastAPI

router = APIRouter()
app = FastAPI()
FACTORY: list[async_sessionmaker[AsyncSession]] = []


async def get_session():
    async with FACTORY[0]() as session:
        yield session


@router.get("/users/{user_id}")
async def read_user(user_id: int, session: AsyncSession = Depends(get_session)) -> dict:
    result = await session.execute(select(User).where(User.id == user_id))
    user = result.scalar_one()
    return {"id": user.id, "email": user.email}


app.include_router(router)
"""
)


async def _get_statuses(module: ModuleType, url: str) -> list[int]:
    import httpx

    module.FACTORY.append(await module.setup(url))
    async with module.FACTORY[0]() as seeding:
        seeding.add(module.User(email="ada@example.com", name="Ada"))
        await seeding.commit()
    transport = httpx.ASGITransport(app=module.app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return [(await client.get(f"/users/{uid}")).status_code for uid in (1, 2)]


def test_am304_missing_row_is_a_500_before_and_a_404_after(tmp_path: Path) -> None:
    original, fixed = _fixed_by_asyncmend(tmp_path, UNCHECKED_SCALAR_ONE, "AM304", unsafe=True)
    assert "user = result.scalar_one_or_none()" in fixed.read_text()

    before = load(original, "am304_before")
    assert asyncio.run(_get_statuses(before, _url(tmp_path, "before"))) == [200, 500]

    after = load(fixed, "am304_after")
    assert asyncio.run(_get_statuses(after, _url(tmp_path, "after"))) == [200, 404]


SPLIT_COMMIT = (
    MODELS
    + """

async def register(session: AsyncSession, email: str, name: str, alias_email: str) -> None:
    session.add(User(email=email, name=name))
    await session.commit()
    session.add(User(email=alias_email, name=f"{name} (alias)"))
    await session.commit()


async def main(url: str) -> list[str]:
    factory = await setup(url)
    async with factory() as seeding:
        seeding.add(User(email="taken@example.com", name="Someone"))
        await seeding.commit()
    async with factory() as session:
        try:
            await register(session, "ada@example.com", "Ada", "taken@example.com")
        except IntegrityError:
            pass
    return await emails(factory)
"""
)


def test_am302_failure_after_the_first_commit_keeps_half_before_and_nothing_after(
    tmp_path: Path,
) -> None:
    original, fixed = _fixed_by_asyncmend(tmp_path, SPLIT_COMMIT, "AM302", unsafe=True)
    assert "await session.flush()" in fixed.read_text()

    before = load(original, "am302_before")
    assert asyncio.run(before.main(_url(tmp_path, "before"))) == [
        "taken@example.com",
        "ada@example.com",
    ]

    after = load(fixed, "am302_after")
    assert asyncio.run(after.main(_url(tmp_path, "after"))) == ["taken@example.com"]
