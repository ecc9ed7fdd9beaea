"""AM206 at run time, on SQLite through aiosqlite: a listener registered on the
``AsyncEngine`` makes the module fail at import (SQLAlchemy raises
``NotImplementedError``); asyncmend's fix registers it on ``engine.sync_engine``, where
it runs on every new connection (the pragma it sets is visible to queries).

The module below is fixed by asyncmend itself (``run(..., fix=True)``), then both
versions are imported with importlib and run.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from fix_and_load import load, write_module

from asyncmend.engine import run

SOURCE = '''\
"""The database engine, with foreign keys enforced on every SQLite connection."""

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import create_async_engine

engine = create_async_engine("sqlite+aiosqlite://")


@event.listens_for(engine, "connect")
def enable_foreign_keys(dbapi_connection, connection_record):
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


async def foreign_keys_enforced() -> int:
    async with engine.connect() as conn:
        return (await conn.execute(text("PRAGMA foreign_keys"))).scalar_one()
'''


def _write(tmp_path: Path, folder: str) -> Path:
    return write_module(tmp_path / folder, f"db_{folder}", SOURCE)


def test_listener_on_async_engine_fails_at_import(tmp_path: Path) -> None:
    with pytest.raises(NotImplementedError, match="asynchronous events are not implemented"):
        load(_write(tmp_path, "original"), "asyncmend_am206_original")


def test_fixed_listener_runs_on_each_connection(tmp_path: Path) -> None:
    path = _write(tmp_path, "fixed")
    report = run([str(path)], select=["AM206"], preview=True, fix=True, jobs=1)
    assert [f.code for f in report.findings] == ["AM206"]
    assert report.apply().written == [str(path)]
    assert '@event.listens_for(engine.sync_engine, "connect")' in path.read_text("utf-8")

    module = load(path, "asyncmend_am206_fixed")
    assert asyncio.run(module.foreign_keys_enforced()) == 1
    asyncio.run(module.engine.dispose())


SESSION_SOURCE = '''\
"""An audit session that counts its commits."""

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

engine = create_async_engine("sqlite+aiosqlite://")
audit = AsyncSession(engine)


@event.listens_for(audit, "before_commit")
def count_commit(session):
    session.info["commits"] = session.info.get("commits", 0) + 1


async def commit_twice() -> int:
    for _ in range(2):
        await audit.execute(text("SELECT 1"))
        await audit.commit()
    await audit.close()
    return audit.sync_session.info["commits"]
'''


def test_listener_on_async_session_fails_at_import(tmp_path: Path) -> None:
    path = write_module(tmp_path / "original", "audit_original", SESSION_SOURCE)
    with pytest.raises(NotImplementedError, match="sync_session"):
        load(path, "asyncmend_am206_session_original")


def test_fixed_session_listener_runs_on_each_commit(tmp_path: Path) -> None:
    path = write_module(tmp_path / "fixed", "audit_fixed", SESSION_SOURCE)
    report = run([str(path)], select=["AM206"], preview=True, fix=True, jobs=1)
    assert [f.code for f in report.findings] == ["AM206"]
    assert report.apply().written == [str(path)]
    assert '@event.listens_for(audit.sync_session, "before_commit")' in path.read_text("utf-8")

    module = load(path, "asyncmend_am206_session_fixed")
    assert asyncio.run(module.commit_twice()) == 2
    asyncio.run(module.engine.dispose())


@pytest.mark.parametrize("target", ["class", "maker"])
def test_async_session_class_and_maker_have_no_events(target: str) -> None:
    """Why AM206 has no fix for these: SQLAlchemy knows no session event on them."""
    from sqlalchemy import event
    from sqlalchemy.exc import InvalidRequestError
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

    engine = create_async_engine("sqlite+aiosqlite://")
    obj = AsyncSession if target == "class" else async_sessionmaker(engine)
    with pytest.raises(InvalidRequestError, match="No such event"):
        event.listen(obj, "before_commit", lambda session: None)
