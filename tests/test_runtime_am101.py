"""The AM101 fix, run for real: the demo's seeded bare session, before and after
``asyncmend fix``, against SQLite through aiosqlite. Same query results; the fixed code
gives its connection back, the original keeps it checked out."""

from __future__ import annotations

import asyncio
import gc
import importlib
import sys
from pathlib import Path

import pytest
from conftest import asyncmend


def _load_demo(root: Path, database: Path):  # type: ignore[no-untyped-def]
    """Import the demo package from ``root`` with its own engine on ``database``."""
    for name in [m for m in sys.modules if m == "app" or m.startswith("app.")]:
        del sys.modules[name]
    sys.path.insert(0, str(root))
    try:
        import os

        os.environ["DEMO_DATABASE_URL"] = f"sqlite+aiosqlite:///{database}"
        db = importlib.import_module("app.db")
        models = importlib.import_module("app.models")
        users = importlib.import_module("app.services.users")
    finally:
        sys.path.remove(str(root))
    return db, models, users


async def _exercise(db, models, users) -> tuple[list[tuple[int, str] | None], int]:  # type: ignore[no-untyped-def]
    async with db.engine.begin() as conn:
        await conn.run_sync(models.Base.metadata.create_all)
    async with db.async_session() as session:
        session.add_all(
            [
                models.User(email="ada@example.com", name="Ada"),
                models.User(email="alan@example.com", name="Alan"),
            ]
        )
        await session.commit()
    results = []
    gc.disable()  # a leaked session is only found by the cycle collector: keep it visible
    try:
        for email in ("ADA@example.com", "alan@example.com", "nobody@example.com"):
            user = await users.get_user_by_email(email)
            results.append((user.id, user.name) if user else None)
        checked_out = db.engine.pool.checkedout()
    finally:
        gc.enable()
        gc.collect()
        await db.engine.dispose()
    return results, checked_out


@pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_am101_fix_keeps_results_and_closes_the_session(demo_copy: Path, tmp_path: Path) -> None:
    before = asyncio.run(_exercise(*_load_demo(demo_copy, tmp_path / "before.db")))

    result = asyncmend("fix", "--select", "AM101", ".", cwd=demo_copy)
    assert result.returncode == 0, result.stdout + result.stderr
    source = (demo_copy / "app" / "services" / "users.py").read_text()
    assert "async with async_session() as session:" in source

    after = asyncio.run(_exercise(*_load_demo(demo_copy, tmp_path / "after.db")))

    assert before[0] == after[0] == [(1, "Ada"), (2, "Alan"), None]
    assert before[1] > 0, "the bare session should keep its connection checked out"
    assert after[1] == 0, "the fixed code must give every connection back"
