"""False negative seen on real code: a session from a method of an object a factory returned (AM201)."""

import asyncio
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine


async def count(session: AsyncSession) -> int:
    return await session.scalar(text("select 1"))


class Adapter:
    def __init__(self, url: str) -> None:
        self.factory = async_sessionmaker(create_async_engine(url), expire_on_commit=False)

    @asynccontextmanager
    async def get_async_session(self) -> AsyncGenerator[AsyncSession, None]:
        async with self.factory() as session:
            yield session


def get_adapter() -> Adapter:
    return Adapter("sqlite+aiosqlite://")


async def by_param(adapter: Adapter) -> list[int]:
    async with adapter.get_async_session() as session:
        return await asyncio.gather(count(session), count(session))  # expect: AM201


async def by_factory() -> list[int]:
    adapter = get_adapter()
    async with adapter.get_async_session() as session:
        return await asyncio.gather(count(session), count(session))  # expect: AM201
