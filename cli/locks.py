"""``asyncmend locks [PATHS]``: print the repo's lock graph (cycles first), or Graphviz DOT."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer


class GraphFormat(str, Enum):
    text = "text"
    dot = "dot"


def locks_command(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Files or folders (default: .).", show_default=False)
    ] = None,
    output_format: Annotated[
        GraphFormat, typer.Option("--format", help="text, or dot for Graphviz.")
    ] = GraphFormat.text,
    exclude: Annotated[
        list[str] | None,
        typer.Option("--exclude", help="Gitignore-style patterns of paths to skip."),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="A pyproject.toml (or TOML file) to read settings from."),
    ] = None,
    jobs: Annotated[
        int | None, typer.Option("--jobs", "-j", min=1, help="Worker processes (default: CPUs).")
    ] = None,
) -> None:
    """Print the lock graph, cycles first (asyncio and row locks). Exit 1 on a cycle."""
    from asyncmend.cli.app import fail
    from asyncmend.codemods.semantic.lock_graph import build_graph, render_dot, render_text
    from asyncmend.engine.config import ConfigError, load_config
    from asyncmend.engine.discovery import DiscoveryError, discover
    from asyncmend.engine.runner import Pool, build_index, default_jobs, hash_files

    targets = list(paths or [Path(".")])
    if config is not None and not config.is_file():
        fail(f"{config}: config file not found")
    try:
        settings = load_config(config, start=targets[0])
        files = discover(
            [str(p) for p in targets],
            root=settings.root,
            exclude=[*settings.exclude, *(exclude or [])],
            respect_gitignore=settings.respect_gitignore,
        )
    except (ConfigError, DiscoveryError) as exc:
        fail(str(exc))
    names = [str(p) for p in files]
    digests, errors = hash_files(names)
    with Pool(jobs or default_jobs()) as pool:
        index = build_index(pool, names, digests, None)
    for message in errors:
        typer.echo(f"asyncmend: error: {message}", err=True)
    graph = build_graph(index, settings.settings.get("lock-order", []))
    root = Path.cwd()
    render = render_dot if output_format is GraphFormat.dot else render_text
    typer.echo(render(graph, root), nl=False)
    if errors:
        raise typer.Exit(2)
    if graph.cycles():
        raise typer.Exit(1)
