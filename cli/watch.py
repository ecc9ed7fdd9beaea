"""``check --watch``: run, then run again whenever a Python file or a config changes.

Polling (modification time and size of every file, twice a second) needs no new
dependency and works on every file system, network mounts included.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import NoReturn

import typer

#: Seconds between two looks at the tree.
POLL_INTERVAL = 0.5
_SKIPPED_DIRS = {"__pycache__", "node_modules", "build", "dist", "venv"}
_WATCHED_NAMES = {"pyproject.toml", ".gitignore"}


def _files(paths: Sequence[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_file():
            yield path
            continue
        for folder, dirs, names in os.walk(path):
            dirs[:] = [d for d in dirs if not d.startswith(".") and d not in _SKIPPED_DIRS]
            for name in names:
                if name.endswith((".py", ".pyi")) or name in _WATCHED_NAMES:
                    yield Path(folder) / name


def snapshot(paths: Sequence[Path]) -> dict[Path, tuple[int, int]]:
    state = {}
    for path in _files(paths):
        try:
            stat = path.stat()
        except OSError:
            continue
        state[path] = (stat.st_mtime_ns, stat.st_size)
    return state


def watch_loop(
    paths: Sequence[Path], run_once: Callable[[], None], *, color: bool | None
) -> NoReturn:
    """Run ``run_once`` now and after every change, until interrupted (exit 0)."""
    try:
        while True:
            before = snapshot(paths)
            try:
                run_once()
            except typer.Exit:
                pass
            stamp = datetime.now().strftime("%H:%M:%S")
            typer.echo(f"[{stamp}] Watching for file changes.", err=True, color=color)
            while snapshot(paths) == before:
                time.sleep(POLL_INTERVAL)
            stamp = datetime.now().strftime("%H:%M:%S")
            typer.echo(f"[{stamp}] File change detected...", err=True, color=color)
    except KeyboardInterrupt:
        raise typer.Exit(0) from None
