"""Peer: ruff RUF006 (asyncio-dangling-task). Ours: AM203 dangling-task."""

import asyncio

_keep: set[asyncio.Task] = set()


async def work(n: int) -> int:
    await asyncio.sleep(0)
    return n


async def fire_and_forget() -> None:
    asyncio.create_task(work(1))  # expect: AM203


async def fire_with_ensure_future() -> None:
    asyncio.ensure_future(work(2))  # expect: AM203


def sync_caller_drops_task() -> None:
    asyncio.create_task(work(3))  # expect: AM203


async def local_name_never_read_again() -> None:
    pending = asyncio.create_task(work(4))  # expect: AM203


async def annotated_local_through_running_loop() -> None:
    ev = asyncio.get_running_loop()
    job: asyncio.Task[int] = ev.create_task(work(5))  # expect: AM203


async def running_loop_task_dropped() -> None:
    ev = asyncio.get_running_loop()
    ev.create_task(work(6))  # expect: AM203


async def kept_in_module_set() -> None:
    for n in range(3):
        t = asyncio.create_task(work(n))  # ok
        _keep.add(t)
        t.add_done_callback(_keep.discard)


class Poller:
    async def start(self) -> None:
        self.runner = asyncio.create_task(work(7))  # ok


async def appended_to_list(out: list[asyncio.Task[int]]) -> None:
    out.append(asyncio.create_task(work(8)))  # ok


async def gathered_later() -> list[int]:
    ts = [asyncio.create_task(work(n)) for n in range(4)]  # ok
    return await asyncio.gather(*ts)


async def awaited_later() -> int:
    t = asyncio.create_task(work(9))  # ok
    return await t


def handed_back() -> asyncio.Task[int]:
    return asyncio.create_task(work(10))  # ok


async def waited_on() -> None:
    await asyncio.wait([asyncio.create_task(work(n)) for n in range(2)])  # ok


class Scheduler:
    def create_task(self, coro):  # a user method that happens to share the name
        return coro


async def unrelated_create_task(s: Scheduler) -> None:
    s.create_task(work(11))  # ok
