"""AM105 at run time, with the installed FastAPI and a real app (TestClient): a yield
dependency whose ``except`` swallows the route's error turns the route's 404 into an
anonymous 500 (FastAPI >= 0.110 raises ``FastAPIError: Response not awaited``); after
asyncmend's fix (``raise`` at the end of the handler) the client gets the route's 404
and the dependency still rolled back, on SQLite through aiosqlite.

The module below is fixed by asyncmend itself, then both versions are imported.
"""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from fix_and_load import load, write_module

from asyncmend.engine import run

SOURCE = '''\
"""Items API with a request-scoped session that rolls back on failure."""

from collections.abc import AsyncIterator

from fastapi import Depends, FastAPI, HTTPException
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

engine = create_async_engine("sqlite+aiosqlite://")
async_session = async_sessionmaker(engine, expire_on_commit=False)
app = FastAPI()
rollbacks: list[str] = []


async def get_session() -> AsyncIterator[AsyncSession]:
    async with async_session() as session:
        try:
            yield session
        except Exception as exc:
            await session.rollback()
            rollbacks.append(type(exc).__name__)


@app.get("/items/{item_id}")
async def read_item(item_id: int, session: AsyncSession = Depends(get_session)) -> dict:
    found = (await session.execute(text("SELECT 1 WHERE :id = 1"), {"id": item_id})).scalar()
    if found is None:
        raise HTTPException(status_code=404, detail="item not found")
    return {"id": item_id}
'''


def _write(tmp_path: Path, folder: str) -> Path:
    return write_module(tmp_path / folder, f"items_{folder}", SOURCE)


def test_swallowing_dependency_turns_404_into_500(tmp_path: Path) -> None:
    module = load(_write(tmp_path, "original"), "asyncmend_am105_original")
    with TestClient(module.app, raise_server_exceptions=False) as client:
        assert client.get("/items/1").status_code == 200
        response = client.get("/items/2")
    assert response.status_code == 500
    assert module.rollbacks == ["HTTPException"]


def test_fixed_dependency_lets_the_routes_404_through(tmp_path: Path) -> None:
    path = _write(tmp_path, "fixed")
    report = run([str(path)], select=["AM105"], preview=True, fix=True, jobs=1)
    assert [(f.code, f.line) for f in report.findings] == [("AM105", 19)]
    assert report.apply().written == [str(path)]
    assert "rollbacks.append(type(exc).__name__)\n            raise\n" in path.read_text("utf-8")

    module = load(path, "asyncmend_am105_fixed")
    with TestClient(module.app, raise_server_exceptions=True) as client:
        assert client.get("/items/1").status_code == 200
        response = client.get("/items/2")
    assert response.status_code == 404
    assert response.json() == {"detail": "item not found"}
    assert module.rollbacks == ["HTTPException"]
