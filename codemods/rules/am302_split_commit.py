"""AM302 split-commit: one unit of work committed in two or more pieces."""

from __future__ import annotations

import libcst as cst

from asyncmend.codemods.base import Applicability, FileContext, Fix, Rule
from asyncmend.codemods.semantic.flow import (
    Flow,
    SessionCall,
    Site,
    commit_flow,
    is_write,
    loaded_objects,
    precedes,
    statement_line,
)
from asyncmend.codemods.semantic.summaries import session_effects
from asyncmend.codemods.semantic.tree import SCOPE_NODES, iter_children


class SplitCommit(Rule):
    """
    ## What it does
    Finds two or more `await session.commit()` on one path through a function, with
    writes before the first and writes between them.

    ## Why is this bad?
    Each commit ends a transaction. If anything fails after the first one (the second
    flush hits a constraint, the connection drops, the request is cancelled), the writes
    before it are saved and the rest are not: an order without its audit row, a transfer
    debited but not credited. One unit of work should be one transaction.

    The fix turns every commit but the last into `await session.flush()`: the earlier
    writes still reach the database (ids are assigned, constraints are checked) but are
    committed together with the rest. It is unsafe because it changes what is saved when
    something fails in between, which is the point. There is no fix when the last commit
    is not certain to run after the earlier one (it sits in a branch, or a `return`,
    `break` or `continue` can leave in between): turning the first commit into a flush
    would then lose its writes. Commits in different branches of an `if` are not on one
    path; a single commit inside a loop (one transaction per item) is not reported.

    ## Example
    ```python
    async def place_order(session: AsyncSession, user_id: int, total: int) -> Order:
        order = Order(user_id=user_id, total=total)
        session.add(order)
        await session.commit()
        session.add(AuditLog(action="order.placed"))
        await session.commit()
        return order
    ```

    ## Use instead
    ```python
    async def place_order(session: AsyncSession, user_id: int, total: int) -> Order:
        order = Order(user_id=user_id, total=total)
        session.add(order)
        await session.flush()
        session.add(AuditLog(action="order.placed"))
        await session.commit()
        return order
    ```
    """

    code = "AM302"
    name = "split-commit"
    fix_applicability = Applicability.UNSAFE
    triggers = (b"commit",)
    uses_index = True

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        found = commit_flow(node, self.context, self.ancestors)
        if found is None:
            return
        flow, commits = found
        if len(commits) < 2:
            return
        writes = _write_sites(flow, self.context)
        for commit in commits:
            self._check(flow, commit, commits, writes.get(commit.session, []))

    def _check(
        self,
        flow: Flow,
        commit: SessionCall,
        commits: list[SessionCall],
        writes: list[Site],
    ) -> None:
        same = [c for c in commits if c.session == commit.session]
        others = [c.site for c in same if c is not commit]
        # Writes since the function started or since the previous commit on this path.
        before = [
            w
            for w in writes
            if precedes(w, commit.site)
            and not any(precedes(w, c) and precedes(c, commit.site) for c in others)
        ]
        if not before:
            return
        later = [
            c
            for c in same
            if c is not commit
            and precedes(commit.site, c.site)
            and any(precedes(commit.site, w) and precedes(w, c.site) for w in writes)
        ]
        if not later:
            return
        session = commit.session
        message = (
            f"`await {session}.commit()` splits one unit of work: later writes are committed "
            "separately, so a failure in between leaves half the change saved"
        )
        if _certain_later_commit(flow, commit, same) is None:
            self.report(
                commit.call,
                f"{message} (no automatic fix: the last commit may not run after this one)",
            )
            return
        func = commit.call.func
        assert isinstance(func, cst.Attribute)
        fix = Fix(
            message=f"Turn this commit into `await {session}.flush()`",
            applicability=Applicability.UNSAFE,
            replacements=[(func, func.with_changes(attr=cst.Name("flush")))],
        )
        self.report(commit.call, message, fix=fix)


def _write_sites(flow: Flow, context: FileContext) -> dict[str, list[Site]]:
    """Where each session's writes happen: ``add``/``delete``/``merge``, an executed
    insert/update/delete, a helper that writes through the session it receives (its
    function summary), and attribute changes of objects loaded or added through it."""
    found: dict[str, list[Site]] = {}
    for call in flow.calls:
        if is_write(flow, call):
            found.setdefault(call.session, []).append(call.site)
    for call in flow.handoffs:
        effects = session_effects(call.call, call.session, context)
        if effects is not None and "write" in effects:
            found.setdefault(call.session, []).append(call.site)
    for loaded in loaded_objects(flow):
        for use in flow.attributes:
            if (
                use.name == loaded.name
                and (use.store or use.augmented)
                and precedes(loaded.site, use.site)
            ):
                found.setdefault(loaded.session, []).append(use.site)
    return found


def _certain_later_commit(
    flow: Flow, commit: SessionCall, same: list[SessionCall]
) -> SessionCall | None:
    """A later ``await s.commit()`` statement in the same block as ``commit``, with
    nothing between them that can leave the block other than by raising."""
    position = flow.positions.get(id(commit.site.statement))
    if position is None:
        return None
    block, index = position
    for other in same:
        if other is commit or statement_line(flow, other) is None:
            continue
        other_position = flow.positions.get(id(other.site.statement))
        if other_position is None or other_position[0] is not block:
            continue
        other_index = other_position[1]
        if other_index <= index:
            continue
        between = list(block.body[index:other_index])  # type: ignore[attr-defined]
        if not any(_may_leave(stmt) for stmt in between):
            return other
    return None


def _may_leave(stmt: cst.CSTNode) -> bool:
    """A ``return`` anywhere, or a ``break``/``continue`` not inside a loop of ``stmt``."""
    stack: list[tuple[cst.CSTNode, bool]] = [(stmt, False)]
    while stack:
        node, in_loop = stack.pop()
        if node is not stmt and isinstance(node, SCOPE_NODES):
            continue
        if isinstance(node, cst.Return):
            return True
        if isinstance(node, (cst.Break, cst.Continue)) and not in_loop:
            return True
        inner = in_loop or isinstance(node, (cst.For, cst.While))
        stack.extend((child, inner) for child in iter_children(node))
    return False
