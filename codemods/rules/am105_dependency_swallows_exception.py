"""AM105 dependency-swallows-exception: an ``except`` around the ``yield`` of a FastAPI
dependency that neither re-raises nor raises another exception."""

from __future__ import annotations

from typing import ClassVar

import libcst as cst

from asyncmend.codemods.base import Applicability, Fix, Rule
from asyncmend.codemods.semantic.dependencies import is_yield_dependency
from asyncmend.codemods.semantic.tree import caught_types, dotted_name

#: Exceptions FastAPI never throws into a dependency for a route's failure.
_NOT_ROUTE_ERRORS = frozenset({"GeneratorExit"})
#: Statements after which an appended ``raise`` would be dead code.
_TERMINAL = (cst.Return, cst.Raise, cst.Continue, cst.Break)


class DependencySwallowsException(Rule):
    """
    ## What it does
    Finds, in a FastAPI dependency that yields (a generator function named by a
    `Depends(...)` of the repo, or one that yields an `AsyncSession`), an `except`
    handler around the `yield` that neither re-raises the exception nor raises another.

    Status: preview (a new rule, until its precision on the ecosystem corpus is
    reviewed).

    ## Why is this bad?
    Since FastAPI 0.106 an exception raised by the route (an `HTTPException`, a
    validation error, a bug) is thrown into the dependency at its `yield`; since FastAPI
    0.110 a dependency that catches it without raising again hides it. Checked with
    FastAPI 0.165: the route's `HTTPException(404)` becomes a `500 Internal Server
    Error`, and the server logs `FastAPIError: Response not awaited ... a dependency
    with yield has a block with a bare except, or a block with except Exception, and is
    not raising the exception again` instead of the route's own error. Every error
    response of every route using the dependency turns into an anonymous 500.

    The fix appends `raise` to the handler (after its rollback or logging), so the
    route's error reaches FastAPI's exception handlers. It is safe when the `yield` is
    the last statement of the `try`: the handler then only sees the route's errors and
    errors before the `yield` (where a dependency that does not yield fails anyway).
    When code follows the `yield` inside the `try` (a `commit`), the handler also
    swallows that code's failures, and re-raising them is a behaviour change: the fix is
    unsafe then. A handler that ends in `return` (or `break`, `continue`) is reported
    without a fix.

    ## Example
    ```python
    async def get_session() -> AsyncIterator[AsyncSession]:
        async with async_session() as session:
            try:
                yield session
            except Exception:
                await session.rollback()
    ```

    ## Use instead
    ```python
    async def get_session() -> AsyncIterator[AsyncSession]:
        async with async_session() as session:
            try:
                yield session
            except Exception:
                await session.rollback()
                raise
    ```
    """

    code = "AM105"
    name = "dependency-swallows-exception"
    fix_applicability = Applicability.SAFE
    triggers = (b"yield",)
    uses_index = True
    preview: ClassVar[bool] = True

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        if not is_yield_dependency(node, self.context, self.ancestors):
            return
        own = list(self.semantic.own_scope(node.body))
        yields = {id(n) for n in own if isinstance(n, cst.Yield)}
        for stmt in own:
            if isinstance(stmt, cst.Try) and stmt.handlers:
                inside = [n for n in self.semantic.own_scope(stmt.body) if id(n) in yields]
                if inside:
                    self._check_try(node, stmt)

    def _check_try(self, func: cst.FunctionDef, stmt: cst.Try) -> None:
        last = stmt.body.body[-1] if stmt.body.body else None
        yield_is_last = (
            isinstance(last, cst.SimpleStatementLine)
            and len(last.body) == 1
            and isinstance(last.body[0], cst.Expr)
            and isinstance(last.body[0].value, cst.Yield)
        )
        for handler in stmt.handlers:
            types = caught_types(handler)
            names = [(dotted_name(t) or "").rsplit(".", 1)[-1] for t in types or []]
            if types and all(n in _NOT_ROUTE_ERRORS for n in names):
                continue
            if any(isinstance(n, cst.Raise) for n in self.semantic.own_scope(handler.body)):
                continue
            caught = "a bare `except`" if types is None else f"`except {', '.join(names)}`"
            message = (
                f"{caught} around the `yield` of dependency `{func.name.value}` never "
                f"re-raises: since FastAPI 0.110 the route's error (an HTTPException, a "
                f"failure) is swallowed and every route using it answers an anonymous 500; "
                f"end the handler with `raise`"
            )
            fixed = _with_raise(handler)
            if fixed is None:
                self.report(handler, message)
                continue
            applicability = Applicability.SAFE if yield_is_last else Applicability.UNSAFE
            self.report(
                handler,
                message,
                fix=Fix(message, applicability, replacements=[(handler, fixed)]),
            )


def _with_raise(handler: cst.ExceptHandler) -> cst.ExceptHandler | None:
    """``handler`` with ``raise`` as its last statement (replacing a lone ``pass``), or
    None when its last statement leaves the handler (``return``...)."""
    raise_line = cst.SimpleStatementLine(body=[cst.Raise()])
    body = handler.body
    if isinstance(body, cst.SimpleStatementSuite):
        # `except E: log(...)  # comment` -> an indented block keeping the comment.
        statements: list[cst.BaseStatement] = [
            cst.SimpleStatementLine(body=[small]) for small in body.body
        ]
        statements[-1] = statements[-1].with_changes(trailing_whitespace=body.trailing_whitespace)
        body = cst.IndentedBlock(body=statements)
    last = body.body[-1]
    smalls = last.body if isinstance(last, cst.SimpleStatementLine) else []
    if smalls and isinstance(smalls[-1], _TERMINAL):
        return None
    if len(body.body) == 1 and len(smalls) == 1 and isinstance(smalls[0], cst.Pass):
        return handler.with_changes(body=body.with_changes(body=[raise_line]))
    return handler.with_changes(body=body.with_changes(body=[*body.body, raise_line]))
