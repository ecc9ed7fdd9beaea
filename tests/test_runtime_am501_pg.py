"""AM501 at run time, on PostgreSQL: two transfers in opposite directions deadlock with
the input (PostgreSQL aborts one with DeadlockDetectedError) and always complete, with
balances conserved, once asyncmend has fixed the code."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import ModuleType

import pytest
from conftest_pg import postgres_url  # noqa: F401  (the fixture)
from fix_and_load import RUNTIME, fixed_copy, load

asyncpg = pytest.importorskip("asyncpg")
sqlalchemy_asyncio = pytest.importorskip("sqlalchemy.ext.asyncio")

TRIALS = 4
#: Pause after every row lock, so both transactions hold their first lock before either
#: asks for its second (what a slow network or a busy server does by chance).
PAUSE = 0.2
START = 100


def _is_deadlock(exc: BaseException) -> bool:
    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, asyncpg.exceptions.DeadlockDetectedError):
            return True
        if getattr(current, "sqlstate", None) == "40P01":
            return True
        stack += [getattr(current, "orig", None), current.__cause__, current.__context__]
    return False


Outcome = tuple[list[BaseException | None], dict[int, int]]


async def _trials(module: ModuleType, url: str) -> list[Outcome]:
    """Run TRIALS rounds of transfer(1 -> 2, 30) against transfer(2 -> 1, 10); each round
    gives the two results (None or the exception) and the balances afterwards."""
    from sqlalchemy import delete, func, select
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

    class PausingSession(AsyncSession):
        async def get(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            row = await super().get(*args, **kwargs)
            if kwargs.get("with_for_update"):
                await asyncio.sleep(PAUSE)
            return row

    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(module.Base.metadata.drop_all)
            await conn.run_sync(module.Base.metadata.create_all)
        sessions = async_sessionmaker(engine, class_=PausingSession, expire_on_commit=False)
        Account = module.Account
        outcomes: list[Outcome] = []
        for _ in range(TRIALS):
            async with sessions() as session:
                await session.execute(delete(Account))
                session.add_all([Account(id=1, balance=START), Account(id=2, balance=START)])
                await session.commit()

            async def move(from_id: int, to_id: int, amount: int) -> None:
                async with sessions() as session:
                    await module.transfer(session, from_id, to_id, amount)

            results = await asyncio.wait_for(
                asyncio.gather(move(1, 2, 30), move(2, 1, 10), return_exceptions=True), 30
            )
            async with sessions() as session:
                total = await session.scalar(select(func.sum(Account.balance)))
                assert total == 2 * START, "money was created or destroyed"
                rows = (await session.execute(select(Account.id, Account.balance))).all()
            errors = [r if isinstance(r, BaseException) else None for r in results]
            outcomes.append((errors, dict(rows)))
        return outcomes
    finally:
        await engine.dispose()


def test_input_deadlocks_and_fixed_output_completes(postgres_url: str, tmp_path: Path) -> None:  # noqa: F811
    source = RUNTIME / "am501_bank.py"
    original = load(source, "am501_bank_input")
    outcomes = asyncio.run(_trials(original, postgres_url))
    for trial, _ in outcomes:
        errors = [e for e in trial if e is not None]
        assert errors, "the input did not deadlock in this trial"
        assert all(_is_deadlock(e) for e in errors), errors

    fixed = load(fixed_copy(source, "AM501", tmp_path / "fixed"), "am501_bank_fixed")
    assert "sorted(" in Path(fixed.__file__).read_text()
    outcomes = asyncio.run(_trials(fixed, postgres_url))
    for trial, balances in outcomes:
        assert trial == [None, None], trial
        assert balances == {1: START - 30 + 10, 2: START + 30 - 10}
