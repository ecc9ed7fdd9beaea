"""AM203 dangling-task: a task created and dropped, so only a weak reference holds it."""

from __future__ import annotations

from functools import partial

import libcst as cst

from asyncmend.codemods.base import Applicability, Fix, ImportSpec, Rule
from asyncmend.codemods.edits.comments import without_noqa_codes
from asyncmend.codemods.edits.imports import after_imports_anchor, asyncio_reference
from asyncmend.codemods.edits.statements import simple_statement
from asyncmend.codemods.semantic.tree import dotted_name, name_nodes

#: Functions that schedule a coroutine and return the only strong handle on its task.
SPAWN_FUNCTIONS = frozenset(
    {
        "asyncio.create_task",
        "asyncio.ensure_future",
        "asyncio.tasks.create_task",
        "asyncio.tasks.ensure_future",
    }
)
#: Calls that return the event loop (whose ``create_task`` behaves the same).
LOOP_GETTERS = frozenset(
    {
        "asyncio.get_running_loop",
        "asyncio.get_event_loop",
        "asyncio.new_event_loop",
        "asyncio.events.get_running_loop",
        "asyncio.events.get_event_loop",
        "asyncio.AbstractEventLoop",
        "asyncio.events.AbstractEventLoop",
        "asyncio.BaseEventLoop",
    }
)
_SPAWN_LEAVES = frozenset(name.rsplit(".", 1)[-1] for name in SPAWN_FUNCTIONS)
_LOOP_LEAVES = frozenset(name.rsplit(".", 1)[-1] for name in LOOP_GETTERS)
#: Other linters' codes for a dropped task: a suppression of them is stale once fixed.
_DANGLING_TASK_CODES = frozenset({"RUF006", "ASYNC300"})
_SET_BASES = frozenset({"set", "Set", "typing.Set", "MutableSet", "typing.MutableSet"})


class DanglingTask(Rule):
    """
    ## What it does
    Finds tasks created and dropped: `asyncio.create_task(...)`, `loop.create_task(...)`
    or `asyncio.ensure_future(...)` as a statement of its own, bound to a local that
    is never read again (`task = asyncio.create_task(...)` as its last use), put in a
    list or tuple display that is itself dropped, or only tested as a condition.

    ## Why is this bad?
    The event loop keeps only a weak reference to a task. Once the task waits on
    something that nothing else references, the garbage collector can destroy it
    mid-run ("Task was destroyed but it is pending!"): the work silently never
    finishes, and its exceptions are never seen.

    The fix keeps a strong reference in one module-level set per module, removed when
    the task is done (the pattern the `asyncio.create_task` docs recommend). Tasks of an
    `asyncio.TaskGroup` and tasks kept in a variable are not findings.

    ## Example
    ```python
    async def create_order(payload: OrderIn) -> Order:
        order = await save(payload)
        asyncio.create_task(notify_admin(order.id))
        return order
    ```

    ## Use instead
    ```python
    _background_tasks: set[asyncio.Task] = set()


    async def create_order(payload: OrderIn) -> Order:
        order = await save(payload)
        task = asyncio.create_task(notify_admin(order.id))
        _background_tasks.add(task)
        task.add_done_callback(_background_tasks.discard)
        return order
    ```
    """

    code = "AM203"
    name = "dangling-task"
    fix_applicability = Applicability.SAFE
    triggers = (b"create_task", b"ensure_future")

    @classmethod
    def candidate(cls, gate: Rule.Gate) -> bool:
        # Only a dropped task is reported (an expression statement, an element of a
        # dropped display, a conditional's test, a local never mentioned again), and
        # only one `_spawner` accepts: a call that may resolve to an asyncio spawner, or
        # `.create_task` of something made or typed by a loop getter, which the file
        # must then name (`binding_kind` and `resolves_to` resolve through its imports).
        if gate.renames_leaf(_SPAWN_LEAVES):
            return True  # `task = spawn(...)`: the gate marks unread locals by these names
        dropped = [c for c in gate.calls if c.dropped and c.leaf in _SPAWN_LEAVES]
        if gate.may_call(SPAWN_FUNCTIONS, dropped):
            return True
        return any(c.attribute and c.leaf == "create_task" for c in dropped) and bool(
            gate.identifiers & _LOOP_LEAVES or gate.renames_leaf(_LOOP_LEAVES)
        )

    def visit_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> None:
        for small in node.body:
            if not isinstance(small, cst.Expr) or not isinstance(small.value, cst.Call):
                continue
            spawner = self._spawner(small.value)
            if spawner is None:
                continue
            # Built only when fixes are wanted (a language server's diagnostics skip it).
            fix = partial(self._fix, node, small.value) if len(node.body) == 1 else None
            self.report(small.value, _message(spawner), fix=fix)

    def visit_Assign(self, node: cst.Assign) -> None:
        # `task = create_task(...)` and never read again: the local dies with the frame.
        if len(node.targets) == 1 and isinstance(node.value, cst.Call):
            self._check_unread_local(node.targets[0].target, node.value)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        if isinstance(node.value, cst.Call):
            self._check_unread_local(node.target, node.value)

    def visit_Element(self, node: cst.Element) -> None:
        # `[create_task(...)]` as a statement: the display is dropped with its tasks.
        if not isinstance(node.value, cst.Call) or len(self.ancestors) < 2:
            return
        display, statement = self.ancestors[-1], self.ancestors[-2]
        if isinstance(display, (cst.List, cst.Tuple, cst.Set)) and (
            isinstance(statement, cst.Expr) and statement.value is display
        ):
            spawner = self._spawner(node.value)
            if spawner is not None:
                self.report(node.value, _message(spawner))

    def visit_IfExp(self, node: cst.IfExp) -> None:
        # `x if create_task(...) else y`: the task is only tested for truth, then dropped.
        if isinstance(node.test, cst.Call):
            spawner = self._spawner(node.test)
            if spawner is not None:
                self.report(node.test, _message(spawner))

    def _check_unread_local(self, target: cst.BaseExpression, call: cst.Call) -> None:
        func = self.enclosing_function()
        if func is None or not isinstance(target, cst.Name):
            return
        name = target.value
        bound = self.semantic.bindings(func).get(name, [])
        if (
            len(bound) != 1
            or bound[0].kind != "assign"
            or sum(n.value == name for n, _ in name_nodes(func.body)) != 1
        ):
            return  # read somewhere, rebound, or a `global`/`nonlocal` name
        spawner = self._spawner(call)
        if spawner is None:
            return
        line = self.ancestors[-1]
        fix = None
        if isinstance(line, cst.SimpleStatementLine) and len(line.body) == 1:
            fix = partial(self._fix, line, call, kept_as=name)
        self.report(call, _unread_message(spawner, name), fix=fix)

    def visit_SimpleStatementSuite(self, node: cst.SimpleStatementSuite) -> None:
        for small in node.body:  # `if x: create_task(...)`: a finding, no fix
            if isinstance(small, cst.Expr) and isinstance(small.value, cst.Call):
                spawner = self._spawner(small.value)
                if spawner is not None:
                    self.report(small.value, _message(spawner))

    # -- matching ----------------------------------------------------------------------

    def _spawner(self, call: cst.Call) -> str | None:
        """The callee as written when ``call`` creates a task, else None."""
        func = call.func
        if self.semantic.resolves_to(func, SPAWN_FUNCTIONS, self.ancestors):
            name = dotted_name(func)
            if (name or "").endswith("ensure_future") and not _makes_new_task(call):
                return None
            return name
        if not isinstance(func, cst.Attribute) or func.attr.value != "create_task":
            return None
        receiver = func.value
        if isinstance(receiver, cst.Call):
            if self.semantic.resolves_to(receiver.func, LOOP_GETTERS, self.ancestors):
                return f"{dotted_name(receiver.func)}().create_task"
            return None
        name = dotted_name(receiver)
        if name is not None and self.semantic.binding_kind(name, self.ancestors) in LOOP_GETTERS:
            return f"{name}.create_task"
        return None

    # -- fixing ------------------------------------------------------------------------

    def _fix(
        self, line: cst.SimpleStatementLine, call: cst.Call, *, kept_as: str | None = None
    ) -> Fix | None:
        block = self.ancestors[-2] if self.ancestors[-1] is line else self.ancestors[-1]
        if not isinstance(block, (cst.IndentedBlock, cst.Module)):
            return None  # `if x: create_task(...)` on one line: leave it to the user
        func = self.enclosing_function()
        replacements: list[tuple[cst.CSTNode, object]] = []
        imports: list[ImportSpec] = []
        set_name = self._existing_task_set()
        if set_name is not None:
            if func is not None and (set_name in self.semantic.bindings(func)):
                return None  # a local of the same name hides the module's set
        else:
            prefix, needs_import = asyncio_reference(self.semantic)
            anchor, after = after_imports_anchor(
                self.context.module, None if needs_import else prefix
            )
            if prefix is None or anchor is None or anchor is line:
                return None
            set_name = self.semantic.fresh_name("_background_tasks")
            declaration = simple_statement(
                f"{set_name}: set[{prefix}.Task] = set()", self.context.module
            ).with_changes(leading_lines=[cst.EmptyLine()])
            if after:
                replacements.append((anchor, cst.FlattenSentinel([anchor, declaration])))
            else:
                declaration = declaration.with_changes(leading_lines=[])
                replacements.append((anchor, cst.FlattenSentinel([declaration, anchor])))
            if needs_import:
                imports.append(ImportSpec("asyncio"))
        if kept_as is not None:
            task = kept_as
            first = without_noqa_codes(line, _DANGLING_TASK_CODES)
        else:
            task = self.semantic.fresh_name("task", within=func, taken={set_name})
            first = without_noqa_codes(
                line.with_changes(
                    body=[cst.Assign(targets=[cst.AssignTarget(cst.Name(task))], value=call)]
                ),
                _DANGLING_TASK_CODES,
            )
        module = self.context.module
        keep = simple_statement(f"{set_name}.add({task})", module)
        discard = simple_statement(f"{task}.add_done_callback({set_name}.discard)", module)
        replacements.append((line, cst.FlattenSentinel([first, keep, discard])))
        return Fix(
            f"Keep a reference in `{set_name}` until the task is done",
            Applicability.SAFE,
            replacements=replacements,  # type: ignore[arg-type]
            imports=imports,
        )

    def _existing_task_set(self) -> str | None:
        """A module-level ``NAME: set[...Task...] = set()`` bound nowhere else (the one
        an earlier fix added, or the module's own)."""
        cache_key = "AM203:task_set"
        if cache_key in self.context.semantic.memo:
            return self.context.semantic.memo[cache_key]
        found: str | None = None
        for stmt in self.context.module.body:
            if not isinstance(stmt, cst.SimpleStatementLine) or len(stmt.body) != 1:
                continue
            small = stmt.body[0]
            if (
                isinstance(small, cst.AnnAssign)
                and isinstance(small.target, cst.Name)
                and isinstance(small.value, cst.Call)
                and dotted_name(small.value.func) == "set"
                and not small.value.args
                and _is_task_set_annotation(small.annotation.annotation)
                and self.semantic.binding_count(small.target.value) == 1
            ):
                found = small.target.value
                break
        self.context.semantic.memo[cache_key] = found
        return found


def _makes_new_task(call: cst.Call) -> bool:
    """``ensure_future(x)`` returns ``x`` itself when it is already a future: only a call
    that makes a coroutine (not a future-returning loop method) gives a new task."""
    if not call.args or not isinstance(call.args[0].value, cst.Call):
        return False
    inner = call.args[0].value.func
    return not (isinstance(inner, cst.Attribute) and inner.attr.value in _FUTURE_METHODS)


#: Loop and asyncio functions that return futures, not coroutines.
_FUTURE_METHODS = frozenset(
    {"run_in_executor", "create_future", "wrap_future", "create_task", "ensure_future", "gather",
     "shield"}
)  # fmt: skip


def _unread_message(spawner: str, name: str) -> str:
    return (
        f"The task from `{spawner}(...)` is kept only in `{name}`, which is never read "
        "again: the local dies with the frame and the event loop keeps only a weak "
        "reference, so the task can be garbage-collected before it finishes"
    )


def _message(spawner: str) -> str:
    return (
        f"The task from `{spawner}(...)` is dropped: the event loop keeps only a weak "
        "reference, so it can be garbage-collected before it finishes"
    )


def _is_task_set_annotation(annotation: cst.BaseExpression) -> bool:
    """``set[asyncio.Task]``, ``set[Task[None]]``, ``Set["asyncio.Task[Any]"]``..."""
    if not isinstance(annotation, cst.Subscript):
        return False
    if dotted_name(annotation.value) not in _SET_BASES or len(annotation.slice) != 1:
        return False
    element = annotation.slice[0].slice
    if not isinstance(element, cst.Index):
        return False
    value = element.value
    if isinstance(value, cst.Subscript):
        value = value.value
    if isinstance(value, cst.SimpleString):
        return value.evaluated_value.split("[")[0].rsplit(".", 1)[-1] in ("Task", "Future")
    return (dotted_name(value) or "").rsplit(".", 1)[-1] in ("Task", "Future")
