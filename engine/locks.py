"""The repo's lock graph for ``asyncmend locks``: discover the files, run pass 1 over
them (the same index the rules read), and build the graph with the configured order."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from asyncmend.codemods.semantic.lock_graph import LockGraph, build_graph
from asyncmend.engine.config import load_config
from asyncmend.engine.discovery import discover
from asyncmend.engine.runner import Pool, build_index, default_jobs, hash_files


@dataclass
class LockReport:
    graph: LockGraph
    #: One line per file that could not be read.
    errors: list[str]


def lock_graph(
    paths: Sequence[Path],
    *,
    config: Path | None = None,
    exclude: Sequence[str] = (),
    jobs: int | None = None,
) -> LockReport:
    """The lock graph of ``paths``. Raises ``ConfigError`` / ``DiscoveryError``."""
    targets = list(paths or [Path(".")])
    settings = load_config(config, start=targets[0])
    files = discover(
        [str(p) for p in targets],
        root=settings.root,
        exclude=[*settings.exclude, *exclude],
        respect_gitignore=settings.respect_gitignore,
    )
    names = [str(p) for p in files]
    digests, errors = hash_files(names)
    with Pool(jobs or default_jobs()) as pool:
        index = build_index(pool, names, digests, None)
    return LockReport(build_graph(index, settings.settings.get("lock-order", [])), errors)
