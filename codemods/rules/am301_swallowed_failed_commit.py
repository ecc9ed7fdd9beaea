"""AM301 swallowed-failed-commit: an ``except`` that survives a failed commit without
rolling the session back."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import libcst as cst

from asyncmend.codemods.base import Applicability, FileContext, Fix, Rule
from asyncmend.codemods.edits.statements import simple_statement
from asyncmend.codemods.semantic.bindings import bound_names
from asyncmend.codemods.semantic.exceptions import (
    BROAD_EXCEPTIONS,
    DATABASE_PACKAGES,
    catches_database_errors,
    is_broad,
)
from asyncmend.codemods.semantic.flow import ends_with_raise, may_leave
from asyncmend.codemods.semantic.sessions import method_session_names, session_method
from asyncmend.codemods.semantic.summaries import session_effects
from asyncmend.codemods.semantic.tree import (
    SCOPE_NODES,
    assigned_names,
    assignment,
    derived_names,
    dotted_name,
    iter_children,
    iter_descendants,
    own_scope,
    owner_class,
    reads,
)

#: Session methods whose failure leaves the session needing a rollback.
FAILING_METHODS = frozenset({"commit", "flush"})
#: Session methods that clear a failed transaction.
RECOVERING_METHODS = frozenset({"rollback", "close", "aclose", "reset", "invalidate"})
#: Effects of a helper (function summaries) that clear a failed transaction.
RECOVERING_EFFECTS = frozenset({"rollback", "close"})


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

    The fix adds `await session.rollback()` to the handler: as its first statement, or,
    when the handler already re-raises on some path, right after that raise (a rollback
    must not run before it). Inside `begin_nested()` (`async with s.begin_nested()` or
    `sp = await s.begin_nested()`) only the savepoint may be rolled back: the fix rolls
    back `sp`, never the session (that would discard the outer transaction's work). The
    fix is safe when the handler catches only SQLAlchemy errors or the `try` holds nothing
    but the commit; a broad `except Exception` around more than the commit makes it
    unsafe, because the rollback then also runs for errors that left the session healthy
    and discards the writes the caller would have committed. There is no fix when the
    handler reads `s.is_active` / `s.in_transaction()` (a rollback would change the
    answer it acts on), or when the `try` runs in a loop over objects the session loaded
    (a rollback expires them, and the next iteration's reads would load them again
    outside the greenlet: a savepoint per iteration is the cure).

    Not reported: handlers that only catch exceptions a commit cannot raise
    (`ValueError`, `KeyError`...), that end by raising, that re-raise on exactly the path
    where the commit ran (`if error is None: raise` around `if error is None: commit`),
    that fall through to a `raise` right after the `try`, that roll back, close or reset
    the session or its savepoint, or that hand the session to a function that may roll it
    back (its summary in the repo shows a rollback, or it is not known; a known helper
    that never rolls back is the failed session's next user: reported). Commits inside
    `async with session.begin()` / `begin_nested()` roll back themselves. A failure is
    reported once, at the innermost `try` that handles it.

    Status: stable. On the ecosystem corpus the false positives of the review (a
    savepoint rollback, a conditional re-raise, a raise after the `try`) are gone and the
    `is_active` case gets no fix (see bench/ECOSYSTEM.md).

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

    @classmethod
    def candidate(cls, gate: Rule.Gate) -> bool:
        # An awaited commit/flush (of a name that may hold a session) in the body of a
        # `try` of its own `async def` (`_failing_calls`) with a handler that does not
        # end with `raise` (a swallowing one) and may catch a database error (what
        # `catches_database_errors` asks, through any import of the file).
        def may_catch(caught: tuple[str, ...] | None) -> bool:
            return caught is None or any(
                name in BROAD_EXCEPTIONS or name.split(".")[0] in DATABASE_PACKAGES
                for written in caught
                for name in gate.qualified(written)
            )

        # A handler that calls `<the committed session>.rollback()` (or another
        # RECOVERING_METHODS) in its own scope recovers (`_recovers`).
        return any(
            may_catch(handler.caught)
            and not any(
                (call.receiver, method) in handler.method_calls for method in RECOVERING_METHODS
            )
            for call in gate.awaited_session_calls(FAILING_METHODS, in_try=True)
            for handler in call.guarded
        )

    def visit_Try(self, node: cst.Try) -> None:
        func = self.enclosing_function()
        if func is None or func.asynchronous is None:
            return
        sessions = method_session_names(func, owner_class(func, self.ancestors), self.context)
        if not sessions:
            return
        failing = _failing_calls(node.body, sessions, self._handles_inside)
        if not failing:
            return
        committed = list(dict.fromkeys(f.session for f in failing))
        # Rolling back a savepoint of the session is a rollback too.
        recovering = set(committed) | {
            name for name, owner in _savepoints(func, sessions).items() if owner in committed
        }
        if node.finalbody is not None and _recovers(node.finalbody, recovering, self.context):
            return
        raises_after = _raise_follows(node, self.ancestors)
        value_of = partial(self.semantic.single_value, func)
        swallowing = [
            handler
            for handler in node.handlers
            if catches_database_errors(handler, self.semantic)
            and not ends_with_raise(handler.body)
            and not (raises_after and not may_leave(handler))
            and not _recovers(handler.body, recovering, self.context)
            and not all(_raises_when(handler.body, f.guards, node, value_of) for f in failing)
        ]
        if not swallowing:
            return
        session, call = failing[0].session, failing[0].call
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
        loop = _enclosing_loop(node, func, self.ancestors)
        if (
            not inside
            and isinstance(loop, cst.For)
            and reads(loop.iter, {*committed, *derived_names(func.body, set(committed))})
        ):
            # A rollback expires every object the session loaded: the next iteration's
            # reads of them would load again outside the greenlet (`MissingGreenlet`).
            self.report(
                call,
                f"{message} (no automatic fix: the loop goes over objects loaded through "
                f"`{session}`, which a rollback expires; roll back a savepoint per "
                f"iteration: `async with {session}.begin_nested():`)",
            )
            return
        if any(_checks_transaction_state(h.body, set(committed)) for h in swallowing):
            # The handler asks whether the session is still usable and acts on the answer:
            # a rollback first would change that answer (and discard earlier flushed rows).
            self.report(
                call,
                f"{message} (no automatic fix: the handler reads the session's transaction "
                "state, which a rollback would change)",
            )
            return
        replacements = []
        for handler in swallowing:
            body = _with_rollback(handler.body, rollbacks, recovering, self.context.module)
            if body is None:
                self.report(
                    call,
                    f"{message} (no automatic fix: the handler re-raises on some paths, and a "
                    "rollback before that raise would change what it raises)",
                )
                return
            replacements.append((handler.body, body))
        applicability = Applicability.SAFE
        reason = ""
        if any(is_broad(h, self.semantic) for h in swallowing) and not _only_commits(
            node.body, sessions
        ):
            # A broad handler around more than the commit also runs for errors that leave
            # the session healthy: a rollback there discards writes the caller may commit.
            applicability = Applicability.UNSAFE
            reason = " (unsafe: the handler also catches errors of other statements)"
        fix = Fix(
            message=f"Add `await {rollbacks[0]}.rollback()` to the handler{reason}",
            applicability=applicability,
            replacements=replacements,
        )
        self.report(call, message, fix=fix)

    def _handles_inside(self, inner: cst.Try, sessions: frozenset[str]) -> bool:
        """An inner ``try`` handles its own failed commits: a failure there never reaches
        an outer handler as a failed session (it is swallowed or rolled back inside; it is
        reported there)."""
        if inner.finalbody is not None and _recovers(inner.finalbody, set(sessions), self.context):
            return True
        return any(
            catches_database_errors(handler, self.semantic)
            and (
                not ends_with_raise(handler.body)
                or _recovers(handler.body, set(sessions), self.context)
            )
            for handler in inner.handlers
        )

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


def _session_method(node: cst.CSTNode, sessions: frozenset[str] | set[str]) -> tuple[str, str]:
    return session_method(node, sessions) or ("", "")


@dataclass(frozen=True)
class _Failing:
    """A commit/flush of the try body, and the ``if`` tests (with the branch taken) on
    the way to it."""

    session: str
    call: cst.Call
    guards: tuple[tuple[cst.BaseExpression, bool], ...]


def _failing_calls(
    body: cst.BaseSuite,
    sessions: frozenset[str],
    handles_inside: Callable[[cst.Try, frozenset[str]], bool],
) -> list[_Failing]:
    """``await s.commit()`` / ``await s.flush()`` in the try body, not inside a nested
    scope nor inside ``async with s.begin()`` / ``s.begin_nested()`` (which roll back) or
    ``async with factory() as s`` (which closes the session), nor in the body of an
    inner ``try`` that handles it (reported there)."""
    found: list[_Failing] = []
    Guards = tuple[tuple[cst.BaseExpression, bool], ...]
    stack: list[tuple[cst.CSTNode, Guards]] = [(body, ())]
    while stack:
        current, guards = stack.pop()
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
                found.append(_Failing(session, current.expression, guards))  # type: ignore[arg-type]
        if isinstance(current, cst.If):
            branches: list[tuple[cst.CSTNode, Guards]] = [
                (current.body, (*guards, (current.test, True)))
            ]
            if current.orelse is not None:
                branches.append((current.orelse, (*guards, (current.test, False))))
            stack.extend(reversed(branches))
            continue
        children = list(iter_children(current))
        if isinstance(current, cst.Try) and handles_inside(current, sessions):
            children = [c for c in children if c is not current.body]
        stack.extend((child, guards) for child in reversed(children))
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


def _normal_test(test: cst.BaseExpression) -> tuple[str, bool]:
    """A test as code and a polarity, so that ``not x`` / ``x``, ``a is None`` / ``a is
    not None`` and ``a == b`` / ``a != b`` compare as one test with opposite polarity."""
    polarity = True
    while isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
        test, polarity = test.expression, not polarity
    if isinstance(test, cst.Comparison) and len(test.comparisons) == 1:
        target = test.comparisons[0]
        flipped = {cst.IsNot: cst.Is, cst.NotEqual: cst.Equal, cst.NotIn: cst.In}
        for negative, positive in flipped.items():
            if isinstance(target.operator, negative):
                test = test.with_changes(comparisons=[target.with_changes(operator=positive())])
                polarity = not polarity
    return cst.Module([]).code_for_node(test.with_changes(lpar=(), rpar=())), polarity


def _raises_when(
    handler: cst.BaseSuite,
    guards: tuple[tuple[cst.BaseExpression, bool], ...],
    node: cst.Try,
    value_of: Callable[[str], cst.BaseExpression | None],
) -> bool:
    """The handler re-raises on exactly the path where the commit ran: one of its
    top-level ``if`` statements tests what guarded the commit (the same branch, names not
    rebound in the ``try``) and that branch ends by raising."""
    if not guards:
        return False
    rebound = {n for stmt in node.body.body for n in bound_names(stmt)}
    rebound |= {n for stmt in handler.body for n in bound_names(stmt)}
    wanted: set[tuple[str, bool]] = set()
    pending = list(guards)
    while pending:
        test, taken = pending.pop()
        if any(isinstance(n, cst.Name) and n.value in rebound for n in iter_descendants(test)):
            continue
        code, polarity = _normal_test(test)
        wanted.add((code, polarity == taken))
        # `a and b` held: so did `a` and `b`; a name bound once to such a test stands for it.
        if isinstance(test, cst.Name) and (value := value_of(test.value)) is not None:
            pending.append((value, taken))
        elif (
            taken and isinstance(test, cst.BooleanOperation) and isinstance(test.operator, cst.And)
        ):
            pending += [(test.left, True), (test.right, True)]
    for stmt in handler.body:
        if not isinstance(stmt, cst.If):
            continue
        code, polarity = _normal_test(stmt.test)
        if (code, polarity) in wanted and ends_with_raise(stmt.body):
            return True
        orelse = stmt.orelse
        if (code, not polarity) in wanted and isinstance(orelse, cst.Else):
            if ends_with_raise(orelse.body):
                return True
    return False


def _raise_follows(node: cst.Try, ancestors: list[cst.CSTNode]) -> bool:
    """The statement right after the ``try`` raises: a handler that falls through
    leaves the function by raising, and never uses the session again."""
    parent = ancestors[-1] if ancestors else None
    if not isinstance(parent, cst.IndentedBlock):
        return False
    body = list(parent.body)
    index = next((i for i, stmt in enumerate(body) if stmt is node), None)
    if index is None or index + 1 >= len(body):
        return False
    following = body[index + 1]
    return isinstance(following, cst.SimpleStatementLine) and isinstance(
        following.body[0], cst.Raise
    )


def _checks_transaction_state(body: cst.CSTNode, sessions: set[str]) -> bool:
    """The block reads ``s.is_active`` or calls ``s.in_transaction()`` /
    ``s.in_nested_transaction()``."""
    for node in own_scope(body):
        if (
            isinstance(node, cst.Attribute)
            and node.attr.value in ("is_active", "in_transaction", "in_nested_transaction")
            and dotted_name(node.value) in sessions
        ):
            return True
    return False


def _only_commits(body: cst.BaseSuite, sessions: frozenset[str]) -> bool:
    """The try body holds nothing that can fail but the commits and flushes (and
    ``s.add(x)``, ``return``, ``pass``, ``break``, ``continue``)."""
    for stmt in body.body:
        if not isinstance(stmt, cst.SimpleStatementLine):
            return False
        for small in stmt.body:
            if isinstance(small, (cst.Pass, cst.Break, cst.Continue)):
                continue
            if isinstance(small, cst.Return) and (
                small.value is None or isinstance(small.value, (cst.Name, cst.Integer))
            ):
                continue
            if not isinstance(small, cst.Expr):
                return False
            value = small.value
            if isinstance(value, cst.Await):
                if _session_method(value.expression, sessions)[1] in FAILING_METHODS:
                    continue
                return False
            method = _session_method(value, sessions)[1]
            if method in ("add", "add_all") and all(
                isinstance(arg.value, (cst.Name, cst.List))
                for arg in value.args  # type: ignore[attr-defined]
            ):
                continue
            return False
    return True


def _describe(handler: cst.ExceptHandler) -> str:
    if handler.type is None:
        return "the bare `except:`"
    name = dotted_name(handler.type)
    if name is None:
        return "the `except` handler"
    return f"`except {name}`"


def _enclosing_loop(
    node: cst.Try, func: cst.FunctionDef, ancestors: list[cst.CSTNode]
) -> cst.For | cst.While | None:
    """The innermost loop of ``func`` around ``node``, if any."""
    for parent in reversed(ancestors):
        if parent is func:
            return None
        if isinstance(parent, (cst.For, cst.While)):
            return parent
    return None


def _with_rollback(
    body: cst.BaseSuite, sessions: list[str], recovering: set[str], module: cst.Module
) -> cst.IndentedBlock | None:
    """The handler with the rollback as its first statement, or, when the handler
    re-raises on some path, right after its last statement that raises (a rollback must
    not run before a raise the handler already does); None when that is not possible
    (the raise and the fall-through share a statement, or the session is used before)."""
    rollbacks = [simple_statement(f"await {s}.rollback()", module) for s in sessions]
    if isinstance(body, cst.SimpleStatementSuite):
        if any(isinstance(small, cst.Raise) for small in body.body):
            return None
        return cst.IndentedBlock(
            body=[*rollbacks, cst.SimpleStatementLine(body=body.body)],
            header=body.trailing_whitespace,
        )
    statements = list(body.body)
    raising = [i for i, stmt in enumerate(statements) if _contains_raise(stmt)]
    at = raising[-1] + 1 if raising else 0
    if at:
        if may_leave(statements[at - 1]) or any(
            isinstance(n, cst.Name) and n.value in {s.split(".")[0] for s in recovering}
            for stmt in statements[:at]
            for n in own_scope(stmt)
        ):
            return None
    elif statements:
        # Comments above the first statement stay at the top of the handler.
        first = statements[0]
        rollbacks[0] = rollbacks[0].with_changes(leading_lines=first.leading_lines)
        statements[0] = first.with_changes(leading_lines=())
    return body.with_changes(body=[*statements[:at], *rollbacks, *statements[at:]])


def _contains_raise(stmt: cst.CSTNode) -> bool:
    return any(isinstance(n, cst.Raise) for n in own_scope(stmt))
