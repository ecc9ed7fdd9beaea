"""AM502 lock-order-cycle."""

from __future__ import annotations

from pathlib import Path

import libcst as cst

from asyncmend.codemods.base import Applicability, Fix, Rule
from asyncmend.codemods.semantic.flow import Site
from asyncmend.codemods.semantic.lock_graph import Edge, LockGraph, node_label
from asyncmend.codemods.semantic.locks import (
    acquisition_slots,
    model_node,
    qualified_function_name,
    repo_lock_graph,
    row_lock,
)
from asyncmend.codemods.semantic.tree import dotted_name


class LockOrderCycle(Rule):
    """## What it does
    Finds cycles in the repo's lock graph, reporting each once with a site for every
    edge, as the Linux kernel's lockdep does. An edge a -> b is `async with b:` inside
    `async with a:`, or `async with a, b:`, for `asyncio.Lock`, `Semaphore` and
    `Condition` objects named by what they are bound to (`module.name`,
    `module.Class.attr`), and row locks by model as AM501 finds them, across all files.

    ## Why is this bad?
    When one task holds `a` and waits for `b` while another holds `b` and waits for
    `a`, both wait forever: asyncio has no deadlock detection, so the requests hang
    until a timeout (or for good). The two halves of the cycle usually live in different
    files, which is why a review of one function does not catch it.

    ## Example
    ```python
    # app/ledger.py
    async def post_entry(entry):
        async with accounts_lock:
            async with ledger_lock:
                await write(entry)

    # app/reports.py
    async def close_day():
        async with ledger_lock:
            async with accounts_lock:
                await snapshot()
    ```

    ## Use instead
    ```python
    # app/reports.py
    async def close_day():
        async with accounts_lock:
            async with ledger_lock:
                await snapshot()
    ```
    Every function takes the locks in one canonical order: `lock-order` in the config,
    else the order most sites already use (ties broken by name). The finding is reported
    at the sites of the edge that breaks that order. The fix swaps directly nested
    acquisitions with nothing between them (`async with a:` whose only statement is
    `async with b:`, or `async with a, b:`); other sites are only reported.
    """

    code = "AM502"
    name = "lock-order-cycle"
    fix_applicability = Applicability.SAFE
    triggers = (b"async with", b"with_for_update")
    uses_index = True

    @classmethod
    def candidate(cls, gate: Rule.Gate) -> bool:
        # The repo's lock graph (pass 1) says where a cycle is broken.
        if gate.index is None or gate.config is None:
            return True
        return gate.index.breaks_lock_order(tuple(gate.config.settings.get("lock-order", [])))

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        if node.asynchronous is None:
            return
        graph = repo_lock_graph(self.context)
        here = graph.breaking_sites(self.context.path)
        if not here:
            return
        qualname = qualified_function_name(node, self.ancestors)
        mine = [(site, edge) for site, edge in here if site.func == qualname]
        if not mine:
            return
        slots = acquisition_slots(node)
        for site, edge in sorted(mine):
            target = slots.get(site.slot)
            if isinstance(target, cst.WithItem):
                if dotted_name(target.item) != site.to_expr:
                    continue  # no longer this lock (already fixed in this run)
                fix = self._swap_fix(node, target, site)
                self.report(target.item, self._message(graph, edge, site), fix=fix)
            elif isinstance(target, cst.Await):
                lock = row_lock(target)
                if lock is None or model_node(lock.model, self.context) != edge[1]:
                    continue
                self.report(target, self._message(graph, edge, site))

    def _message(self, graph: LockGraph, edge: Edge, site: Site) -> str:
        cycle = graph.cycle_of(edge)
        if len(cycle) == 1:  # no cycle (yet): only the configured order says otherwise
            return (
                f"Takes `{node_label(edge[1])}` while holding `{node_label(edge[0])}`, "
                "against the configured lock-order"
            )
        chain = [f"`{node_label(edge[0])}` -> `{node_label(edge[1])}` (here)"]
        for other in cycle[1:]:
            sites = graph.edges[other]
            where = self._where(sites[0])
            more = f" and {len(sites) - 1} more" if len(sites) > 1 else ""
            chain.append(f"-> `{node_label(other[1])}` ({where}{more})")
        return (
            f"Lock-order cycle: {' '.join(chain)}. Take `{node_label(edge[1])}` before "
            f"`{node_label(edge[0])}` everywhere"
        )

    def _where(self, site: Site) -> str:
        path = Path(site.path)
        try:
            path = path.resolve().relative_to(self.context.config.root.resolve())
        except ValueError:
            pass
        return f"{path.as_posix()}:{site.line} in {site.func}"

    # -- the fix -------------------------------------------------------------------------------

    def _swap_fix(self, func: cst.FunctionDef, item: cst.WithItem, site: Site) -> Fix | None:
        if not site.direct:
            return None
        owner: cst.With | None = None
        outer: cst.With | None = None
        for node in self.semantic.own_scope(func.body):
            if isinstance(node, cst.With) and node.asynchronous is not None:
                if any(i is item for i in node.items):
                    owner = node
                elif (
                    isinstance(node.body, cst.IndentedBlock)
                    and len(node.body.body) == 1
                    and isinstance(node.body.body[0], cst.With)
                    and any(i is item for i in node.body.body[0].items)
                ):
                    outer = node
        if owner is None:
            return None
        message = "Take the locks in the canonical order"
        if len(owner.items) == 2 and owner.items[1] is item:
            first = owner.items[0]
            if not _plain(first, site.from_expr) or not _plain(item, site.to_expr):
                return None
            items = [item.with_changes(comma=first.comma), first.with_changes(comma=item.comma)]
            return Fix(
                message,
                Applicability.SAFE,
                replacements=[(owner, owner.with_changes(items=items))],
            )
        if len(owner.items) == 1 and outer is not None and len(outer.items) == 1:
            first = outer.items[0]
            if not _plain(first, site.from_expr) or not _plain(item, site.to_expr):
                return None
            inner = owner.with_changes(items=[first.with_changes(comma=item.comma)])
            swapped = outer.with_changes(
                items=[item.with_changes(comma=first.comma)],
                body=outer.body.with_changes(body=[inner]),
            )
            return Fix(message, Applicability.SAFE, replacements=[(outer, swapped)])
        return None


def _plain(item: cst.WithItem, expected: str) -> bool:
    """A lock named by a plain name or attribute (evaluating it has no side effects to
    reorder), the one pass 1 recorded."""
    return dotted_name(item.item) == expected
