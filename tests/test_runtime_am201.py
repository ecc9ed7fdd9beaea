"""AM201 at run time, on SQLite through aiosqlite: ``asyncio.gather`` over one
``AsyncSession`` fails (SQLAlchemy refuses concurrent operations on a session), and the
code asyncmend's fix produces returns the same results the gather was meant to."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from types import ModuleType

from fix_and_load import load
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from asyncmend.engine import run

SOURCE = """\
import asyncio

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine


async def scalar(session: AsyncSession, n: int) -> int:
    return (await session.execute(text(f"select {n} * 10"))).scalar_one()


async def both(session: AsyncSession) -> tuple[int, int]:
    first, second = await asyncio.gather(scalar(session, 1), scalar(session=session, n=2))
    return first, second


async def main() -> tuple[int, int]:
    engine = create_async_engine("sqlite+aiosqlite://")
    try:
        async with async_sessionmaker(engine)() as session:
            return await both(session)
    finally:
        await engine.dispose()
"""


def test_fixed_gather_returns_the_same_results(tmp_path: Path) -> None:
    path = tmp_path / "stats_fixed.py"
    path.write_text(SOURCE, encoding="utf-8")
    report = run([str(path)], select=["AM201"], fix=True, jobs=1)
    assert [f.code for f in report.findings] == ["AM201"]
    report.apply()
    fixed = path.read_text(encoding="utf-8")
    assert "gather" not in fixed
    assert (
        "    first = await scalar(session, 1)\n    second = await scalar(session=session, n=2)\n"
        in fixed
    )

    assert asyncio.run(load(path, "asyncmend_runtime_am201_fixed").main()) == (10, 20)


async def _run_both(module: ModuleType) -> BaseException | tuple[int, int]:
    """Call ``both`` on a fresh session; return its result or the error it raised, after
    letting the other gathered coroutine end (gather does not cancel it)."""
    engine = create_async_engine("sqlite+aiosqlite://")
    session = async_sessionmaker(engine)()
    try:
        return await module.both(session)
    except Exception as error:
        current = asyncio.current_task()
        others = [task for task in asyncio.all_tasks() if task is not current]
        await asyncio.gather(*others, return_exceptions=True)
        return error
    finally:
        with contextlib.suppress(sa_exc.InvalidRequestError):
            await session.close()
        await engine.dispose()


def test_original_gather_fails_on_a_shared_session(tmp_path: Path) -> None:
    path = tmp_path / "stats_original.py"
    path.write_text(SOURCE, encoding="utf-8")
    outcome = asyncio.run(_run_both(load(path, "asyncmend_runtime_am201_original")))
    assert isinstance(outcome, sa_exc.InvalidRequestError)
    assert "concurrent operations are not permitted" in str(outcome)
