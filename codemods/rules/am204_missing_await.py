"""AM204 missing-await: a coroutine called and never awaited, or awaited through the
wrong call of a chain."""

from __future__ import annotations

import libcst as cst

from asyncmend.codemods.base import Applicability, Fix, Rule
from asyncmend.codemods.edits.awaits import awaited, in_generator_expression, is_receiver
from asyncmend.codemods.semantic.coroutines import coroutine_callee, coroutine_callee_kind
from asyncmend.codemods.semantic.session_flow import (
    is_binding_occurrence,
    own_name_reads,
    scoped_session_names,
    self_session_attributes,
    strict_session_names,
)
from asyncmend.codemods.semantic.sessions import SESSION_COROUTINES, may_know_sessions
from asyncmend.codemods.semantic.tree import dotted_name, enclosing_functions, in_nested_scope

#: Session coroutines whose result is a plain object: ``(await s.execute(q)).scalars()``
#: is the whole fix. ``stream()`` results have coroutine methods of their own.
SYNC_RESULT_METHODS = frozenset({"execute", "scalars", "scalar", "get", "get_one", "merge"})
#: Attributes of a coroutine object itself: ``coro.close()`` is deliberate.
COROUTINE_ATTRIBUTES = frozenset(
    {"close", "send", "throw", "cr_await", "cr_frame", "cr_running", "cr_code", "cr_origin",
     "__await__", "__name__", "__qualname__"}
)  # fmt: skip
#: What a session coroutine does that is lost without ``await``.
SESSION_EFFECTS = {
    "commit": "the transaction is never committed",
    "rollback": "nothing is rolled back",
    "flush": "nothing is flushed",
    "close": "the session is not closed",
    "aclose": "the session is not closed",
    "refresh": "the object is not refreshed",
    "delete": "the object is not deleted",
    "merge": "nothing is merged",
}
#: Contexts where the call's value is handed to other code (awaited, scheduled or
#: stored there): ``gather(f())``, ``create_task(f())``, ``return f()``, ``[f(), g()]``.
HANDED_OVER = (
    cst.Arg,
    cst.Return,
    cst.Yield,
    cst.Element,
    cst.StarredElement,
    cst.DictElement,
    cst.StarredDictElement,
    cst.ListComp,
    cst.SetComp,
    cst.DictComp,
    cst.GeneratorExp,
    cst.IfExp,
    cst.NamedExpr,
    cst.WithItem,
    cst.Lambda,
    cst.Index,
    cst.Slice,
)
#: Contexts where the coroutine object is used as if it were the result, and where
#: ``await call`` (higher precedence than any operator) is a drop-in replacement.
CONSUMED = (
    cst.Comparison,
    cst.ComparisonTarget,
    cst.BooleanOperation,
    cst.UnaryOperation,
    cst.BinaryOperation,
    cst.If,
    cst.While,
    cst.Assert,
    cst.FormattedStringExpression,
    cst.For,
)


class MissingAwait(Rule):
    """
    ## What it does
    Finds coroutines that are called and never awaited: the coroutine methods of an
    `AsyncSession` (`commit`, `execute`, `get`, `refresh`, ...; not `add`, `add_all`,
    `expunge`, `begin`, `begin_nested`, which are plain methods), the repo's own
    `async def`s (also when imported from another module), and `asyncio.sleep`. Also
    finds an `await` that binds to the wrong call of a chain:
    `await session.execute(q).scalars().first()`.

    ## Why is this bad?
    Calling a coroutine function only creates a coroutine object; its body runs when it
    is awaited. Without `await` a `session.commit()` commits nothing, a query never
    runs, and `asyncio.sleep(1)` does not pause. Python only warns
    "coroutine ... was never awaited" when the object is garbage-collected, long after
    the data was lost. `await` applies to the whole primary expression after it, so
    `await session.execute(q).scalars()` calls `.scalars()` on the coroutine
    (`AttributeError`) before anything is awaited.

    A coroutine handed to other code is not a finding: passed to `asyncio.gather`,
    `create_task`, `TaskGroup.create_task` or `background_tasks.add_task`, returned,
    stored in a container, or bound to a name that is awaited later. Names are not
    types: a `session` bound to `aiohttp.ClientSession()` or `requests.Session()` is
    not an `AsyncSession`; a session is known by where it comes from (an annotation,
    a `Depends`, a sessionmaker call, or a repo function or method that returns or
    yields one, such as `async with db.session_context() as s`). An `async def` wrapped
    by a decorator that may make it sync (`functools.singledispatch`, an `asyncio.run`
    wrapper, any decorator not known to keep a coroutine function) is not reported.
    In a plain `def`, which cannot await, there is a finding but no fix.

    ## Example
    ```python
    async def mark_shipped(session: AsyncSession, order: Order) -> None:
        order.status = "shipped"
        session.commit()


    async def latest(session: AsyncSession) -> Order | None:
        return await session.execute(select(Order)).scalars().first()
    ```

    ## Use instead
    ```python
    async def mark_shipped(session: AsyncSession, order: Order) -> None:
        order.status = "shipped"
        await session.commit()


    async def latest(session: AsyncSession) -> Order | None:
        return (await session.execute(select(Order))).scalars().first()
    ```
    """

    code = "AM204"
    name = "missing-await"
    fix_applicability = Applicability.SAFE
    triggers = (b"async", b"await", b"AsyncSession", b"sqlalchemy", b"sleep")
    uses_index = True

    @classmethod
    def candidate(cls, gate: Rule.Gate) -> bool:
        # A call not under `await`, in a function, that may return a coroutine.
        return gate.may_miss_await(SESSION_COROUTINES)

    def visit_Call(self, node: cst.Call) -> None:
        parent = self.ancestors[-1]
        if isinstance(parent, cst.Await) or isinstance(parent, HANDED_OVER):
            return  # awaited, or handed over: fine whatever it calls (and cheap to know)
        functions = enclosing_functions(self.ancestors)
        if functions is None:
            return
        func = functions[0]
        is_async = func.asynchronous is not None
        sessions: frozenset[str] = frozenset()
        if isinstance(node.func, cst.Attribute) and node.func.attr.value in SESSION_COROUTINES:
            # Only a session method call needs to know the function's session names.
            if is_async:
                sessions = scoped_session_names(functions, self.context)
            elif may_know_sessions(self.context):
                sessions = strict_session_names(func, self.context)
            if isinstance(node.func.value, cst.Attribute):
                sessions |= self_session_attributes(functions, self.ancestors, self.context)
            head = (_receiver(node) or "").split(".")[0]
            if sessions and self.semantic.comprehension_binds(head, node, self.ancestors):
                # `[s for s in rows if s.get(k)]`: the comprehension's own `s`.
                sessions = frozenset(s for s in sessions if s.split(".")[0] != head)
        callee = coroutine_callee(node, self.context, sessions)
        if callee is None or self._shadowed(node, func, sessions):
            return
        if coroutine_callee_kind(node, self.context) == "decorated":
            # An unknown decorator may make it sync (a dispatcher, an `asyncio.run`
            # wrapper): say nothing rather than a guess about what the call returns.
            return
        if (
            isinstance(parent, (cst.For, cst.CompFor))
            and parent.asynchronous
            and parent.iter is node
        ):
            return  # `async for x in f()`: f() is iterated asynchronously, not awaited
        what = self._describe(node, callee, sessions)
        fixable = is_async and not in_generator_expression(self.ancestors)
        if isinstance(parent, cst.Attribute) and parent.value is node:
            self._check_chain(node, callee, sessions, what, fixable)
        elif isinstance(parent, cst.Expr):
            self._report(node, what, fixable, awaited(node))
        elif isinstance(parent, (cst.Assign, cst.AnnAssign)) and parent.value is node:
            self._check_assignment(node, parent, func, what, fixable)
        elif isinstance(parent, CONSUMED):
            self._report(node, what, fixable, awaited(node))
        elif isinstance(parent, cst.Subscript) and parent.value is node:
            self._report(node, what, fixable, awaited(node, parenthesized=True))
        else:
            self._report(node, what, False, None)

    # -- the cases ---------------------------------------------------------------------

    def _check_chain(
        self,
        call: cst.Call,
        callee: str,
        sessions: frozenset[str],
        what: str,
        fixable: bool,
    ) -> None:
        """``call.attr...``: the coroutine is used as the result (no await, or an await
        that binds to the end of the chain)."""
        first = self.ancestors[-1]
        assert isinstance(first, cst.Attribute)
        if first.attr.value in COROUTINE_ATTRIBUTES:
            return  # coro.close(), coro.send(None): working with the coroutine itself
        top: cst.CSTNode = first
        index = len(self.ancestors) - 2
        while index >= 0:
            above = self.ancestors[index]
            if is_receiver(top, above):
                top, index = above, index - 1
            else:
                break
        outer = self.ancestors[index] if index >= 0 else None
        method = call.func.attr.value if isinstance(call.func, cst.Attribute) else ""
        plain_result = _receiver(call) in sessions and method in SYNC_RESULT_METHODS
        used = f"`.{first.attr.value}`"
        wrapped = awaited(call, parenthesized=True)
        if isinstance(outer, cst.Await) and outer.expression is top:
            chain = cst.ensure_type(top, cst.BaseExpression).deep_replace(call, wrapped)
            chain = cst.ensure_type(chain, cst.BaseExpression)
            if outer.lpar:
                chain = chain.with_changes(
                    lpar=[*outer.lpar, *chain.lpar], rpar=[*chain.rpar, *outer.rpar]
                )
            message = (
                f"`await` binds to the end of the chain, not to `{callee}(...)`: {used} is "
                f"read on the coroutine (AttributeError) before anything is awaited; "
                f"await the call itself: `(await {callee}(...)){_tail(top, call)}`"
            )
            if not plain_result:
                message += " (and await the rest of the chain too if it returns a coroutine)"
            self._report(
                call, message, fixable and plain_result, chain, replace=outer, remedy=False
            )
            return
        message = (
            f"{what}; {used} is then read on the coroutine object (AttributeError). "
            f"Use `(await {callee}(...)){_tail(top, call)}`"
        )
        if not plain_result:
            message += " (and await the rest of the chain too if it returns a coroutine)"
        self._report(call, message, fixable and plain_result, wrapped, remedy=False)

    def _check_assignment(
        self,
        call: cst.Call,
        stmt: cst.Assign | cst.AnnAssign,
        func: cst.FunctionDef,
        what: str,
        fixable: bool,
    ) -> None:
        """``x = coro()``: a finding unless ``x`` is later awaited or handed over."""
        targets = (
            [t.target for t in stmt.targets] if isinstance(stmt, cst.Assign) else [stmt.target]
        )
        if len(targets) != 1 or not isinstance(targets[0], cst.Name):
            return  # stored on an attribute, in a container, or unpacked
        name = targets[0].value
        misused = False
        for occurrence, path in own_name_reads(func, name):
            if occurrence is targets[0] or is_binding_occurrence(occurrence, path):
                continue
            parent = path[-1] if path else None
            if (
                not in_nested_scope(path)
                and isinstance(parent, cst.Attribute)
                and parent.value is occurrence
                and parent.attr.value not in COROUTINE_ATTRIBUTES
            ):
                misused = True
                continue
            return  # awaited later, passed on, returned, or captured
        detail = (
            f"; `{name}` holds the coroutine, and reading attributes of it fails"
            if misused
            else f"; `{name}` holds the coroutine and nothing awaits it"
        )
        self._report(call, what + detail, fixable, awaited(call))

    # -- reporting ---------------------------------------------------------------------

    def _report(
        self,
        call: cst.Call,
        message: str,
        fixable: bool,
        replacement: cst.BaseExpression | None,
        *,
        replace: cst.CSTNode | None = None,
        remedy: bool = True,
    ) -> None:
        func = enclosing_functions(self.ancestors)
        if func is not None and func[0].asynchronous is None:
            message += (
                "; this is a plain `def`, which cannot await: make it `async def` and "
                "await the call, or run the coroutine on the event loop"
            )
        elif remedy:
            message += f"; use `await {_callee_text(call)}(...)`"
        fix = None
        if fixable and replacement is not None:
            fix = Fix(
                message="Await the coroutine",
                applicability=Applicability.SAFE,
                replacements=[(replace or call, replacement)],
            )
        self.report(call, message, fix=fix)

    def _describe(self, call: cst.Call, callee: str, sessions: frozenset[str]) -> str:
        func = call.func
        if isinstance(func, cst.Attribute) and _receiver(call) in sessions:
            method = func.attr.value
            if method in SESSION_COROUTINES:
                effect = SESSION_EFFECTS.get(
                    method,
                    "the statement never reaches the database and the code holds "
                    "a coroutine instead of the result",
                )
                return (
                    f"`{callee}()` is a coroutine method of AsyncSession and is never "
                    f"awaited, so {effect}"
                )
        qualified = self.semantic.resolve(func) or callee
        if qualified == "asyncio.sleep":
            return f"`{callee}()` returns a coroutine that is never awaited: there is no pause"
        resolved = self.context.index.resolve(qualified)
        where = f" (`{resolved}`)" if resolved != callee else ""
        return (
            f"`{callee}()` is an `async def`{where} called without `await`: it only "
            f"creates a coroutine, and its body never runs"
        )

    def _shadowed(self, call: cst.Call, func: cst.FunctionDef, sessions: frozenset[str]) -> bool:
        """A module-level callee (``sleep``, ``create_user``) rebound inside the function."""
        if _receiver(call) in sessions:
            return False
        name = dotted_name(call.func) or ""
        head = name.split(".")[0]
        functions = enclosing_functions(self.ancestors) or [func]
        return any(head in self.semantic.local_names(f) for f in functions)


def _receiver(call: cst.Call) -> str | None:
    return dotted_name(call.func.value) if isinstance(call.func, cst.Attribute) else None


def _callee_text(call: cst.Call) -> str:
    return dotted_name(call.func) or "..."


def _tail(top: cst.CSTNode, call: cst.Call) -> str:
    """The source of the chain after ``call`` (``.scalars().first()``), for messages."""
    module = cst.Module(body=[])
    full = module.code_for_node(top)
    head = module.code_for_node(call)
    return full[len(head) :] if full.startswith(head) else ""
