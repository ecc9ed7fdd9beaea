"""AM106 commit-after-yield: a FastAPI yield dependency that commits after its
``yield``, when FastAPI has already sent the response."""

from __future__ import annotations

from typing import ClassVar

import libcst as cst

from asyncmend.codemods.base import Applicability, Fix, Rule
from asyncmend.codemods.semantic.dependencies import dependency_scopes, is_yield_dependency
from asyncmend.codemods.semantic.fastapi import depends_call, depends_scope
from asyncmend.codemods.semantic.sessions import session_method, session_names
from asyncmend.codemods.semantic.tree import dotted_name
from asyncmend.codemods.semantic.versions import has_at_least

#: The first FastAPI with ``Depends(dep, scope="function")``.
FUNCTION_SCOPE_SINCE = (0, 121)


class CommitAfterYield(Rule):
    """
    ## What it does
    Finds a FastAPI dependency that yields an `AsyncSession` and commits it after the
    `yield`: `await session.commit()` after `yield session`, or a `yield` inside
    `async with session.begin():` (which commits when the block exits).

    Status: preview (a new rule, until its precision on the ecosystem corpus is
    reviewed).

    ## Why is this bad?
    Since FastAPI 0.118 the code after a dependency's `yield` runs after the response
    has been sent. A commit there that fails (a unique or foreign-key violation, a
    serialization failure, a lost connection) is a silent data loss: the client already
    got its `200`/`201`, and the error only reaches the server log. Checked with FastAPI
    0.165 and SQLite: a route adding a row whose commit violates a unique constraint
    answers `200`, and the row is not there.

    Commit in the route or the service, where a failure becomes the response, or depend
    on the dependency with `Depends(get_session, scope="function")` (FastAPI >= 0.121),
    whose exit code runs before the response is sent.

    The fix (unsafe, offered only when the installed FastAPI is 0.121 or newer) adds
    `scope="function"` to the `Depends(...)` of this module that name the dependency
    (an `Annotated` alias such as `SessionDep`); `Depends` in other modules are left as
    they are and the finding stays until they are changed too. It is unsafe because the
    session then closes before FastAPI serializes the route's return value: with
    `expire_on_commit=True`, reading a committed object's attributes during
    serialization fails.

    A dependency every `Depends` of which already passes `scope="function"` is not
    reported.

    ## Example
    ```python
    async def get_session() -> AsyncIterator[AsyncSession]:
        async with async_session() as session:
            yield session
            await session.commit()


    SessionDep = Annotated[AsyncSession, Depends(get_session)]
    ```

    ## Use instead
    ```python
    async def get_session() -> AsyncIterator[AsyncSession]:
        async with async_session() as session:
            yield session
            await session.commit()


    SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
    ```
    """

    code = "AM106"
    name = "commit-after-yield"
    fix_applicability = Applicability.UNSAFE
    triggers = (b"yield",)
    uses_index = True
    preview: ClassVar[bool] = True

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        if node.asynchronous is None or not is_yield_dependency(node, self.context, self.ancestors):
            return
        if dependency_scopes(node, self.context) == {"function"}:
            return
        sessions = session_names(node, self.context)
        if not sessions:
            return
        for stmt, how in self._commits_after_yield(node, sessions):
            self.report(
                stmt,
                f"{how} after the `yield` of dependency `{node.name.value}`: since FastAPI "
                f"0.118 that code runs after the response is sent, so a failed commit is "
                f"lost while the client got a success; commit in the route or service, or "
                f'use `Depends({node.name.value}, scope="function")` (FastAPI >= 0.121)',
                fix=self._fix(node),
            )

    def _commits_after_yield(
        self, func: cst.FunctionDef, sessions: frozenset[str]
    ) -> list[tuple[cst.CSTNode, str]]:
        found: list[tuple[cst.CSTNode, str]] = []
        seen_yield = False
        for stmt in self.semantic.scope_statements(func.body):
            if isinstance(stmt, cst.WithItem):
                begun = session_method(stmt.item, sessions)
                if (
                    begun is not None
                    and begun[1] == "begin"
                    and not seen_yield
                    and self._with_yields(func, stmt)
                ):
                    found.append((stmt, f"`{begun[0]}.begin()` commits"))
                continue
            if any(isinstance(n, cst.Yield) for n in self.semantic.descendants(stmt)):
                seen_yield = True
                continue
            if seen_yield:
                for n in self.semantic.descendants(stmt):
                    called = (
                        session_method(n.expression, sessions) if isinstance(n, cst.Await) else None
                    )
                    if called is not None and called[1] == "commit":
                        found.append((stmt, f"`{called[0]}` commits"))
        return found

    def _with_yields(self, func: cst.FunctionDef, item: cst.WithItem) -> bool:
        """Whether the ``with`` statement of ``item`` holds the function's yield."""
        for node in self.semantic.own_scope(func.body):
            if isinstance(node, cst.With) and any(i is item for i in node.items):
                return any(isinstance(n, cst.Yield) for n in self.semantic.own_scope(node.body))
        return False

    def _fix(self, func: cst.FunctionDef) -> Fix | None:
        """``scope="function"`` on this module's ``Depends(func)`` without a scope."""
        if not has_at_least("fastapi", *FUNCTION_SCOPE_SINCE):
            return None
        name = func.name.value
        calls = [
            call
            for node in self.semantic.descendants(self.context.module)
            if (call := depends_call(node)) is not None  # type: ignore[arg-type]
            and call.args
            and dotted_name(call.args[0].value) == name
            and depends_scope(call) == ""
            and not any(a.keyword is not None and a.keyword.value == "scope" for a in call.args)
        ]
        if not calls:
            return None
        # The engine's extent of a parameter is its name: a call in its default or
        # annotation is reached by replacing the whole parameter.
        params = {
            id(inner): node
            for node in self.semantic.descendants(self.context.module)
            if isinstance(node, cst.Param)
            for inner in self.semantic.descendants(node)
        }
        changed: dict[int, tuple[cst.CSTNode, cst.CSTNode]] = {}
        for call in calls:
            args = list(call.args)
            args[-1] = args[-1].with_changes(
                comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
            )
            args.append(
                cst.Arg(
                    keyword=cst.Name("scope"),
                    value=cst.SimpleString('"function"'),
                    equal=cst.AssignEqual(
                        whitespace_before=cst.SimpleWhitespace(""),
                        whitespace_after=cst.SimpleWhitespace(""),
                    ),
                )
            )
            new_call = call.with_changes(args=args)
            param = params.get(id(call))
            if param is None:
                changed[id(call)] = (call, new_call)
            else:
                _, current = changed.get(id(param), (param, param))
                changed[id(param)] = (param, current.deep_replace(call, new_call))
        replacements = list(changed.values())
        return Fix(
            f'depend on `{name}` with `scope="function"` (its exit code then runs before '
            f"the response)",
            Applicability.UNSAFE,
            replacements=replacements,
        )
