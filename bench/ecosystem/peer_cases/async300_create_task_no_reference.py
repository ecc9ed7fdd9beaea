"""Peer: flake8-async ASYNC300 (create-task-no-reference). Ours: AM203 dangling-task."""

import asyncio


async def job() -> None:
    await asyncio.sleep(0)


def register(task: asyncio.Task[None]) -> None:
    print(task)


class Bag:
    def __init__(self) -> None:
        self.items: set[object] = set()

    def __ior__(self, other: object) -> "Bag":
        self.items.add(other)
        return self


async def dropped_statement() -> None:
    asyncio.create_task(job())  # expect: AM203


async def dropped_inside_a_list_display() -> None:
    [asyncio.create_task(job())]  # expect: AM203


async def only_used_as_a_condition() -> None:
    flag = 1 if asyncio.create_task(job()) else 0  # expect: AM203
    print(flag)


async def passed_to_a_function() -> None:
    register(asyncio.create_task(job()))  # ok


async def walrus_then_awaited() -> None:
    if (t := asyncio.create_task(job())) is not None:  # ok
        await t


async def stored_with_augmented_assignment() -> None:
    bag = Bag()
    bag |= asyncio.create_task(job())  # ok
    print(bag.items)


async def reference_without_call() -> None:
    spawn = asyncio.create_task  # ok
    await spawn(job())  # ok
