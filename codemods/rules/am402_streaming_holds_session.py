"""AM402 streaming-holds-session: a streaming response whose generator uses the request's
session."""

from __future__ import annotations

from typing import TYPE_CHECKING

import libcst as cst

from asyncmend.codemods.base import Applicability, FileContext, Rule
from asyncmend.codemods.semantic.fastapi import is_route_handler
from asyncmend.codemods.semantic.sessions import session_names
from asyncmend.codemods.semantic.tree import own_scope, parameters, reads
from asyncmend.codemods.semantic.versions import has_at_least

if TYPE_CHECKING:
    from asyncmend.codemods.semantic.model import SemanticModel

#: Response classes that consume an iterator after the route has returned.
STREAMING_RESPONSES = frozenset(
    {"fastapi.responses.StreamingResponse", "starlette.responses.StreamingResponse",
     "sse_starlette.EventSourceResponse", "sse_starlette.sse.EventSourceResponse"}
)  # fmt: skip


class StreamingHoldsSession(Rule):
    """
    ## What it does
    Finds a route that returns a `StreamingResponse` (or sse-starlette's
    `EventSourceResponse`) whose content is a generator that uses the request's session:
    a generator function called with the session, a nested generator that captures it,
    or a generator expression that reads it. The session is a parameter of the route
    that a `Depends` dependency yields.

    Status: preview (a new rule, until its precision on the ecosystem corpus is
    reviewed).

    ## Why is this bad?
    The generator runs after the route has returned, while the response streams. Since
    FastAPI 0.118 a `yield` dependency's exit code runs after the response is done, so
    the request's session and its pooled connection are held for the whole stream: a
    slow client or a long SSE stream keeps a connection per open stream, and a pool of
    ten is exhausted by ten listeners (every other request then waits and fails with a
    pool timeout). From FastAPI 0.106 to 0.117 the exit code ran before the response,
    so the generator used a session that was already closed: each use checked out a new
    connection that nothing gave back. The message says which applies to the installed
    FastAPI. There is no automatic fix: where the data should be read is a design choice.

    ## Example
    ```python
    @router.get("/orders/export")
    async def export_orders(session: SessionDep) -> StreamingResponse:
        async def rows():
            result = await session.stream_scalars(select(Order))
            async for order in result:
                yield f"{order.id},{order.total}\\n"

        return StreamingResponse(rows(), media_type="text/csv")
    ```

    ## Use instead
    Read in a short session of the generator's own, opened from the sessionmaker and
    closed before the rows go out (or read the data before returning), and stream plain
    values:
    ```python
    @router.get("/orders/export")
    async def export_orders() -> StreamingResponse:
        async def rows():
            async with async_session() as session:
                orders = (await session.scalars(select(Order))).all()
            for order in orders:
                yield f"{order.id},{order.total}\n"

        return StreamingResponse(rows(), media_type="text/csv")
    ```
    """

    code = "AM402"
    name = "streaming-holds-session"
    fix_applicability = Applicability.NONE
    triggers = (b"StreamingResponse", b"EventSourceResponse")
    uses_index = True
    preview = True

    def visit_Call(self, node: cst.Call) -> None:
        if self.semantic.resolve(node.func) not in STREAMING_RESPONSES:
            return
        content = _content(node)
        handler = self.enclosing_function()
        if content is None or handler is None or not is_route_handler(handler, self.context):
            return
        sessions = _request_sessions(handler, self.context)
        if not sessions:
            return
        found = _generator_use(content, handler, self.semantic, sessions)
        if found is not None:
            session, how = found
            self.report(content, f"The streamed generator {how} `{session}`, {_consequence()}")


def _content(call: cst.Call) -> cst.BaseExpression | None:
    for position, arg in enumerate(call.args):
        if arg.keyword is None and position == 0 and not arg.star:
            return arg.value
        if arg.keyword is not None and arg.keyword.value == "content":
            return arg.value
    return None


def _request_sessions(handler: cst.FunctionDef, context: FileContext) -> set[str]:
    """The route's parameters that hold the request's session (its type is known)."""
    known = session_names(handler, context, fallback=False)
    return {p.name.value for p in parameters(handler)} & known


def _generator_use(
    content: cst.BaseExpression,
    handler: cst.FunctionDef,
    semantic: SemanticModel,
    sessions: set[str],
) -> tuple[str, str] | None:
    """``(session, how the generator gets it)`` when ``content`` is a generator that uses
    one of ``sessions``: ``gen(session)``, a nested generator reading it, ``(... for ...)``;
    a name bound once in the route to one of those counts as that value."""
    if isinstance(content, cst.Name):
        value = semantic.single_value(handler, content.value)
        if value is None:
            return None
        content = value
    if isinstance(content, cst.GeneratorExp):
        session = _first_read(content, sessions)
        return (session, "reads the request's session") if session else None
    if not isinstance(content, cst.Call) or not isinstance(content.func, cst.Name):
        return None
    name = content.func.value
    generator = _generator_function(name, handler, semantic.module)
    if generator is None:
        return None  # not known to be a generator: what it does with the session is not known
    for arg in content.args:
        session = _first_read(arg.value, sessions)
        if session is not None:
            return session, f"`{name}()` is handed the request's session"
    if any(node is generator for node in own_scope(handler.body)):
        session = _first_read(
            generator.body, sessions - {p.name.value for p in parameters(generator)}
        )
        if session is not None:
            return session, f"`{name}()` captures the request's session"
    return None


def _first_read(node: cst.CSTNode, names: set[str]) -> str | None:
    return next((name for name in sorted(names) if reads(node, {name})), None)


def _generator_function(
    name: str, handler: cst.FunctionDef, module: cst.Module
) -> cst.FunctionDef | None:
    """The generator function ``name`` defined in the route's body or at module level."""
    for scope in (handler.body, module):
        for node in own_scope(scope):
            if isinstance(node, cst.FunctionDef) and node.name.value == name:
                is_generator = any(isinstance(n, cst.Yield) for n in own_scope(node.body))
                return node if is_generator else None
    return None


def _consequence() -> str:
    if has_at_least("fastapi", 0, 118) or not has_at_least("fastapi", 0, 106):
        return (
            "so the session and its pooled connection are held until the whole response "
            "has streamed (one connection per open stream exhausts the pool); read in a "
            "short session of the generator's own, or read the data before returning"
        )
    return (
        "which FastAPI (0.106-0.117) closes before the response streams: each use in the "
        "generator checks out a connection that nothing gives back; read in a short "
        "session of the generator's own, or read the data before returning"
    )
