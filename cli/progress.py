"""A progress bar on stderr for long runs, when stderr is a terminal; nothing otherwise."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

#: Runs over more files than this get a bar.
PROGRESS_THRESHOLD = 50


@contextmanager
def progress_callbacks(
    verb: str, enabled: bool = True
) -> Iterator[tuple[Callable[[int], None], Callable[[Any], None]]]:
    """``(on_start, on_result)`` for ``engine.api.run``: they drive a rich bar once the
    run turns out to cover more than ``PROGRESS_THRESHOLD`` files."""
    state: dict[str, Any] = {}

    def on_start(total: int) -> None:
        if not enabled or total <= PROGRESS_THRESHOLD or not sys.stderr.isatty():
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

        progress = Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        progress.start()
        state["progress"] = progress
        state["task"] = progress.add_task(verb, total=total)

    def on_result(_result: Any) -> None:
        progress = state.get("progress")
        if progress is not None:
            progress.advance(state["task"])

    try:
        yield on_start, on_result
    finally:
        progress = state.get("progress")
        if progress is not None:
            progress.stop()
