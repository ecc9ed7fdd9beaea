"""AM104 session-used-after-close: a session read after the ``async with`` that closed it."""

from __future__ import annotations

import libcst as cst

from asyncmend.codemods.base import Applicability, Rule
from asyncmend.codemods.semantic.bindings import bound_names
from asyncmend.codemods.semantic.session_flow import is_binding_occurrence, session_factory_item
from asyncmend.codemods.semantic.sessions import session_names
from asyncmend.codemods.semantic.tree import (
    dotted_name,
    enclosing_functions,
    in_nested_scope,
    name_nodes,
)


class SessionUsedAfterClose(Rule):
    """
    ## What it does
    Finds a session bound by `async with factory() as session:` (or entered with
    `async with session:`) that is used after the block has ended.

    ## Why is this bad?
    Leaving the block closes the session: its transaction is rolled back unless it was
    committed inside the block, its connection goes back to the pool, and the objects
    it loaded are detached. A closed `AsyncSession` does not raise when used again; it
    quietly begins a new transaction on a new connection that nothing will close. So an
    `await session.commit()` after the block commits an empty transaction while the
    block's changes are already lost, and the connection leaks until garbage collection.

    There is no automatic fix: whether the use belongs inside the block, or needs a
    session of its own, depends on what the code means.

    ## Example
    ```python
    async def cancel_stale_orders(cutoff: datetime) -> int:
        async with async_session() as session:
            result = await session.execute(
                update(Order).where(Order.created_at < cutoff).values(status="cancelled")
            )
        await session.commit()
        return result.rowcount
    ```

    ## Use instead
    ```python
    async def cancel_stale_orders(cutoff: datetime) -> int:
        async with async_session() as session:
            result = await session.execute(
                update(Order).where(Order.created_at < cutoff).values(status="cancelled")
            )
            await session.commit()
        return result.rowcount
    ```
    """

    code = "AM104"
    name = "session-used-after-close"
    fix_applicability = Applicability.NONE
    triggers = (b"async with",)
    uses_index = True

    @classmethod
    def candidate(cls, gate: Rule.Gate) -> bool:
        # `async with session:` on a name that may hold an AsyncSession
        # (`session_names`), or `async with <factory>() as s` (`.begin()` too, the
        # factory maybe a parameter annotated `async_sessionmaker[...]`:
        # `session_factory_item`), whose name the function writes again after the block
        # (`reused_withs`).
        def opens(frame: Rule.Gate.Frame, callee: str | None) -> bool:
            maker = callee.removesuffix(".begin") if callee else callee
            return gate.may_be_factory(maker, sync=False) or any(
                source[0] == "typed"
                and any((n or "").rsplit(".", 1)[-1] == "async_sessionmaker" for n in source[1:])
                for source in frame.sources.get(maker or "", ())
            )

        def holds(frame: Rule.Gate.Frame, name: str | None) -> bool:
            return bool(name) and gate.may_hold_session(frame, str(name), own=True, sync=False)

        return gate.may_have_sessions and any(
            (kind == "name" and holds(frame, callee)) or (kind == "call" and opens(frame, callee))
            for frame, kind, callee in gate.reused_withs
        )

    def visit_With(self, node: cst.With) -> None:
        if node.asynchronous is None:
            return
        functions = enclosing_functions(self.ancestors)
        if functions is None:
            return
        for item in node.items:
            name, opened = self._closed_name(item, functions[0])
            if name is not None:
                self._check_after(node, name, opened)

    def _closed_name(self, item: cst.WithItem, func: cst.FunctionDef) -> tuple[str | None, str]:
        """The session name the item closes at the end of the block, and how it was
        entered (for the message)."""
        if item.asname is not None:
            target = item.asname.name
            if isinstance(target, cst.Name) and session_factory_item(item.item, self.context, func):
                opened = (
                    f"async with {dotted_name(_callee(item.item)) or '...'}() as {target.value}"
                )
                return target.value, opened
            return None, ""
        name = dotted_name(item.item)
        if isinstance(item.item, cst.Name) and name in session_names(func, self.context):
            return name, f"async with {name}"
        return None, ""

    def _check_after(self, with_node: cst.With, name: str, opened: str) -> None:
        for stmt in _statements_after(with_node, self.ancestors):
            if name in bound_names(stmt):
                return  # rebound (or maybe rebound): later reads may see another session
            for occurrence, path in name_nodes(stmt):
                if occurrence.value != name or in_nested_scope(path):
                    continue
                if is_binding_occurrence(occurrence, path) or any(
                    isinstance(p, cst.Del) for p in path
                ):
                    continue
                self.report(
                    occurrence,
                    f"`{name}` is used after `{opened}:` closed it: the block's changes were "
                    f"rolled back at close unless committed inside it, and this use begins "
                    f"a new transaction on a new connection that nothing closes (objects "
                    f"loaded in the block are detached); move this use into the block, or "
                    f"open a new session for it",
                )
                return


def _callee(item: cst.BaseExpression) -> cst.BaseExpression | None:
    if not isinstance(item, cst.Call):
        return None
    func = item.func
    if isinstance(func, cst.Attribute) and func.attr.value == "begin":
        return cst.Attribute(value=func.value, attr=cst.Name("begin"))
    return func


def _statements_after(node: cst.CSTNode, ancestors: list[cst.CSTNode]) -> list[cst.CSTNode]:
    """The statements that run after ``node`` in its function: its later siblings, then
    those of each enclosing block, up to the function body."""
    following: list[cst.CSTNode] = []
    current = node
    for ancestor in reversed(ancestors):
        if isinstance(ancestor, cst.FunctionDef):
            break
        if isinstance(ancestor, cst.IndentedBlock):
            body = list(ancestor.body)
            position = next((i for i, s in enumerate(body) if s is current), None)
            if position is not None:
                following.extend(body[position + 1 :])
        current = ancestor
    return following
