"""AM302 split-commit: one unit of work committed in two or more pieces."""

from __future__ import annotations

import libcst as cst

from asyncmend.codemods.base import Applicability, FileContext, Fix, Rule
from asyncmend.codemods.semantic.flow import (
    Flow,
    SessionCall,
    Site,
    between,
    certainly_followed_by,
    commit_flow,
    hands_off,
    is_write,
    loaded_objects,
    precedes,
    same_object,
)
from asyncmend.codemods.semantic.summaries import session_effects


class SplitCommit(Rule):
    """
    ## What it does
    Finds an `await session.commit()` with writes before it, followed on every normal
    path by a later commit of the same session with writes in between.

    ## Why is this bad?
    Each commit ends a transaction. If anything fails after the first one (the second
    flush hits a constraint, the connection drops, the request is cancelled), the writes
    before it are saved and the rest are not: an order without its audit row, a transfer
    debited but not credited. One unit of work should be one transaction.

    The fix turns the earlier commit into `await session.flush()`: the earlier writes
    still reach the database (ids are assigned, constraints are checked) but are
    committed together with the rest. It is unsafe because it changes what is saved when
    something fails in between, which is the point. There is no fix when the session is
    rolled back between the commits (a flush would let that rollback undo the earlier
    writes): a savepoint (`begin_nested()`) around the part that may fail is the remedy.

    Not reported, because the earlier commit is meant: when the function can end after
    it without the later one (a branch that commits and returns, a later commit inside an
    `if`: the state it saves is one the function ends in anyway), when a commit per loop
    item is followed by code after the loop, when something between the commits hands the
    saved data to another reader (a Celery `.delay`/`.apply_async`, `create_task`,
    `add_task`, a queue publish, an HTTP request), and when the two commits belong to two
    sessions that share a name (two `async with maker() as s` blocks). Writes made by a
    helper that receives the session count (its function summary in the repo index).

    Status: preview. On the ecosystem corpus its four findings were all false (commits on
    paths that never both run); after the changes above it has no finding there, which
    measures nothing: it stays in preview until it has reviewed true positives.

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
    preview = True

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
        session = commit.session
        # One name may hold two sessions (two `async with maker() as s` blocks): only the
        # commits and writes the same binding reaches are one session's.
        same = [
            c
            for c in commits
            if c.session == session and same_object(flow, session, c.site, commit.site)
        ]
        writes = [w for w in writes if same_object(flow, session, w, commit.site)]
        others = [c.site for c in same if c is not commit]
        # Writes since the function started or since the previous commit on this path.
        before = [
            w
            for w in writes
            if precedes(w, commit.site) and not any(between(w, c, commit.site) for c in others)
        ]
        if not before:
            return
        # Only a later commit that runs on every normal path after this one makes a split:
        # where the function can end after this commit alone (a branch that returns, a
        # later commit in an `if`), the state this commit saves is one it ends in anyway.
        later = certainly_followed_by(flow, commit.site, [c for c in same if c is not commit])
        if later is None:
            return
        if not any(between(commit.site, w, later.site) for w in writes):
            return
        if any(
            precedes(commit.site, site)
            and precedes(site, later.site)
            and hands_off(call, flow, self.context)
            for site, call in flow.every_call
        ):
            return  # committed for a worker, task or service that reads it next
        message = (
            f"`await {session}.commit()` splits one unit of work: later writes are committed "
            "separately, so a failure in between leaves half the change saved"
        )
        rollback = next(
            (
                c
                for c in flow.calls
                if c.method == "rollback"
                and c.session == session
                and precedes(commit.site, c.site)
                and precedes(c.site, later.site)
            ),
            None,
        )
        if rollback is not None:
            # A flush would let that rollback undo these writes too.
            self.report(
                commit.call,
                f"{message} (no automatic fix: `{session}.rollback()` between the commits "
                f"would then undo these writes too; put the part that may fail in "
                f"`{session}.begin_nested()`)",
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
