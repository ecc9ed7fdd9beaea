"""False negatives seen on real code: sessions from a database object's method (AM201)."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.models import Row


class Database:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    @asynccontextmanager
    async def session_context(self) -> AsyncIterator[AsyncSession]:
        async with AsyncSession(self.engine) as session:
            yield session


async def count_rows(session: AsyncSession, queue_id: int) -> int:
    return await session.scalar(select(func.count()).where(Row.queue_id == queue_id))


async def read_rows(session: AsyncSession, queue_id: int) -> list[Row]:
    return list(await session.scalars(select(Row).where(Row.queue_id == queue_id)))


async def queue_page(db: Database, queue_id: int) -> tuple[int, list[Row]]:
    async with db.session_context() as session:
        total, rows = await asyncio.gather(  # expect: AM201
            count_rows(session=session, queue_id=queue_id),
            read_rows(session=session, queue_id=queue_id),
        )
    return total, rows
