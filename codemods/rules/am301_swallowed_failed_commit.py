"""AM301 swallowed-failed-commit: an ``except`` that survives a failed commit without
rolling the session back."""

from __future__ import annotations

import libcst as cst

from asyncmend.codemods.base import Applicability, FileContext, Fix, Rule
from asyncmend.codemods.semantic.bindings import bound_names
from asyncmend.codemods.semantic.sessions import method_session_names
from asyncmend.codemods.semantic.summaries import session_effects
from asyncmend.codemods.semantic.tree import (
    SCOPE_NODES,
    assigned_names,
    assignment,
    caught_types,
    dotted_name,
    iter_children,
    own_scope,
    owner_class,
)

#: Session methods whose failure leaves the session needing a rollback.
FAILING_METHODS = frozenset({"commit", "flush"})
#: Session methods that clear a failed transaction.
RECOVERING_METHODS = frozenset({"rollback", "close", "aclose", "reset", "invalidate"})
#: Effects of a helper (function summaries) that clear a failed transaction.
RECOVERING_EFFECTS = frozenset({"rollback", "close"})
#: Exception classes that catch what a failed commit raises (sqlalchemy.exc.* too).
BROAD_EXCEPTIONS = frozenset({"Exception", "BaseException", "builtins.Exception"})


class SwallowedFailedCommit(Rule):
    """
    ## What it does
    Finds a `try` whose body awaits `session.commit()` (or `flush()`) with an `except`
    handler that catches the failure but neither re-raises it nor rolls the session back.

    ## Why is this bad?
    When a flush fails (a duplicate key, a deadlock, a lost connection), SQLAlchemy rolls
    back the database transaction but keeps the session in a failed state until
    `rollback()` is called: every later use of it raises `PendingRollbackError`
    ("This Session's transaction has been rolled back due to a previous exception during
    flush"). A handler that logs and carries on (skips the row, returns `False`) turns
    one bad row into failures everywhere the session is used next.

    The fix adds `await session.rollback()` as the handler's first statement (rolling
    back a failed session is always allowed and has no other effect). Handlers that only
    catch exceptions a commit cannot raise (`ValueError`, `KeyError`...), that end by
    raising, that roll back, close or reset the session, or that hand the session to
    another function that may roll it back (one whose summary in the repo shows a
    rollback, or that is not known) are left alone, as are commits inside
    `async with session.begin()` / `begin_nested()`, which roll back themselves.

    ## Example
    ```python
    async def import_users(session: AsyncSession, rows: list[dict]) -> int:
        imported = 0
        for row in rows:
            session.add(User(**row))
            try:
                await session.commit()
                imported += 1
            except IntegrityError:
                logger.warning("duplicate user %s", row["email"])
        return imported
    ```

    ## Use instead
    ```python
    async def import_users(session: AsyncSession, rows: list[dict]) -> int:
        imported = 0
        for row in rows:
            session.add(User(**row))
            try:
                await session.commit()
                imported += 1
            except IntegrityError:
                await session.rollback()
                logger.warning("duplicate user %s", row["email"])
        return imported
    ```
    """

    code = "AM301"
    name = "swallowed-failed-commit"
    fix_applicability = Applicability.SAFE
    triggers = (b"commit", b"flush")
    uses_index = True

    def visit_Try(self, node: cst.Try) -> None:
        func = self.enclosing_function()
        if func is None or func.asynchronous is None:
            return
        sessions = method_session_names(func, owner_class(func, self.ancestors), self.context)
        if not sessions:
            return
        failing = _failing_calls(node.body, sessions)
        if not failing:
            return
        committed = list(dict.fromkeys(session for session, _ in failing))
        # Rolling back a savepoint of the session is a rollback too.
        recovering = set(committed) | {
            name for name, owner in _savepoints(func, sessions).items() if owner in committed
        }
        if node.finalbody is not None and _recovers(node.finalbody, recovering, self.context):
            return
        swallowing = [
            handler
            for handler in node.handlers
            if self._catches_commit_errors(handler)
            and not _ends_with_raise(handler.body)
            and not _recovers(handler.body, recovering, self.context)
        ]
        if not swallowing:
            return
        session, call = failing[0]
        method = call.func.attr.value  # type: ignore[attr-defined]
        caught = ", ".join(_describe(h) for h in swallowing)
        inside, savepoint = self._enclosing_transaction(node, func, set(committed))
        undo = f"`await {savepoint or session}.rollback()`"
        if inside == "begin_nested" and savepoint is None:
            undo = f"rolling back its `{session}.begin_nested()` savepoint"
        message = (
            f"`{session}.{method}()` can fail here and {caught} carries on without "
            f"{undo}: the session stays failed and its next use raises "
            "`PendingRollbackError`"
        )
        bound_inside = {n for stmt in node.body.body for n in bound_names(stmt)}
        if bound_inside & set(committed):
            # The handler may run before the name is bound: a rollback there could fail.
            self.report(
                call, f"{message} (no automatic fix: `{session}` is bound inside the `try`)"
            )
            return
        if inside == "begin":
            # A rollback inside `async with s.begin():` ends the transaction the block
            # manages: how the handler should go on is the author's call.
            self.report(
                call,
                f"{message} (no automatic fix: the `try` runs inside "
                f"`{session}.begin()`, whose block ends the transaction)",
            )
            return
        if inside:
            # `session.rollback()` here would roll back the outer transaction too (and
            # lose the work before the savepoint): only the savepoint may be rolled back.
            if savepoint is None or len(committed) > 1:
                self.report(
                    call,
                    f"{message} (no automatic fix: the `try` runs inside "
                    f"`{session}.begin_nested()`; roll back that savepoint)",
                )
                return
            rollbacks = [savepoint]
        else:
            rollbacks = committed
        fix = Fix(
            message=f"Add `await {rollbacks[0]}.rollback()` as the handler's first statement",
            applicability=Applicability.SAFE,
            replacements=[(h.body, _with_rollback(h.body, rollbacks)) for h in swallowing],
        )
        self.report(call, message, fix=fix)

    def _enclosing_transaction(
        self, node: cst.Try, func: cst.FunctionDef, sessions: set[str]
    ) -> tuple[str | None, str | None]:
        """Whether ``node`` runs inside a transaction block of one of ``sessions``:
        ``"begin_nested"`` for a savepoint (an enclosing ``async with s.begin_nested()``
        or a preceding statement of an enclosing block ``sp = await s.begin_nested()``,
        with ``sp``, which the fix may roll back), ``"begin"`` for an enclosing ``async
        with s.begin():``; None when neither."""
        path = [*self.ancestors, node]
        for index in range(len(path) - 2, -1, -1):
            parent, child = path[index], path[index + 1]
            if parent is func:
                break
            if isinstance(parent, cst.With):
                for item in parent.items:
                    method = _session_method(item.item, sessions)[1]
                    if method in ("begin_nested", "begin"):
                        return method, None
            if isinstance(parent, cst.IndentedBlock) and child in parent.body:
                for stmt in parent.body[: parent.body.index(child)]:
                    name = _savepoint_statement(stmt, sessions)
                    if name is not None:
                        return "begin_nested", name
        return None, None

    def _catches_commit_errors(self, handler: cst.ExceptHandler) -> bool:
        """Whether the handler catches what a failed commit raises: a bare ``except``,
        ``Exception``/``BaseException``, or a class from ``sqlalchemy``."""
        types = caught_types(handler)
        if types is None:
            return True
        for expr in types:
            name = self.semantic.resolve(expr)
            if name is None:
                continue
            if name in BROAD_EXCEPTIONS or name.split(".")[0] in ("sqlalchemy", "sqlmodel"):
                return True
        return False


def _session_method(node: cst.CSTNode, sessions: frozenset[str] | set[str]) -> tuple[str, str]:
    if (
        isinstance(node, cst.Call)
        and isinstance(node.func, cst.Attribute)
        and (receiver := dotted_name(node.func.value)) is not None
        and receiver in sessions
    ):
        return receiver, node.func.attr.value
    return "", ""


def _failing_calls(body: cst.BaseSuite, sessions: frozenset[str]) -> list[tuple[str, cst.Call]]:
    """``await s.commit()`` / ``await s.flush()`` in the try body, not inside a nested
    scope nor inside ``async with s.begin()`` / ``s.begin_nested()`` (which roll back) or
    ``async with factory() as s`` (which closes the session)."""
    found: list[tuple[str, cst.Call]] = []
    stack: list[cst.CSTNode] = [body]
    while stack:
        current = stack.pop()
        if current is not body and isinstance(current, SCOPE_NODES):
            continue
        if isinstance(current, cst.With) and any(
            _session_method(item.item, sessions)[1] in ("begin", "begin_nested")
            or (
                item.asname is not None
                and isinstance(item.asname.name, cst.Name)
                and item.asname.name.value in sessions
            )
            for item in current.items
        ):
            continue  # rolled back (or closed) by the block's exit before any handler runs
        if isinstance(current, cst.Await):
            session, method = _session_method(current.expression, sessions)
            if method in FAILING_METHODS:
                found.append((session, current.expression))  # type: ignore[arg-type]
        stack.extend(reversed(list(iter_children(current))))
    return found


def _savepoint_of(value: cst.BaseExpression | None, sessions: set[str] | frozenset[str]) -> str:
    """The session whose ``begin_nested()`` ``value`` (awaited or not) starts, else ""."""
    if isinstance(value, cst.Await):
        value = value.expression
    session, method = _session_method(value, sessions) if value is not None else ("", "")
    return session if method == "begin_nested" else ""


def _savepoint_statement(stmt: cst.CSTNode, sessions: set[str]) -> str | None:
    """``sp`` of a statement line ``sp = await s.begin_nested()``, else None."""
    if isinstance(stmt, cst.SimpleStatementLine):
        for small in stmt.body:
            value, targets = assignment(small)
            if (
                len(targets) == 1
                and isinstance(targets[0], cst.Name)
                and _savepoint_of(value, sessions)
            ):
                return targets[0].value
    return None


def _savepoints(func: cst.FunctionDef, sessions: frozenset[str]) -> dict[str, str]:
    """Names bound in ``func`` to a savepoint of a session (``sp = await
    s.begin_nested()``, ``async with s.begin_nested() as sp``) -> that session."""
    found: dict[str, str] = {}
    for node in own_scope(func.body):
        value, targets = assignment(node)
        owner = _savepoint_of(value, sessions)
        if owner:
            found.update((name, owner) for t in targets for name in assigned_names(t))
    return found


def _recovers(body: cst.CSTNode, sessions: set[str], context: FileContext) -> bool:
    """The block rolls back, closes or resets the session, or passes it to a call that
    may do so: any call whose summary (repo index) does not show it never does."""
    for node in own_scope(body):
        if _session_method(node, sessions)[1] in RECOVERING_METHODS:
            return True
        if not isinstance(node, cst.Call):
            continue
        for arg in node.args:
            session = dotted_name(arg.value)
            if session not in sessions:
                continue
            effects = session_effects(node, session, context)
            if effects is None or not effects.complete or effects.effects & RECOVERING_EFFECTS:
                return True
    return False


def _ends_with_raise(body: cst.BaseSuite) -> bool:
    statements = list(body.body)
    if not statements:
        return False
    last = statements[-1]
    if isinstance(last, cst.SimpleStatementLine):
        return isinstance(last.body[-1], cst.Raise)
    return isinstance(last, cst.Raise)


def _describe(handler: cst.ExceptHandler) -> str:
    if handler.type is None:
        return "the bare `except:`"
    name = dotted_name(handler.type)
    if name is None:
        return "the `except` handler"
    return f"`except {name}`"


def _rollback_line(session: str) -> cst.SimpleStatementLine:
    statement = cst.parse_statement(f"await {session}.rollback()\n")
    assert isinstance(statement, cst.SimpleStatementLine)
    return statement


def _with_rollback(body: cst.BaseSuite, sessions: list[str]) -> cst.IndentedBlock:
    rollbacks = [_rollback_line(s) for s in sessions]
    if isinstance(body, cst.IndentedBlock):
        statements = list(body.body)
        if statements:
            # Comments above the first statement stay at the top of the handler.
            first = statements[0]
            rollbacks[0] = rollbacks[0].with_changes(leading_lines=first.leading_lines)
            statements[0] = first.with_changes(leading_lines=())
        return body.with_changes(body=[*rollbacks, *statements])
    assert isinstance(body, cst.SimpleStatementSuite)
    return cst.IndentedBlock(
        body=[*rollbacks, cst.SimpleStatementLine(body=body.body)],
        header=body.trailing_whitespace,
    )
