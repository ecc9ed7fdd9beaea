"""AM102 global-session: an ``AsyncSession`` shared through a module-level name."""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

import libcst as cst

from asyncmend.codemods.base import Applicability, Rule
from asyncmend.codemods.facts.gate_flow import callee, holders, own_scope
from asyncmend.codemods.semantic.session_flow import session_holders
from asyncmend.codemods.semantic.sessions import is_session_factory_call, session_names
from asyncmend.codemods.semantic.tree import dotted_name

#: Ancestors that keep a statement at module level (or in a module-level class body).
MODULE_LEVEL = (
    cst.Module,
    cst.SimpleStatementLine,
    cst.IndentedBlock,
    cst.SimpleStatementSuite,
    cst.If,
    cst.Else,
    cst.Try,
    cst.TryStar,
    cst.ExceptHandler,
    cst.ExceptStarHandler,
    cst.Finally,
    cst.ClassDef,
    cst.With,
)

CONSEQUENCES = (
    "every request and task then shares it, but an AsyncSession is not safe for "
    "concurrent use (overlapping awaits fail with 'another operation is in progress' or "
    "corrupt its state), it keeps one connection and transaction for the life of the "
    "process, and its identity map serves stale objects"
)

if TYPE_CHECKING:
    from asyncmend.engine.config import Config


class GlobalSession(Rule):
    """
    ## What it does
    Finds an `AsyncSession` created at module level (or in a class body), and one stored
    in a module-level name from inside a function (`global _session`).

    ## Why is this bad?
    A module-level session is shared by every request and background task of the
    process. An `AsyncSession` is not safe for concurrent use: two requests awaiting on
    it at once fail with "another operation is in progress" (asyncpg) or corrupt its
    state. It also holds one connection and one transaction for the life of the process,
    so readers see a stale snapshot and its identity map keeps returning old objects,
    and one failed statement leaves it unusable for everyone (`PendingRollbackError`).

    Keep the *sessionmaker* global and open a session per unit of work. There is no
    automatic fix: where each unit of work begins is a design decision.

    ## Example
    ```python
    async_session = async_sessionmaker(engine)
    _readonly_session = async_session()


    async def get_balance(account_id: int) -> int | None:
        return await _readonly_session.scalar(
            select(Account.balance).where(Account.id == account_id)
        )
    ```

    ## Use instead
    ```python
    async_session = async_sessionmaker(engine)


    async def get_balance(account_id: int) -> int | None:
        async with async_session() as session:
            return await session.scalar(
                select(Account.balance).where(Account.id == account_id)
            )
    ```
    """

    code = "AM102"
    name = "global-session"
    fix_applicability = Applicability.NONE
    triggers = (b"session", b"Session")
    uses_index = True

    @classmethod
    def candidate(cls, gate: Rule.Gate) -> bool:
        # `x = factory()` outside functions, or, in a function declaring `global`, a
        # declared name set to a factory call or to a name that may hold a session
        # (`_check_function`).
        if not gate.may_have_sessions:
            return False
        if any(out and gate.may_be_factory(c, sync=False) for _, c, out in gate.assigned_calls):
            return True
        return gate.has_global and any(
            _may_set_global(gate, frame) for frame in gate.frames if frame.declares
        )

    @classmethod
    def tokens(cls, config: Config) -> tuple[bytes, ...]:
        factories = config.settings.get("session-factories", [])
        return cls.triggers + tuple(f.rsplit(".", 1)[-1].encode() for f in factories)

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._seen: set[int] = set()

    def visit_Assign(self, node: cst.Assign) -> None:
        self._check_module_level(node, [t.target for t in node.targets], node.value)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        if node.value is not None:
            self._check_module_level(node, [node.target], node.value)

    def _check_module_level(
        self, node: cst.CSTNode, targets: list[cst.BaseExpression], value: cst.BaseExpression
    ) -> None:
        if not all(isinstance(a, MODULE_LEVEL) for a in self.ancestors):
            return
        if not is_session_factory_call(value, self.context):
            return
        where = (
            "in a class body"
            if any(isinstance(a, cst.ClassDef) for a in self.ancestors)
            else "at module level"
        )
        name = " = ".join(dotted_name(t) or "..." for t in targets)
        factory = dotted_name(value.func) if isinstance(value, cst.Call) else None
        self.report(
            node,
            f"`{name}` is an AsyncSession created {where} (`{factory or '...'}()`): "
            f"{CONSEQUENCES}; keep the sessionmaker global and open a session per unit of "
            f"work (`async with {factory or 'async_session'}() as session:`)",
        )

    def visit_Global(self, node: cst.Global) -> None:
        # Only functions with a `global` statement are read again (no walk per function).
        func = self.enclosing_function()
        if func is None or id(func) in self._seen:
            return
        self._seen.add(id(func))
        self._check_function(func)

    def _check_function(self, node: cst.FunctionDef) -> None:
        declared = {
            name.name.value
            for stmt in self.semantic.own_scope(node.body)
            if isinstance(stmt, cst.Global)
            for name in stmt.names
        }
        sessions = session_holders(
            node.body, set(session_names(node, self.context)), self.semantic.children
        )
        for stmt in self.semantic.own_scope(node.body):
            if isinstance(stmt, cst.Assign):
                targets, value = [t.target for t in stmt.targets], stmt.value
            elif isinstance(stmt, cst.AnnAssign) and stmt.value is not None:
                targets, value = [stmt.target], stmt.value
            else:
                continue
            names = [t.value for t in targets if isinstance(t, cst.Name) and t.value in declared]
            if not names:
                continue
            holds = is_session_factory_call(value, self.context) or (
                isinstance(value, cst.Name) and value.value in sessions
            )
            if holds:
                self.report(
                    stmt,
                    f"`{names[0]}` is a module-level name (`global {names[0]}`) that this "
                    f"function sets to an AsyncSession: {CONSEQUENCES}; keep the "
                    f"sessionmaker global and open a session per unit of work "
                    f"(`async with async_session() as session:`)",
                )


def _may_set_global(gate: Rule.Gate, frame: Rule.Gate.Frame) -> bool:
    """Over-approximates ``_check_function`` on the function's ``ast`` body: a name it
    declares ``global`` set to a call that may make an AsyncSession, or to a name that
    may carry one (``session_holders`` of the names that ``may_hold_session``)."""
    node = frame.node
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return False
    nodes = list(own_scope(node.body))
    declared = {name for stmt in nodes if type(stmt) is ast.Global for name in stmt.names}  # type: ignore[attr-defined]
    values = [value for stmt in nodes if (value := _global_value(stmt, declared)) is not None]
    if any(type(v) is ast.Call and gate.may_be_factory(callee(v), sync=False) for v in values):  # type: ignore[arg-type]
        return True
    names = {v.id for v in values if type(v) is ast.Name}  # type: ignore[attr-defined]
    if not names:
        return False
    candidates = {
        *frame.sources,
        *gate.settings.get("session-names", ()),
        *gate.scoped_session_names,
    }
    seeds = {n for n in candidates if gate.may_hold_session(frame, n, own=True, sync=False)}
    return bool(names & holders(nodes, seeds))


def _global_value(stmt: ast.AST, declared: set[str]) -> ast.expr | None:
    """The value of ``x = v`` / ``x: T = v`` when a target is a declared name."""
    if type(stmt) is ast.Assign:
        targets, value = stmt.targets, stmt.value  # type: ignore[attr-defined]
    elif type(stmt) is ast.AnnAssign and stmt.value is not None:  # type: ignore[attr-defined]
        targets, value = [stmt.target], stmt.value  # type: ignore[attr-defined]
    else:
        return None
    return value if any(type(t) is ast.Name and t.id in declared for t in targets) else None
