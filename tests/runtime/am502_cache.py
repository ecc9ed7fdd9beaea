"""An in-process cache with hit statistics: the AM502 input of ``test_runtime_am502``
(the test fixes a copy of this file with asyncmend and runs both versions)."""

import asyncio

cache_lock = asyncio.Lock()
stats_lock = asyncio.Lock()

_cache: dict[str, str] = {}
_hits: dict[str, int] = {}


async def refresh(key: str, value: str) -> None:
    async with cache_lock:
        async with stats_lock:
            _cache[key] = value
            _hits[key] = 0


async def record_hit(key: str) -> str | None:
    async with stats_lock:
        async with cache_lock:
            _hits[key] = _hits.get(key, 0) + 1
            return _cache.get(key)
