"""``asyncmend locks [PATHS]``: print the repo's lock graph (cycles first), or Graphviz DOT."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from asyncmend.codemods.semantic.lock_graph import LockGraph, Site, node_label


class GraphFormat(str, Enum):
    text = "text"
    dot = "dot"


def locks_command(
    paths: Annotated[
        list[Path] | None, typer.Argument(metavar="PATHS", hidden=True, show_default=False)
    ] = None,
    output_format: Annotated[
        GraphFormat, typer.Option("--format", metavar="text|dot", help="text, or dot for Graphviz.")
    ] = GraphFormat.text,
    exclude: Annotated[
        list[str] | None,
        typer.Option(
            "--exclude", metavar="PATTERN", help="Gitignore-style patterns of paths to skip."
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            metavar="FILE",
            help="A pyproject.toml (or TOML file) to read settings from.",
        ),
    ] = None,
    jobs: Annotated[
        int | None,
        typer.Option("--jobs", "-j", metavar="N", min=1, help="Processes to use (default: CPUs)."),
    ] = None,
) -> None:
    """Print the lock graph, cycles first (asyncio and row locks). Exit 1 on a cycle.

    PATHS: files or folders (default: .).
    """
    from asyncmend.cli.app import fail
    from asyncmend.engine.config import ConfigError
    from asyncmend.engine.discovery import DiscoveryError
    from asyncmend.engine.locks import lock_graph

    if config is not None and not config.is_file():
        fail(f"{config}: config file not found")
    try:
        report = lock_graph(paths or [Path(".")], config=config, exclude=exclude or (), jobs=jobs)
    except (ConfigError, DiscoveryError) as exc:
        fail(str(exc))
    for message in report.errors:
        typer.echo(f"asyncmend: error: {message}", err=True)
    render = render_dot if output_format is GraphFormat.dot else render_text
    typer.echo(render(report.graph, Path.cwd()), nl=False)
    if report.errors:
        raise typer.Exit(2)
    if report.graph.cycles():
        raise typer.Exit(1)


def site_label(site: Site, root: Path | None = None) -> str:
    path = Path(site.path)
    if root is not None:
        try:
            path = path.resolve().relative_to(root.resolve())
        except ValueError:
            pass
    return f"{path.as_posix()}:{site.line} in {site.func}"


def render_text(graph: LockGraph, root: Path | None = None) -> str:
    cycles = graph.cycles()
    lines = [
        f"{len(graph.nodes)} locks, {len(graph.edges)} edges, {len(cycles)} cycle(s)",
    ]
    for number, cycle in enumerate(cycles, start=1):
        chain = " -> ".join([node_label(cycle[0][0]), *(node_label(b) for _, b in cycle)])
        lines += ["", f"cycle {number}: {chain}"]
        for edge in cycle:
            mark = "  (breaks the canonical order)" if edge in graph.breaking else ""
            lines.append(f"  {node_label(edge[0])} -> {node_label(edge[1])}{mark}")
            lines += [f"    {site_label(site, root)}" for site in graph.edges[edge]]
    if graph.edges:
        lines += ["", "edges:"]
        for edge in sorted(graph.edges, key=lambda e: (graph.rank.get(e[0], 0), e)):
            lines.append(f"  {node_label(edge[0])} -> {node_label(edge[1])}")
            lines += [f"    {site_label(site, root)}" for site in graph.edges[edge]]
    if graph.rank:
        order = sorted(graph.rank, key=graph.rank.__getitem__)
        lines += ["", "canonical order: " + ", ".join(node_label(n) for n in order)]
    return "\n".join(lines) + "\n"


def render_dot(graph: LockGraph, root: Path | None = None) -> str:
    def escape(text: str) -> str:
        return text.replace("\\", "\\\\").replace('"', '\\"')

    def quote(text: str) -> str:
        return f'"{escape(text)}"'

    lines = ["digraph locks {", "  rankdir=LR;", "  node [shape=box];"]
    for node in graph.nodes:
        shape = ", shape=cylinder" if node[0] == "row" else ""
        lines.append(f"  {quote(node_label(node))} [label={quote(node_label(node))}{shape}];")
    in_cycle = {edge for cycle in graph.cycles() for edge in cycle}
    for edge in sorted(graph.edges):
        label = "\\n".join(escape(site_label(site, root)) for site in graph.edges[edge])
        style = ", color=red" if edge in in_cycle else ""
        style += ", style=bold" if edge in graph.breaking and edge in in_cycle else ""
        lines.append(
            f"  {quote(node_label(edge[0]))} -> {quote(node_label(edge[1]))} "
            f'[label="{label}"{style}];'
        )
    lines.append("}")
    return "\n".join(lines) + "\n"
