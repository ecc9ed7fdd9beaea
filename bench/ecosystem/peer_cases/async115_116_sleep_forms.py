"""Peers: ruff/flake8-async ASYNC115 (zero sleep) and ASYNC116 (very long sleep).

asyncmend has no rule for either (they are about trio/anyio idioms); every asyncio form
here is correct code and must stay silent.
"""

import asyncio


async def yield_to_loop() -> None:
    await asyncio.sleep(0)  # ok


async def park_for_days() -> None:
    await asyncio.sleep(86400 * 3)  # ok


async def sleep_with_result() -> str:
    return await asyncio.sleep(0, result="done")  # ok
