"""The repo's lock graph, built from the pass-1 lock facts of every file.

A node is a lock: ``("lock", "app.cache.Cache._lock")`` or ``("row", "app.models.Account")``.
An edge ``a -> b`` means some function acquires ``b`` while holding ``a``; each edge keeps
its sites (file, line, function, slot). A cycle means two tasks can each hold one lock
and wait for the other.

The canonical order is what fixes and reports agree on: the configured ``lock-order``
first; then, in each cycle that remains, the edge with the fewest sites gives way (ties:
the edge that goes against name order), as a team would settle on the order most of its
code already uses. Those dropped edges *break* the canonical order; AM502 reports a
cycle at the sites of its breaking edge, so a whole-repo run reports each cycle once.
"""

from __future__ import annotations

import heapq
import itertools
import os
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from asyncmend.codemods.facts.base import FileFacts
from asyncmend.codemods.facts.locks import lock_facts

if TYPE_CHECKING:
    from asyncmend.engine.index import RepoIndex

Node = tuple[str, str]
Edge = tuple[Node, Node]


@dataclass(frozen=True, order=True)
class Site:
    path: str
    line: int
    func: str
    slot: tuple[str, int]
    #: How the code spells the held lock and the acquired one.
    from_expr: str = ""
    to_expr: str = ""
    #: The held lock is the ``async with`` item right before this one.
    direct: bool = False


@dataclass
class LockGraph:
    edges: dict[Edge, list[Site]] = field(default_factory=dict)
    #: Edges that go against the canonical order (one per cycle at least).
    breaking: set[Edge] = field(default_factory=set)
    #: Canonical position of every node (lower is taken first).
    rank: dict[Node, int] = field(default_factory=dict)

    @property
    def nodes(self) -> list[Node]:
        return sorted({node for edge in self.edges for node in edge})

    def cycle_of(self, edge: Edge) -> list[Edge]:
        """The shortest cycle through a breaking edge ``a -> b``: the edge, then a path
        from ``b`` back to ``a`` over the other edges."""
        start, goal = edge[1], edge[0]
        successors: dict[Node, list[Node]] = {}
        for a, b in sorted(self.edges):
            if (a, b) != edge:
                successors.setdefault(a, []).append(b)
        previous: dict[Node, Node] = {start: start}
        queue = deque([start])
        while queue:
            node = queue.popleft()
            if node == goal:
                break
            for nxt in successors.get(node, []):
                if nxt not in previous:
                    previous[nxt] = node
                    queue.append(nxt)
        if goal not in previous:
            return [edge]
        path = [goal]
        while path[-1] != start:
            path.append(previous[path[-1]])
        path.reverse()
        return [edge, *itertools.pairwise(path)]

    def cycles(self) -> list[list[Edge]]:
        """One cycle per breaking edge, in a stable order."""
        found: list[list[Edge]] = []
        for edge in sorted(self.breaking, key=lambda e: (min(self.edges[e]), e)):
            cycle = self.cycle_of(edge)
            if len(cycle) > 1:
                found.append(cycle)
        return found

    def breaking_sites(self, path: str) -> list[tuple[Site, Edge]]:
        """The sites in file ``path`` of edges that break the canonical order."""
        by_path = self.__dict__.get("_by_path")
        if by_path is None:
            by_path = {}
            for edge in self.breaking:
                for site in self.edges[edge]:
                    by_path.setdefault(os.path.realpath(site.path), []).append((site, edge))
            self.__dict__["_by_path"] = by_path
        if path not in by_path:  # remember the spelling too: one realpath per file
            by_path[path] = by_path.get(os.path.realpath(path), [])
        return by_path[path]

    def breaks_order(self, first: Node, second: Node) -> bool:
        """Whether taking ``second`` while holding ``first`` goes against the canonical
        order (only where the order is decided: a cycle or the configured order)."""
        rank_a, rank_b = self.rank.get(first), self.rank.get(second)
        return rank_a is not None and rank_b is not None and rank_b < rank_a


def config_position(node: Node, lock_order: Sequence[str]) -> int | None:
    """The node's place in ``lock-order`` (full dotted name, or its last parts)."""
    name = node[1]
    for number, entry in enumerate(lock_order):
        if name == entry or name.endswith("." + entry):
            return number
    return None


def build_graph(index: RepoIndex, lock_order: Sequence[str] = ()) -> LockGraph:
    """The lock graph of every file in ``index`` (cached on the index per lock order)."""
    cache: dict[tuple[str, ...], LockGraph] = index.__dict__.setdefault("_lock_graphs", {})
    key = tuple(lock_order)
    if key in cache:
        return cache[key]
    known: set[str] = set()
    for facts in index.by_path.values():
        for name in lock_facts.of(facts).get("bindings", []):
            known.add(name)
    graph = LockGraph()
    # The index may hold one file under two spellings (relative and absolute); count its
    # sites once, or one file would weigh double in the canonical order. (Only files with
    # sites: ``realpath`` asks the file system once per part of the path.)
    files: dict[str, tuple[str, FileFacts]] = {}
    for path, facts in index.by_path.items():
        if lock_facts.of(facts).get("sites"):
            files.setdefault(os.path.realpath(path), (path, facts))
    for path, facts in sorted(files.values(), key=lambda item: item[0]):
        for site in lock_facts.of(facts).get("sites", []):
            ends = [_node(site["from"], index, known), _node(site["to"], index, known)]
            if ends[0] is None or ends[1] is None or ends[0] == ends[1]:
                continue
            edge = (ends[0], ends[1])
            slot = (site["slot"][0], int(site["slot"][1]))
            graph.edges.setdefault(edge, []).append(
                Site(
                    path,
                    site["line"],
                    site["func"],
                    slot,
                    site["from"][2],
                    site["to"][2],
                    bool(site.get("direct")),
                )
            )
    for sites in graph.edges.values():
        sites.sort()
    _settle_order(graph, list(lock_order))
    cache[key] = graph
    return graph


def _node(raw: Sequence[str], index: RepoIndex, known: set[str]) -> Node | None:
    kind, name = raw[0], index.resolve(raw[1])
    if kind == "lock" and name not in known:
        return None
    return (kind, name)


def _settle_order(graph: LockGraph, lock_order: list[str]) -> None:
    weight = {edge: len(sites) for edge, sites in graph.edges.items()}
    kept = set(graph.edges)
    for a, b in graph.edges:
        pos_a, pos_b = config_position(a, lock_order), config_position(b, lock_order)
        if pos_a is not None and pos_b is not None and pos_b < pos_a:
            kept.discard((a, b))
    while (cycle := _find_cycle(kept)) is not None:
        # The weakest edge gives way; between equals, the one against name order.
        weakest = min(cycle, key=lambda e: (weight[e], e[0] < e[1], e))
        kept.discard(weakest)
    graph.rank = _topological_rank(graph.nodes, kept, lock_order)
    graph.breaking = {(a, b) for a, b in graph.edges if graph.rank[b] < graph.rank[a]}


def _find_cycle(edges: Iterable[Edge]) -> list[Edge] | None:
    successors: dict[Node, list[Node]] = {}
    for a, b in sorted(edges):
        successors.setdefault(a, []).append(b)
    state: dict[Node, int] = {}  # 1: on the stack, 2: done
    for root in sorted(successors):
        if state.get(root):
            continue
        stack: list[tuple[Node, Iterable[Node]]] = [(root, iter(successors.get(root, [])))]
        trail = [root]
        state[root] = 1
        while stack:
            node, pending = stack[-1]
            nxt = next(pending, None)  # type: ignore[call-overload]
            if nxt is None:
                state[node] = 2
                stack.pop()
                trail.pop()
                continue
            if state.get(nxt) == 1:
                loop = [*trail[trail.index(nxt) :], nxt]
                return list(itertools.pairwise(loop))
            if not state.get(nxt):
                state[nxt] = 1
                trail.append(nxt)
                stack.append((nxt, iter(successors.get(nxt, []))))
    return None


def _topological_rank(
    nodes: list[Node], edges: set[Edge], lock_order: list[str]
) -> dict[Node, int]:
    def priority(node: Node) -> tuple[int, Node]:
        pos = config_position(node, lock_order)
        return (pos if pos is not None else len(lock_order), node)

    incoming = {node: 0 for node in nodes}
    successors: dict[Node, list[Node]] = {}
    for a, b in edges:
        successors.setdefault(a, []).append(b)
        incoming[b] += 1
    ready = [(priority(n), n) for n in nodes if incoming[n] == 0]
    heapq.heapify(ready)
    rank: dict[Node, int] = {}
    while len(rank) < len(nodes):
        if not ready:  # only the configured order can leave a knot here: take the first
            rest = min((priority(n), n) for n in nodes if n not in rank)
            ready.append(rest)
        _, node = heapq.heappop(ready)
        if node in rank:
            continue
        rank[node] = len(rank)
        for nxt in successors.get(node, []):
            incoming[nxt] -= 1
            if incoming[nxt] == 0 and nxt not in rank:
                heapq.heappush(ready, (priority(nxt), nxt))
    return rank


# -- rendering -------------------------------------------------------------------------


def node_label(node: Node) -> str:
    return f"{node[1]} (rows)" if node[0] == "row" else node[1]
