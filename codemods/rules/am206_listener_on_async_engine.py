"""AM206 listener-on-async-engine: an event listener attached to an ``AsyncEngine``
(instead of its ``sync_engine``), or an ``async def`` event listener."""

from __future__ import annotations

from typing import ClassVar

import libcst as cst

from asyncmend.codemods.base import Applicability, Fix, Rule
from asyncmend.codemods.semantic.engines import is_async_engine
from asyncmend.codemods.semantic.sessions import async_session_object
from asyncmend.codemods.semantic.tree import dotted_name

#: ``event.listen`` / ``event.listens_for`` wherever they are imported from.
LISTEN_FUNCTIONS = frozenset(
    {"sqlalchemy.event.listen", "sqlalchemy.event.listens_for",
     "sqlalchemy.event.api.listen", "sqlalchemy.event.api.listens_for"}
)  # fmt: skip


class ListenerOnAsyncEngine(Rule):
    """
    ## What it does
    Finds `event.listen(engine, ...)` and `@event.listens_for(engine, ...)` where
    `engine` is an `AsyncEngine` (the value of `create_async_engine(...)`, a name
    annotated `AsyncEngine`, or a module-level engine of another module of the repo),
    the same on an `AsyncSession` (an instance, the class itself, or an
    `async_sessionmaker`), and event listeners written as `async def`.

    Status: preview (a new rule, until its precision on the ecosystem corpus is
    reviewed).

    ## Why is this bad?
    SQLAlchemy's events are synchronous and live on the sync objects an `AsyncEngine`
    wraps. Registering a listener on the `AsyncEngine` itself raises
    `NotImplementedError: asynchronous events are not implemented at this time` when
    the module is imported (checked with SQLAlchemy 2.1), so the app does not start, or,
    where the registration sits in a lazily called function, the listener (a pragma, a
    timing hook, a tenant `SET`) silently never exists on the path that failed.

    The fix attaches the listener to `engine.sync_engine`, which is where SQLAlchemy's
    error message says it belongs. It is safe: the original line can only raise.

    Sessions are the same story. On an `AsyncSession` instance SQLAlchemy raises
    `NotImplementedError` and names the fix, `session.sync_session`, which asyncmend
    applies. The `AsyncSession` class and an `async_sessionmaker` have no events at all
    (`InvalidRequestError: No such event`, checked with SQLAlchemy 2.1): their events
    belong to the sync `Session` class, and listening on `Session` would also cover the
    app's sync sessions, so these are reported without a fix; the scoped remedy is a
    `sessionmaker()` passed as `async_sessionmaker(..., sync_session_class=...)`, with
    the listener on it.

    An `async def` listener is a different bug: SQLAlchemy calls listeners
    synchronously, so each event creates a coroutine nobody awaits ("coroutine ... was
    never awaited") and the listener's body never runs. That is reported without a fix
    (the body has to be rewritten as sync code), and so is an `AsyncEngine` target whose
    listener is an `async def` (moving it to `sync_engine` would turn a startup error
    into a listener that silently never runs).

    ## Example
    ```python
    engine = create_async_engine(settings.database_url)


    @event.listens_for(engine, "connect")
    def set_sqlite_pragma(dbapi_connection, connection_record):
        dbapi_connection.execute("PRAGMA foreign_keys=ON")
    ```

    ## Use instead
    ```python
    engine = create_async_engine(settings.database_url)


    @event.listens_for(engine.sync_engine, "connect")
    def set_sqlite_pragma(dbapi_connection, connection_record):
        dbapi_connection.execute("PRAGMA foreign_keys=ON")
    ```
    """

    code = "AM206"
    name = "listener-on-async-engine"
    fix_applicability = Applicability.SAFE
    triggers = (b"listen",)
    uses_index = True
    preview: ClassVar[bool] = True

    @classmethod
    def candidate(cls, gate: Rule.Gate) -> bool:
        return gate.may_call(LISTEN_FUNCTIONS)

    def visit_Call(self, node: cst.Call) -> None:
        if not self.semantic.resolves_to(node.func, LISTEN_FUNCTIONS, self.ancestors):
            return
        target = _argument(node, 0, "target")
        listener = self._listener(node)
        is_async_listener = listener is not None and listener.asynchronous is not None
        if target is not None and is_async_engine(target.value, self.ancestors, self.context):
            engine = dotted_name(target.value) or "the engine"
            if is_async_listener:
                self.report(
                    target,
                    f"`{engine}` is an AsyncEngine: registering a listener on it raises "
                    f"NotImplementedError (events live on `{engine}.sync_engine`), and the "
                    f"listener `{listener.name.value}` is an `async def` that SQLAlchemy "
                    f"would call synchronously and never await; rewrite it as a plain "
                    f"`def` and attach it to `{engine}.sync_engine`",
                )
                return
            fixed = target.with_changes(
                value=cst.Attribute(value=target.value, attr=cst.Name("sync_engine"))
            )
            message = (
                f"`{engine}` is an AsyncEngine: registering an event listener on it raises "
                f"NotImplementedError; attach it to `{engine}.sync_engine`"
            )
            self.report(target, message, fix=Fix(message, Applicability.SAFE, replacements=[
                self._replacement(target, fixed)
            ]))  # fmt: skip
            return
        kind = async_session_object(target.value, self.ancestors, self.context) if target else None
        if target is not None and kind is not None:
            self._report_session(target, kind, listener if is_async_listener else None)
            return
        if is_async_listener:
            self.report(
                listener.name,
                f"event listener `{listener.name.value}` is an `async def`: SQLAlchemy calls "
                f"listeners synchronously, so each event creates a coroutine that is never "
                f"awaited and the body never runs; make it a plain `def`",
            )

    def _report_session(
        self, target: cst.Arg, kind: str, async_listener: cst.FunctionDef | None
    ) -> None:
        """A listener on an ``AsyncSession`` instance (fix: its ``sync_session``), the
        ``AsyncSession`` class or an ``async_sessionmaker`` (no fix: see the docstring)."""
        written = self.context.module.code_for_node(target.value)
        if kind == "instance":
            message = (
                f"`{written}` is an AsyncSession: registering an event listener on it raises "
                f"NotImplementedError; attach it to `{written}.sync_session`"
            )
        else:
            what = "the `AsyncSession` class" if kind == "class" else "an `async_sessionmaker`"
            message = (
                f"{what} has no events: registering a listener on it raises "
                f'InvalidRequestError ("No such event"); session events live on the sync '
                f"`Session`: listen on a `sessionmaker()` given to the async factory as "
                f"`sync_session_class=`, or on `Session` for every session (no automatic fix: "
                f"`Session` also covers the app's sync sessions)"
            )
        if async_listener is not None:
            message += (
                f"; and the listener `{async_listener.name.value}` is an `async def` that "
                f"SQLAlchemy would call synchronously and never await: rewrite it as a plain `def`"
            )
        if kind != "instance" or async_listener is not None:
            self.report(target, message)
            return
        fixed = target.with_changes(
            value=cst.Attribute(value=target.value, attr=cst.Name("sync_session"))
        )
        self.report(target, message, fix=Fix(message, Applicability.SAFE, replacements=[
            self._replacement(target, fixed)
        ]))  # fmt: skip

    def _replacement(self, target: cst.Arg, fixed: cst.Arg) -> tuple[cst.CSTNode, cst.CSTNode]:
        """``target`` -> ``fixed``, or, in a decorator, the decorated function with its
        decorator rewritten (the engine's extent of a function starts at ``def``, so a
        replacement inside a decorator would not be reached)."""
        if len(self.ancestors) >= 2 and isinstance(self.ancestors[-1], cst.Decorator):
            decorated = self.ancestors[-2]
            if isinstance(decorated, cst.FunctionDef):
                return decorated, decorated.deep_replace(target, fixed)  # type: ignore[return-value]
        return target, fixed

    def _listener(self, call: cst.Call) -> cst.FunctionDef | None:
        """The function a ``listen(target, name, fn)`` registers, or the one a
        ``@listens_for(...)`` decorates (found by name in this module or the enclosing
        functions)."""
        if len(self.ancestors) >= 2 and isinstance(self.ancestors[-1], cst.Decorator):
            decorated = self.ancestors[-2]
            return decorated if isinstance(decorated, cst.FunctionDef) else None
        fn = _argument(call, 2, "fn")
        if fn is None or not isinstance(fn.value, cst.Name):
            return None
        name = fn.value.value
        scopes: list[cst.CSTNode] = [
            n for n in reversed(self.ancestors) if isinstance(n, cst.FunctionDef)
        ]
        for scope in [*scopes, self.context.module]:
            body = scope.body if isinstance(scope, cst.FunctionDef) else scope
            if name in self.semantic.bindings(scope):
                defs = [
                    stmt
                    for stmt in self.semantic.own_scope(body)
                    if isinstance(stmt, cst.FunctionDef) and stmt.name.value == name
                ]
                return defs[0] if len(defs) == 1 else None
        return None


def _argument(call: cst.Call, position: int, keyword: str) -> cst.Arg | None:
    """The argument at ``position`` (positional) or passed as ``keyword``."""
    positional = [a for a in call.args if a.keyword is None and not a.star]
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == keyword:
            return arg
    return positional[position] if len(positional) > position else None
