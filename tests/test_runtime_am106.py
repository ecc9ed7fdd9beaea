"""AM106 at run time, with the installed FastAPI (>= 0.121) and SQLite through
aiosqlite: a yield dependency that commits after its ``yield`` lets the client see a
``200`` for a row whose commit failed (a unique-constraint violation, raised after the
response was sent: the row is lost); after asyncmend's unsafe fix
(``Depends(get_session, scope="function")``) the commit runs before the response and the
client sees the failure (``500``).

The module below is fixed by asyncmend itself, then both versions are imported.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import ModuleType

import pytest
from fastapi.testclient import TestClient
from fix_and_load import load, write_module

from asyncmend.codemods.semantic.versions import has_at_least
from asyncmend.engine import run

SOURCE = '''\
"""Sign-ups: one user per email, committed by the request-scoped session."""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, FastAPI
from sqlalchemy import String, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.pool import StaticPool

engine = create_async_engine("sqlite+aiosqlite://", poolclass=StaticPool)
async_session = async_sessionmaker(engine, expire_on_commit=False)
app = FastAPI()


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(100), unique=True)


async def get_session() -> AsyncIterator[AsyncSession]:
    async with async_session() as session:
        yield session
        await session.commit()


SessionDep = Annotated[AsyncSession, Depends(get_session)]


@app.post("/signup")
async def signup(email: str, session: SessionDep) -> dict[str, str]:
    session.add(User(email=email))
    return {"email": email}


async def create_tables() -> None:
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)


async def user_count() -> int:
    async with async_session() as session:
        return await session.scalar(select(func.count()).select_from(User))
'''

pytestmark = pytest.mark.skipif(
    not has_at_least("fastapi", 0, 121), reason='Depends(scope="function") needs FastAPI 0.121'
)


def _load_with_tables(path: Path, name: str) -> ModuleType:
    module = load(path, name)
    asyncio.run(module.create_tables())
    return module


def _write(tmp_path: Path, folder: str) -> Path:
    return write_module(tmp_path / folder, f"signup_{folder}", SOURCE)


def _sign_up_twice(module: ModuleType) -> list[int]:
    with TestClient(module.app, raise_server_exceptions=False) as client:
        return [client.post("/signup", params={"email": "a@example.com"}).status_code
                for _ in range(2)]  # fmt: skip


def test_commit_after_yield_reports_success_for_a_failed_commit(tmp_path: Path) -> None:
    module = _load_with_tables(_write(tmp_path, "original"), "asyncmend_am106_original")
    assert _sign_up_twice(module) == [200, 200]  # the second commit failed after the 200
    assert asyncio.run(module.user_count()) == 1


def test_function_scope_reports_the_failed_commit(tmp_path: Path) -> None:
    path = _write(tmp_path, "fixed")
    report = run([str(path)], select=["AM106"], preview=True, fix=True, unsafe_fixes=True, jobs=1)
    assert [(f.code, f.line) for f in report.findings] == [("AM106", 30)]
    assert report.apply().written == [str(path)]
    assert 'Depends(get_session, scope="function")' in path.read_text("utf-8")

    module = _load_with_tables(path, "asyncmend_am106_fixed")
    assert _sign_up_twice(module) == [200, 500]
    assert asyncio.run(module.user_count()) == 1
