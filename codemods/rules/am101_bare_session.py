"""AM101 bare-session: an ``AsyncSession`` made by a factory call and never closed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import libcst as cst

from asyncmend.codemods.base import Applicability, FileContext, Fix, Rule
from asyncmend.codemods.semantic.bindings import bound_names
from asyncmend.codemods.semantic.session_flow import session_holders
from asyncmend.codemods.semantic.sessions import is_session_factory_call
from asyncmend.codemods.semantic.summaries import session_effects
from asyncmend.codemods.semantic.tree import (
    child_blocks,
    dotted_name,
    iter_descendants,
    name_nodes,
    nested_scopes,
    reads,
)

#: Calls that hand their arguments to code that runs later (the session escapes).
TASK_CALLS = frozenset(
    {"create_task", "ensure_future", "add_task", "start_soon", "submit", "run_coroutine_threadsafe",
     "call_soon", "call_later", "run_in_executor", "Thread"}
)  # fmt: skip
#: Container methods that store their argument.
STORE_CALLS = frozenset(
    {"append", "add", "extend", "insert", "update", "setdefault", "put", "put_nowait", "appendleft"}
)

if TYPE_CHECKING:
    from asyncmend.engine.config import Config
#: Calls that take over closing the session.
CLOSING_CALLS = frozenset({"enter_async_context", "aclosing", "push_async_callback"})


@dataclass
class _Binding:
    """``name = factory(...)`` as a statement of some block of an ``async def``."""

    name: str
    call: cst.Call
    line: cst.SimpleStatementLine
    block: list[cst.BaseStatement]
    #: Index of ``line`` in ``block``.
    position: int
    #: Whether ``block`` is the function body itself (not a branch or loop inside it).
    top_level: bool


class BareSession(Rule):
    """
    ## What it does
    Finds an `AsyncSession` made by calling a factory (an `async_sessionmaker`,
    `AsyncSession(...)`, `get_session_maker()()`, or a configured session factory) and bound to a name inside an
    `async def`, without `async with`.

    ## Why is this bad?
    Nothing closes the session: its connection stays checked out of the pool until the
    garbage collector finds it, with its transaction open. Under load the pool runs dry
    and requests wait for `pool_timeout`, then fail. An exception between creation and a
    manual `close()` leaks it the same way.

    The fix wraps every statement from the assignment to the last one that uses the
    session (or anything derived from it) in `async with`, and drops a trailing
    `await session.close()`. When the session escapes (returned, yielded, stored on an
    attribute or in a container, passed to a task, captured by a nested function, or
    bound in a branch and used outside it) there is a finding but no fix. A session
    closed in `try/finally` (also through a helper that closes it), entered later with
    `async with session:`, or yielded and closed after the `yield` (a pytest fixture or
    a FastAPI dependency, whose teardown runs after the user is done) is fine. A session
    closed only on the success path is reported as not closed if an exception occurs.

    ## Example
    ```python
    async def get_user(user_id: int) -> User | None:
        session = async_session()
        result = await session.execute(select(User).where(User.id == user_id))
        return result.scalar_one_or_none()
    ```

    ## Use instead
    ```python
    async def get_user(user_id: int) -> User | None:
        async with async_session() as session:
            result = await session.execute(select(User).where(User.id == user_id))
            return result.scalar_one_or_none()
    ```
    """

    code = "AM101"
    name = "bare-session"
    fix_applicability = Applicability.SAFE
    triggers = (b"session", b"Session")
    uses_index = True

    @classmethod
    def candidate(cls, gate: Rule.Gate) -> bool:
        # `name = factory()` in an `async def`.
        return gate.may_have_sessions and any(
            f.kind == "async" and any(gate.may_be_factory(c, sync=False) for c in f.assigned_calls)
            for f in gate.frames
        )

    @classmethod
    def tokens(cls, config: Config) -> tuple[bytes, ...]:
        factories = config.settings.get("session-factories", [])
        return cls.triggers + tuple(f.rsplit(".", 1)[-1].encode() for f in factories)

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        if node.asynchronous is None or not isinstance(node.body, cst.IndentedBlock):
            return
        for binding in self._bindings(list(node.body.body), top_level=True):
            self._check(node, binding)

    # -- finding the bindings ------------------------------------------------------------

    def _bindings(self, block: list[cst.BaseStatement], *, top_level: bool) -> list[_Binding]:
        found: list[_Binding] = []
        for position, stmt in enumerate(block):
            if isinstance(stmt, cst.SimpleStatementLine):
                binding = self._binding_of(stmt, block, position, top_level)
                if binding is not None:
                    found.append(binding)
            elif not isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
                for inner in child_blocks(stmt):
                    found.extend(self._bindings(list(inner.body), top_level=False))
        return found

    def _binding_of(
        self,
        stmt: cst.SimpleStatementLine,
        block: list[cst.BaseStatement],
        position: int,
        top_level: bool,
    ) -> _Binding | None:
        if len(stmt.body) != 1:
            return None
        small = stmt.body[0]
        if isinstance(small, cst.Assign) and len(small.targets) == 1:
            target, value = small.targets[0].target, small.value
        elif isinstance(small, cst.AnnAssign) and small.value is not None:
            target, value = small.target, small.value
        else:
            return None
        if not isinstance(target, cst.Name) or not isinstance(value, cst.Call):
            return None
        if not is_session_factory_call(value, self.context):
            return None
        return _Binding(target.value, value, stmt, block, position, top_level)

    # -- deciding --------------------------------------------------------------------

    def _check(self, func: cst.FunctionDef, binding: _Binding) -> None:
        body = func.body
        if _is_closed_elsewhere(body, binding.name, self.context):
            return
        factory = dotted_name(binding.call.func) or "the factory"
        closes = _closes_somewhere(body, binding.name, self.context)
        escape = self._escape_reason(func, binding)
        if escape == "is yielded" and closes:
            # A pytest fixture or a dependency: the code after `yield` is its teardown,
            # which pytest and FastAPI run once the user of the session is done.
            return
        state = "is not closed if an exception occurs" if closes else "is never closed"
        message = (
            f"Session `{binding.name}` from `{factory}()` {state}; "
            f"use `async with {factory}() as {binding.name}:`"
        )
        if escape is not None:
            self.report(binding.line, f"{message} (no automatic fix: it {escape})")
            return
        fix = _wrap_in_async_with(binding)
        if fix is None:
            self.report(binding.line, message)
            return
        self.report(binding.line, message, fix=fix)

    def _escape_reason(self, func: cst.FunctionDef, binding: _Binding) -> str | None:
        name = binding.name
        # Names that hold the session itself (aliases, objects built around it, stream
        # results): they keep it alive past any block the fix could draw.
        holders = session_holders(func.body, {name}, self.semantic.children)
        for stmt in self.semantic.descendants(func.body):
            if isinstance(stmt, (cst.Global, cst.Nonlocal)) and any(
                n.name.value in holders for n in stmt.names
            ):
                return "is declared global or nonlocal"
            if (
                isinstance(stmt, cst.Return)
                and stmt.value is not None
                and _escapes_in(stmt.value, holders)
            ):
                return "is returned"
            if (
                isinstance(stmt, (cst.Yield,))
                and stmt.value is not None
                and _escapes_in(stmt.value, holders)
            ):
                return "is yielded"
            if isinstance(stmt, (cst.Assign, cst.AnnAssign, cst.AugAssign)):
                targets = (
                    [t.target for t in stmt.targets]
                    if isinstance(stmt, cst.Assign)
                    else [stmt.target]
                )
                stored = [t for t in targets if not isinstance(t, (cst.Name, cst.Tuple, cst.List))]
                if stored and stmt.value is not None and _escapes_in(stmt.value, holders):
                    return "is stored on an attribute or in a container"
            if isinstance(stmt, cst.Call):
                callee = (dotted_name(stmt.func) or "").rsplit(".", 1)[-1]
                args_escape = any(_escapes_in(arg.value, holders) for arg in stmt.args)
                if callee in TASK_CALLS and args_escape:
                    return "is passed to a task"
                if callee in STORE_CALLS and isinstance(stmt.func, cst.Attribute) and args_escape:
                    return "is stored in a container"
        for scope in nested_scopes(func.body):
            if reads(scope, holders):
                return "is captured by a nested function"
        if not binding.top_level and self._used_outside_block(func, binding, holders):
            return "is bound inside a branch or loop and used outside it"
        return None

    def _used_outside_block(
        self, func: cst.FunctionDef, binding: _Binding, holders: set[str]
    ) -> bool:
        """Whether the session, or a name derived from it, is read outside the block
        that binds it."""
        derived = _derived_names(binding.block[binding.position :], binding.name)
        watched = holders | derived
        inside = {id(n) for stmt in binding.block for n in iter_descendants(stmt)}
        return any(
            name.value in watched and id(name) not in inside for name, _ in name_nodes(func.body)
        )


def _is_closed_elsewhere(body: cst.BaseSuite, name: str, context: FileContext) -> bool:
    """``finally: await name.close()`` (or a helper whose summary closes the session it
    receives), ``async with name:``, or handed to a closer."""
    for node in iter_descendants(body):
        if isinstance(node, cst.Finally) and any(
            _is_close_call(n, name) or _closes_through_helper(n, name, context)
            for n in iter_descendants(node)
        ):
            return True
        if isinstance(node, cst.With) and node.asynchronous is not None:
            if any(dotted_name(item.item) == name for item in node.items):
                return True
        if isinstance(node, cst.Call):
            callee = (dotted_name(node.func) or "").rsplit(".", 1)[-1]
            if callee in CLOSING_CALLS and any(dotted_name(a.value) == name for a in node.args):
                return True
    return False


def _closes_somewhere(body: cst.BaseSuite, name: str, context: FileContext) -> bool:
    """Some path closes the session (``await name.close()`` or a closing helper), if
    not in a ``finally``: the success path at least."""
    return any(
        _is_close_call(node, name) or _closes_through_helper(node, name, context)
        for node in iter_descendants(body)
    )


def _closes_through_helper(node: cst.CSTNode, name: str, context: FileContext) -> bool:
    if not isinstance(node, cst.Call):
        return False
    effects = session_effects(node, name, context)
    return effects is not None and "close" in effects


def _is_close_call(node: cst.CSTNode, name: str) -> bool:
    return (
        isinstance(node, cst.Call)
        and isinstance(node.func, cst.Attribute)
        and node.func.attr.value == "close"
        and dotted_name(node.func.value) == name
    )


def _escapes_in(expr: cst.CSTNode, holders: set[str]) -> bool:
    """The value of ``expr`` can carry the session: a holder occurs outside any await
    (``return session``, ``return Repo(session)``, not ``return await repo.get(session)``)
    and is not just the receiver of an attribute read (``session.info``)."""
    for name, path in name_nodes(expr):
        if name.value not in holders or any(isinstance(p, cst.Await) for p in path):
            continue
        parent = path[-1] if path else None
        grandparent = path[-2] if len(path) > 1 else None
        attribute_read = isinstance(parent, cst.Attribute) and not (
            isinstance(grandparent, cst.Call) and grandparent.func is parent
        )
        if not attribute_read:
            return True
    return False


def _derived_names(statements: list[cst.BaseStatement], name: str) -> set[str]:
    """Names bound, transitively, by statements that read ``name``."""
    derived: set[str] = set()
    watched = {name}
    for stmt in statements:
        if reads(stmt, watched):
            new = bound_names(stmt) - {name}
            derived |= new
            watched |= new
    return derived


def _wrap_in_async_with(binding: _Binding) -> Fix | None:
    block, start, name = binding.block, binding.position, binding.name
    watched = {name}
    last = start
    for index in range(start + 1, len(block)):
        stmt = block[index]
        if name in bound_names(stmt) and not reads(stmt, {name}):
            break  # rebound: later statements use another session
        if _is_plain_close(stmt, name) and not any(reads(s, {name}) for s in block[index + 1 :]):
            # An explicit close ends the session's life where the author wanted; what
            # follows sees derived values after the close already, as before the fix.
            last = index
            break
        if reads(stmt, watched):
            watched |= bound_names(stmt) - {name}
            last = index
    inner = list(block[start + 1 : last + 1])
    # A trailing `await session.close()` is what the `async with` now does.
    if inner and _is_plain_close(inner[-1], name) and not _has_comments(inner[-1]):
        inner.pop()
    if not inner:
        return None  # the session is made and dropped: nothing to wrap
    first = binding.line
    with_node = cst.With(
        items=[cst.WithItem(item=binding.call, asname=cst.AsName(name=cst.Name(name)))],
        asynchronous=cst.Asynchronous(),
        body=cst.IndentedBlock(
            body=inner,
            header=first.trailing_whitespace,
        ),
        leading_lines=first.leading_lines,
    )
    replacements: list[tuple[cst.CSTNode, object]] = [(first, with_node)]
    replacements += [(stmt, cst.RemovalSentinel.REMOVE) for stmt in block[start + 1 : last + 1]]
    return Fix(
        message=f"Wrap the session's uses in `async with ... as {name}:`",
        applicability=Applicability.SAFE,
        replacements=replacements,  # type: ignore[arg-type]
    )


def _is_plain_close(stmt: cst.BaseStatement, name: str) -> bool:
    if not isinstance(stmt, cst.SimpleStatementLine) or len(stmt.body) != 1:
        return False
    expr = stmt.body[0]
    return (
        isinstance(expr, cst.Expr)
        and isinstance(expr.value, cst.Await)
        and _is_close_call(expr.value.expression, name)
    )


def _has_comments(stmt: cst.BaseStatement) -> bool:
    lines = getattr(stmt, "leading_lines", ())
    trailing = getattr(stmt, "trailing_whitespace", None)
    return any(line.comment for line in lines) or bool(trailing and trailing.comment)
