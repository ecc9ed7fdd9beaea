"""AM502 at run time: two tasks taking the same two asyncio locks in opposite orders
deadlock with the input (they wait forever: asyncio.wait_for times out) and finish once
asyncmend has put the nested acquisitions into one order."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import ModuleType

from fix_and_load import RUNTIME, fixed_copy, load


async def _race(module: ModuleType, timeout: float) -> bool:
    """True when both tasks finish within ``timeout``.

    Both locks start out held (as by two other tasks), so each task is parked on its
    first lock; releasing both lets them run, each with its first lock granted.
    """
    await module.cache_lock.acquire()
    await module.stats_lock.acquire()
    tasks = [
        asyncio.create_task(module.refresh("home", "<html>")),
        asyncio.create_task(module.record_hit("home")),
    ]
    await asyncio.sleep(0.01)
    module.cache_lock.release()
    module.stats_lock.release()
    try:
        await asyncio.wait_for(asyncio.gather(*tasks), timeout)
    except asyncio.TimeoutError:
        return False
    return True


def test_input_deadlocks_and_fixed_output_finishes(tmp_path: Path) -> None:
    source = RUNTIME / "am502_cache.py"
    for trial in range(3):
        original = load(source, f"am502_cache_input_{trial}")
        assert not asyncio.run(_race(original, timeout=0.5)), "the input did not deadlock"

    fixed_path = fixed_copy(source, "AM502", tmp_path / "fixed")
    for trial in range(3):
        fixed = load(fixed_path, f"am502_cache_fixed_{trial}")
        assert asyncio.run(_race(fixed, timeout=5)), "the fixed output still deadlocks"
        assert fixed._hits == {"home": 0} or fixed._hits == {"home": 1}
