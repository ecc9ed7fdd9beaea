"""A batch run keeps the cyclic collector off and frees each file's tree by reference
counting (``engine/gcpolicy.py``): no checked tree may be left in a reference cycle,
and the caller's collector settings come back after the run."""

from __future__ import annotations

import gc
import shutil
from pathlib import Path

import libcst as cst

from asyncmend.engine import api

DEMO = Path(__file__).resolve().parent.parent / "fixtures" / "demo"


def _cyclic_garbage(action) -> list[object]:  # type: ignore[no-untyped-def]
    """What ``action`` leaves that only the cyclic collector would free."""
    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        action()
        gc.collect()
        return list(gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        if was_enabled:
            gc.enable()


def test_checked_and_fixed_trees_are_freed_without_the_collector(tmp_path: Path) -> None:
    shutil.copytree(DEMO, tmp_path / "demo")
    report = None

    def fix() -> None:
        nonlocal report
        report = api.run([tmp_path / "demo"], fix=True, jobs=1)

    garbage = _cyclic_garbage(fix)
    assert report is not None and any(r.fixed for r in report.results)  # rules and fixes ran
    trees = [item for item in garbage if isinstance(item, cst.CSTNode)]
    assert not trees, f"{len(trees)} libcst nodes left in reference cycles"


def test_the_callers_collector_settings_come_back() -> None:
    frozen = gc.get_freeze_count()
    gc.enable()
    seen: list[bool] = []
    api.run([DEMO], jobs=1, on_result=lambda _result: seen.append(gc.isenabled()))
    assert seen and not any(seen)  # off while the files are checked
    assert gc.isenabled()
    assert gc.get_freeze_count() == frozen
    gc.disable()
    try:
        api.run([DEMO], jobs=1)
        assert not gc.isenabled()
    finally:
        gc.enable()
