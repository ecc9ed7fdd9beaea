"""AM203 at run time: a task fixed by asyncmend survives garbage collection while it
waits, and completes; the same task left dangling is collected mid-run.

The input module below is fixed by asyncmend itself (``run(..., fix=True)`` and
``report.apply()``), then both versions are imported with importlib and run.

The task waits on a future that only its own coroutine frame holds strongly (a weak
set lets the test resolve it from outside). So while it waits, the task, its coroutine
and the future form a cycle that nothing reachable refers to except through the event
loop's weak task set: ``gc.collect()`` destroys it unless something keeps a strong
reference. That is deterministic on CPython (reference cycles are found by a full
collection; nothing else holds the task once its first step has run), so the test
asserts it for the unfixed module too (checked on CPython 3.7 to 3.13).
"""

from __future__ import annotations

import asyncio
import gc
import weakref
from pathlib import Path
from types import ModuleType

from fix_and_load import load

from asyncmend.engine import run

SOURCE = '''\
"""Delivery of notifications in the background."""

import asyncio
import weakref

delivered: list[str] = []
#: The futures tasks wait on, held weakly: the test resolves them from outside.
waiting: "weakref.WeakSet[asyncio.Future[str]]" = weakref.WeakSet()


async def deliver() -> None:
    future = asyncio.get_running_loop().create_future()
    waiting.add(future)
    delivered.append(await future)


async def on_order_placed() -> None:
    asyncio.create_task(deliver())
'''


async def _scenario(module: ModuleType) -> bool:
    """Start the background task, let it reach its await, collect garbage, then resolve
    what it waits on. Returns whether the task was still alive after the collection."""
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda loop, context: None)  # "Task was destroyed..." noise
    await module.on_order_placed()
    await asyncio.sleep(0)  # the task runs up to `await future`
    current = asyncio.current_task()
    refs = [weakref.ref(task) for task in asyncio.all_tasks() if task is not current]
    assert len(refs) == 1
    gc.collect()
    alive = refs[0]() is not None
    for future in list(module.waiting):
        future.set_result("order 42")
    for _ in range(3):
        await asyncio.sleep(0)
    return alive


def _fixed_and_original(tmp_path: Path) -> tuple[Path, Path]:
    original = tmp_path / "original" / "notify_original.py"
    fixed = tmp_path / "fixed" / "notify_fixed.py"
    for path in (original, fixed):
        path.parent.mkdir()
        path.write_text(SOURCE, encoding="utf-8")
    report = run([str(fixed)], select=["AM203"], fix=True, jobs=1)
    assert [f.code for f in report.findings] == ["AM203"]
    assert report.apply().written == [str(fixed)]
    return original, fixed


def test_fixed_task_survives_gc_and_completes(tmp_path: Path) -> None:
    _, fixed_path = _fixed_and_original(tmp_path)
    text = fixed_path.read_text(encoding="utf-8")
    assert "_background_tasks.add(task)" in text
    module = load(fixed_path, "asyncmend_runtime_fixed")

    assert asyncio.run(_scenario(module)) is True
    assert module.delivered == ["order 42"]
    assert module._background_tasks == set(), "the done callback discards the task"


def test_unfixed_task_is_collected_mid_run(tmp_path: Path) -> None:
    original_path, _ = _fixed_and_original(tmp_path)
    module = load(original_path, "asyncmend_runtime_original")

    assert asyncio.run(_scenario(module)) is False
    assert module.delivered == []
    assert len(module.waiting) == 0, "the future died with the task"
