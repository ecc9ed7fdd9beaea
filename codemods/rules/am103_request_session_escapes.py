"""AM103 request-session-escapes: the request's session handed to work that outlives it."""

from __future__ import annotations

import ast
from dataclasses import dataclass

import libcst as cst

from asyncmend.codemods.base import Applicability, Rule
from asyncmend.codemods.facts import gate_flow
from asyncmend.codemods.facts.base import dotted
from asyncmend.codemods.facts.sessions import session_alias_depends
from asyncmend.codemods.semantic.fastapi import (
    annotated_depends,
    background_tasks_params,
    depends_call,
    depends_scope,
)
from asyncmend.codemods.semantic.session_flow import carries, session_holders
from asyncmend.codemods.semantic.sessions import is_session_dependency, session_names
from asyncmend.codemods.semantic.tree import (
    Children,
    annotation_of,
    dotted_name,
    own_scope,
    own_scope_with_parents,
    parameters,
    reads,
)

#: Calls that start a task running concurrently with (and possibly after) the request.
TASK_CALLS = frozenset({"create_task", "ensure_future", "start_soon", "run_coroutine_threadsafe"})
#: Container and queue methods that keep their argument.
STORE_CALLS = frozenset({"append", "add", "put", "put_nowait", "insert", "setdefault", "extend"})

REMEDY = (
    "pass the sessionmaker instead and open a session in the task "
    "(`async with async_session() as session:`)"
)


@dataclass(frozen=True)
class _RequestSession:
    name: str
    #: How the session was injected, for messages: ``Depends(get_session)``.
    source: str
    #: The ``scope=`` of its ``Depends`` ("" for the default, request scope).
    scope: str


class RequestSessionEscapes(Rule):
    """
    ## What it does
    Finds a request-scoped session (a parameter injected with `Depends`) that is passed
    to `background_tasks.add_task(...)` or a `BackgroundTask`, to a task started with
    `asyncio.create_task(...)` (or `ensure_future`, `start_soon`), or stored where it
    outlives the request (a module-level container or object).

    ## Why is this bad?
    The dependency that yields the session closes it when the request is done. With
    `Depends(get_session, scope="function")`, and on FastAPI 0.106-0.117, that happens
    before background tasks run: the task then uses a closed session, which quietly
    opens a new transaction on a connection nothing closes, with detached objects. With
    the default request scope (FastAPI 0.118 and later) the task runs first, but it
    keeps the request's connection and open transaction checked out after the response
    has gone, and its errors reach nobody. A task from `create_task` may even run
    concurrently with the handler on the same session, which `AsyncSession` does not
    allow.

    Pass the sessionmaker and let the task open its own session. There is no automatic
    fix: the task's signature has to change.

    ## Example
    ```python
    @router.post("/transfer")
    async def transfer(payload: TransferIn, session: SessionDep, tasks: BackgroundTasks):
        await accounts.transfer(session, payload.from_id, payload.to_id, payload.amount)
        tasks.add_task(reconcile_accounts, session, [payload.from_id, payload.to_id])
    ```

    ## Use instead
    ```python
    async def reconcile_accounts(factory: async_sessionmaker[AsyncSession], ids: list[int]):
        async with factory() as session:
            ...


    @router.post("/transfer")
    async def transfer(payload: TransferIn, session: SessionDep, tasks: BackgroundTasks):
        await accounts.transfer(session, payload.from_id, payload.to_id, payload.amount)
        tasks.add_task(reconcile_accounts, async_session, [payload.from_id, payload.to_id])
    ```
    """

    code = "AM103"
    name = "request-session-escapes"
    fix_applicability = Applicability.NONE
    #: A request session arrives through ``Depends`` or an alias (``SessionDep``).
    triggers = (b"Depends", b"Session", b"BackgroundTask", b"create_task", b"ensure_future")
    uses_index = True

    @classmethod
    def candidate(cls, gate: Rule.Gate) -> bool:
        # A function with a parameter that may be a request session, whose own scope
        # hands something that may carry it (`session_holders`, `carries`, read on the
        # `ast` body) to a call or a store the rule reports (`_check_call`,
        # `_check_store`), never one in a header (`@router.put(...)`).
        if not gate.may_have_sessions:
            return False
        return any(
            frame.kind != "lambda"
            and isinstance(frame.node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and (sessions := gate.request_session_params(frame))
            and _may_escape(frame, frame.node.body, sessions)
            for frame in gate.frames
        )

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        sessions = self._request_sessions(node)
        if not sessions:
            return
        holders = session_holders(node.body, set(sessions), self.semantic.children)
        # A nested function that reads the session carries it too (`add_task(job)`).
        for stmt in self.semantic.own_scope(node.body):
            if isinstance(stmt, cst.FunctionDef) and reads(stmt.body, holders):
                holders.add(stmt.name.value)
        local = self.semantic.local_names(node)
        tasks = self._background_tasks_names(node)
        task_groups = _task_groups(node.body, self.semantic.children)
        for item, parent in own_scope_with_parents(node.body, self.semantic.children):
            if isinstance(item, cst.Call):
                self._check_call(item, parent, node, holders, sessions, local, tasks, task_groups)
            elif isinstance(item, (cst.Assign, cst.AnnAssign)) and item.value is not None:
                self._check_store(item, holders, sessions, local)

    # -- which parameters are request sessions -----------------------------------------

    def _request_sessions(self, func: cst.FunctionDef) -> dict[str, _RequestSession]:
        found: dict[str, _RequestSession] = {}
        known = None
        for param in parameters(func):
            annotation = annotation_of(param)
            depends = depends_call(param.default)
            if depends is None and annotation is not None:
                depends, alias_scope = self._annotation_depends(annotation)
            else:
                alias_scope = None
            if depends is None and alias_scope is None:
                continue
            if known is None:
                known = session_names(func, self.context)
            name = param.name.value
            if name not in known and not (
                depends is not None
                and depends.args
                and is_session_dependency(depends.args[0].value, self.context)
            ):
                continue
            if depends is not None:
                scope = depends_scope(depends)
                target = dotted_name(depends.args[0].value) if depends.args else None
                scope_text = f', scope="{scope}"' if scope else ""
                source = f"Depends({target or '...'}{scope_text})"
            else:
                scope = alias_scope or ""
                source = dotted_name(annotation) or "Depends(...)"
            found[name] = _RequestSession(name, source, scope)
        return found

    def _annotation_depends(
        self, annotation: cst.BaseExpression
    ) -> tuple[cst.Call | None, str | None]:
        """``Annotated[AsyncSession, Depends(...)]`` -> the Depends call; an alias of one
        -> (None, its scope) from this module or the repo index."""
        if isinstance(annotation, cst.Subscript):
            return annotated_depends(annotation), None
        name = dotted_name(annotation)
        if name is None:
            return None, None
        local = self._local_aliases()
        if name in local:
            return None, local[name]
        if name in self.semantic.module_bound_names() and name not in self.semantic.imports:
            return None, None
        qualified = self.context.index.resolve(self.semantic.resolve(annotation) or name)
        module, _, alias = qualified.rpartition(".")
        facts = self.context.index.by_module.get(module)
        if facts is not None:
            aliases = session_alias_depends.of(facts)
            if alias in aliases:
                return None, aliases[alias]
        return None, None

    def _local_aliases(self) -> dict[str, str]:
        """Module-level ``X = Annotated[..., Depends(...)]`` of this file -> scope."""
        return {
            name: depends_scope(call)
            for name, value in self.semantic.subscript_aliases().items()
            if (call := annotated_depends(value)) is not None
        }

    def _background_tasks_names(self, func: cst.FunctionDef) -> set[str]:
        names = set(background_tasks_params(func, self.context))
        # `tasks = BackgroundTasks()` handed to a response (`background=tasks`).
        for item in self.semantic.own_scope(func.body):
            if (
                isinstance(item, cst.Assign)
                and isinstance(item.value, cst.Call)
                and (dotted_name(item.value.func) or "").rsplit(".", 1)[-1] == "BackgroundTasks"
            ):
                names.update(t.target.value for t in item.targets if isinstance(t.target, cst.Name))
        return names

    # -- escapes -------------------------------------------------------------------------

    def _check_call(
        self,
        call: cst.Call,
        parent: cst.CSTNode | None,
        func: cst.FunctionDef,
        holders: set[str],
        sessions: dict[str, _RequestSession],
        local: set[str],
        tasks: set[str],
        task_groups: set[str],
    ) -> None:
        callee = dotted_name(call.func) or ""
        leaf = callee.rsplit(".", 1)[-1]
        receiver = callee.rpartition(".")[0]
        carried = [a for a in call.args if carries(a.value, holders)]
        if not carried:
            return
        session = self._which(carried, holders, sessions)
        if leaf == "add_task" and receiver in tasks:
            self.report(call, self._message(session, f"`{callee}`", "background"))
        elif leaf == "BackgroundTask":
            self.report(call, self._message(session, "a `BackgroundTask`", "background"))
        elif leaf in TASK_CALLS:
            if receiver in task_groups or _awaited_later(call, parent, func):
                return  # the handler waits for it: the session does not outlive the request
            self.report(call, self._message(session, f"`{callee}`", "task"))
        elif leaf in STORE_CALLS and receiver and receiver.split(".")[0] not in local:
            self.report(call, self._message(session, f"`{receiver}`", "stored"))

    def _check_store(
        self,
        stmt: cst.Assign | cst.AnnAssign,
        holders: set[str],
        sessions: dict[str, _RequestSession],
        local: set[str],
    ) -> None:
        assert stmt.value is not None
        if not carries(stmt.value, holders):
            return
        targets = (
            [t.target for t in stmt.targets] if isinstance(stmt, cst.Assign) else [stmt.target]
        )
        for target in targets:
            if isinstance(target, (cst.Attribute, cst.Subscript)):
                base = _base_name(target)
                if base is not None and base not in local:
                    session = self._which([stmt.value], holders, sessions)
                    where = cst.Module(body=[]).code_for_node(target)
                    self.report(stmt, self._message(session, f"`{where}`", "stored"))
                    return

    def _which(
        self, exprs: list[cst.CSTNode], holders: set[str], sessions: dict[str, _RequestSession]
    ) -> _RequestSession:
        for expr in exprs:
            for name in sessions:
                if carries(expr, {name}):
                    return sessions[name]
        return next(iter(sessions.values()))

    def _message(self, session: _RequestSession, where: str, kind: str) -> str:
        head = f"Request-scoped session `{session.name}` (from `{session.source}`)"
        if kind == "stored":
            return (
                f"{head} is stored in {where}, which outlives the request: the dependency "
                f"closes the session when the request ends, and whoever uses it later gets "
                f"a closed session shared across requests (a new transaction on a connection "
                f"nothing closes); store the sessionmaker instead, or open a session where "
                f"it is needed"
            )
        if kind == "task":
            timing = (
                "the dependency closes it when the handler returns"
                if session.scope == "function"
                else "the dependency closes it after the response"
            )
            return (
                f"{head} is passed to a task started with {where}: the task runs alongside "
                f"the handler on the same session (AsyncSession does not allow concurrent "
                f"use) and may outlive the request, while {timing}; {REMEDY}"
            )
        if session.scope == "function":
            case = (
                'with `scope="function"` the dependency closes the session when the '
                "handler returns, before the background task runs, so the task works on a "
                "closed session (a new transaction on a connection nothing closes, objects "
                "detached)"
            )
        else:
            case = (
                "with the default request scope the task runs after the response is sent "
                "but before the dependency closes the session, so it keeps the request's "
                "connection and open transaction checked out, and its errors reach nobody "
                "(on FastAPI 0.106-0.117 the session is already closed when it runs)"
            )
        return f"{head} is passed to {where}: {case}; {REMEDY}"


def _base_name(target: cst.BaseExpression) -> str | None:
    while isinstance(target, (cst.Attribute, cst.Subscript)):
        target = target.value
    return target.value if isinstance(target, cst.Name) else None


def _task_groups(body: cst.CSTNode, children: Children) -> set[str]:
    """Names bound by ``async with TaskGroup() as tg`` (or anyio's task groups): their
    tasks end before the block does."""
    names = set()
    for item in own_scope(body, children):
        if isinstance(item, cst.WithItem) and item.asname is not None:
            target = item.asname.name
            callee = dotted_name(item.item.func) if isinstance(item.item, cst.Call) else None
            if (
                isinstance(target, cst.Name)
                and callee
                and "task_group" in callee.lower().replace("taskgroup", "task_group")
            ):
                names.add(target.value)
    return names


def _awaited_later(call: cst.Call, parent: cst.CSTNode | None, func: cst.FunctionDef) -> bool:
    """``task = create_task(...)`` where ``task`` is later awaited in the function."""
    if not isinstance(parent, cst.Assign) or len(parent.targets) != 1:
        return False
    target = parent.targets[0].target
    if not isinstance(target, cst.Name):
        return False
    for item in own_scope(func.body):
        if isinstance(item, cst.Await) and reads(item, {target.value}):
            return True
    return False


# -- the candidate test: the rule's reading of a function, on its ``ast`` body ------------

_SPAWNS = frozenset({"add_task", "BackgroundTask", *TASK_CALLS})


def _may_escape(frame: Rule.Gate.Frame, body: list[ast.stmt], sessions: set[str]) -> bool:
    """Over-approximates ``visit_FunctionDef`` finding something: the same holders
    (``session_holders``, then the nested functions that read one), and a call or an
    assignment of the own scope that ``_check_call`` / ``_check_store`` may report
    (``add_task`` whatever its receiver, a task call even if awaited later, a store
    whose base ``Frame.surely_local`` does not rule out)."""
    nodes = list(gate_flow.own_scope(body))
    carriers = gate_flow.holders(nodes, sessions)
    for node in nodes:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and any(
            type(n) is ast.Name and n.id in carriers for stmt in node.body for n in ast.walk(stmt)
        ):
            carriers.add(node.name)

    def outside(name: str) -> bool:
        return not frame.surely_local(name.split(".")[0])

    for node in nodes:
        kind = type(node)
        if kind is ast.Call:
            callee = dotted(node.func) or ""  # type: ignore[attr-defined]
            leaf = callee.rsplit(".", 1)[-1]
            receiver = callee.rpartition(".")[0]
            if not (leaf in _SPAWNS or (leaf in STORE_CALLS and receiver and outside(receiver))):
                continue
            values = [*node.args, *(k.value for k in node.keywords)]  # type: ignore[attr-defined]
            if any(gate_flow.carries(value, carriers) for value in values):
                return True
        elif kind is ast.Assign or (kind is ast.AnnAssign and node.value is not None):  # type: ignore[attr-defined]
            targets = node.targets if kind is ast.Assign else [node.target]  # type: ignore[attr-defined]
            if any(
                isinstance(target, (ast.Attribute, ast.Subscript))
                and (base := gate_flow.base_name(target)) is not None
                and outside(base)
                for target in targets
            ) and gate_flow.carries(node.value, carriers):  # type: ignore[attr-defined]
                return True
    return False
