"""Peer: ruff/flake8-async ASYNC105 (trio coroutine not awaited); asyncio analogue. Ours: AM204."""

import asyncio


async def tick() -> None:
    asyncio.sleep(1)  # expect: AM204


async def local_coroutine() -> int:
    return 1


async def calls_local_coroutine_without_await() -> None:
    local_coroutine()  # expect: AM204


async def awaited() -> None:
    await asyncio.sleep(1)  # ok
    await local_coroutine()  # ok


async def scheduled_then_awaited() -> None:
    t = asyncio.ensure_future(asyncio.sleep(1))  # ok
    await t


def entry_point() -> None:
    asyncio.run(awaited())  # ok
