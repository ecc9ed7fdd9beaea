"""Peers: ruff/flake8-async ASYNC251 and Fixit UseAsyncSleepInAsyncDef. Ours: AM205 (fix)."""

import asyncio
import time
from time import sleep


async def backoff() -> None:
    time.sleep(0.5)  # expect: AM205


async def backoff_from_import() -> None:
    sleep(0.5)  # expect: AM205


async def nested_block() -> None:
    for _ in range(2):
        if True:
            time.sleep(0.1)  # expect: AM205


async def already_async() -> None:
    await asyncio.sleep(0.5)  # ok


def sync_backoff() -> None:
    time.sleep(0.5)  # ok


async def sync_helper_inside() -> None:
    def later() -> None:
        time.sleep(0.1)  # ok

    await asyncio.to_thread(later)  # ok


async def reference_only() -> None:
    pause = time.sleep  # ok
    await asyncio.to_thread(pause, 0.1)  # ok
