"""AM401 awaited-side-effect: a route handler awaits a side effect before responding."""

from __future__ import annotations

import fnmatch
import re
from typing import TYPE_CHECKING

import libcst as cst

from asyncmend.codemods.base import Applicability, Fix, ImportSpec, Rule
from asyncmend.codemods.edits.imports import class_reference
from asyncmend.codemods.edits.params import with_parameter
from asyncmend.codemods.facts.base import Fact
from asyncmend.codemods.facts.summaries import enqueue_only, raises_http_error
from asyncmend.codemods.semantic.coroutines import local_async_defs
from asyncmend.codemods.semantic.fastapi import (
    BACKGROUND_TASKS_CLASSES,
    background_tasks_param,
    is_route_handler,
)
from asyncmend.codemods.semantic.request_scope import (
    Scoped,
    relationship_names,
    request_scoped,
    request_scoped_use,
)
from asyncmend.codemods.semantic.tree import (
    dotted_name,
    own_scope_with_parents,
)

if TYPE_CHECKING:
    from asyncmend.engine.config import Config

#: ``BackgroundTasks.add_task(func, *args, **kwargs)``: a keyword of this name collides.
ADD_TASK_OWN_PARAMS = frozenset({"func"})
NEW_PARAM_NAMES = ("background_tasks", "bg_tasks", "background")


def _matches_any(name: str, patterns: list[str]) -> bool:
    """fnmatch against the callee's own name (the last component: a variable or module
    it is reached through says nothing, `email_renderer.render` is no email send); a
    pattern with a dot is matched against the whole dotted name."""
    leaf = name.rsplit(".", 1)[-1]
    return any(
        fnmatch.fnmatchcase(name, p) if "." in p else fnmatch.fnmatchcase(leaf, p) for p in patterns
    )


class AwaitedSideEffect(Rule):
    """
    ## What it does
    Finds a statement `await f(...)` in a FastAPI route handler (an `async def`
    decorated by `.get`/`.post`/`.put`/`.patch`/`.delete`/`.api_route` of an `APIRouter`
    or `FastAPI` object) whose value is unused and whose callee is a side effect by name
    (setting `side-effect-patterns`; default `send_*`, `*email*`, `notify*`,
    `*analytics*`, `track_*`, `log_to_*`, `publish*`, `*webhook*`).

    Status: preview. On the ecosystem corpus it had one true and one false finding (a
    `send_*` callee that only put an event on an in-process queue, through an indirection
    the enqueue-only check does not follow yet): under the 90% bar.

    ## Why is this bad?
    The client waits for the email, the analytics event or the webhook before it gets
    its response, and a slow or failing provider makes the endpoint slow or failing,
    though the work the client asked for is already done.

    The fix (unsafe: the side effect then runs after the response, and its errors no
    longer reach the client) hands the call to `BackgroundTasks.add_task`, reusing the
    handler's `BackgroundTasks` parameter or adding one (and the import). There is no
    fix when an argument is request-scoped: the session, the request, an upload, a
    resource of an `async with` block, or an ORM object loaded through the session (its
    lazy attributes die with the session; pass an attribute such as `user.email`, which
    is evaluated at once). Nor when the call sits in a `try` (the handler's error
    handling would no longer cover it) or in an open transaction block.

    ## Example
    ```python
    @router.post("/users")
    async def signup(payload: UserCreate, session: SessionDep) -> User:
        user = await create_user(session, payload.email)
        await send_welcome_email(payload.email)
        return user
    ```

    ## Use instead
    ```python
    @router.post("/users")
    async def signup(
        payload: UserCreate, session: SessionDep, background_tasks: BackgroundTasks
    ) -> User:
        user = await create_user(session, payload.email)
        background_tasks.add_task(send_welcome_email, payload.email)
        return user
    ```
    """

    code = "AM401"
    preview = True
    name = "awaited-side-effect"
    fix_applicability = Applicability.UNSAFE
    triggers = (b"await",)
    uses_index = True

    @classmethod
    def tokens(cls, config: Config) -> tuple[bytes, ...]:
        """A finding needs a callee matching a side-effect pattern, so the file holds the
        literal part of one (``send_`` for ``send_*``); a pattern without one
        (``*``) matches anything and the file must be read."""
        fragments = []
        for pattern in config.settings.get("side-effect-patterns", []):
            literal = max(re.split(r"[*?\[\]]", pattern), key=len)
            if not literal:
                return cls.triggers
            fragments.append(literal.encode())
        return tuple(fragments)

    def visit_Expr(self, node: cst.Expr) -> None:
        awaited = node.value
        if not isinstance(awaited, cst.Await) or not isinstance(awaited.expression, cst.Call):
            return
        call = awaited.expression
        callee = dotted_name(call.func)
        if callee is None or not _matches_any(callee, self.settings["side-effect-patterns"]):
            return
        handler, blocks = self._handler()
        if handler is None or self._only_enqueues(callee):
            return
        message = (
            f"`await {callee}(...)` makes the response wait for a side effect; "
            "run it after the response with `BackgroundTasks.add_task`"
        )
        reason = self._why_not_fixable(handler, blocks, call, callee)
        if reason is not None:
            self.report(node, f"{message} (no fix: {reason})")
            return
        fix = self._fix(handler, awaited, call)
        if fix is None:
            self.report(node, f"{message} (no fix: no free name for a `BackgroundTasks` parameter)")
            return
        self.report(node, message, fix=fix)

    # -- where the statement is ---------------------------------------------------------

    def _handler(self) -> tuple[cst.FunctionDef | None, list[cst.CSTNode]]:
        """The route handler whose own statement this is, and the compound statements
        between it and the statement."""
        blocks: list[cst.CSTNode] = []
        for ancestor in reversed(self.ancestors):
            if isinstance(ancestor, cst.Lambda):
                return None, []
            if isinstance(ancestor, cst.FunctionDef):
                key = ("AM401.handler", id(ancestor))
                verdict = self.context.semantic.memo.get(key)
                if verdict is None:
                    verdict = self.context.semantic.memo[key] = _is_http_handler(
                        ancestor, self.context
                    )
                return (ancestor if verdict else None), blocks
            if isinstance(ancestor, cst.ClassDef):
                return None, []
            blocks.append(ancestor)
        return None, []

    # -- when the call may not move --------------------------------------------------------

    def _why_not_fixable(
        self,
        handler: cst.FunctionDef,
        blocks: list[cst.CSTNode],
        call: cst.Call,
        callee: str,
    ) -> str | None:
        for block in blocks:
            if isinstance(block, (cst.Try, cst.TryStar)):
                return "it sits in a `try`, whose handlers would no longer see its errors"
            if isinstance(block, cst.With) and any(_opens_transaction(i.item) for i in block.items):
                return (
                    "it sits in an open transaction block, which ends before a background task runs"
                )
        scoped = self._scoped(handler)
        root = callee.split(".")[0]
        if "." in callee and root in scoped.reasons:
            return f"it is a method of `{root}`, which {scoped.reasons[root]}"
        for arg in call.args:
            if arg.keyword is not None and arg.keyword.value in ADD_TASK_OWN_PARAMS:
                return f"the keyword `{arg.keyword.value}` collides with `add_task`'s own parameter"
            culprit = request_scoped_use(
                arg.value,
                scoped.reasons,
                uploads=scoped.uploads,
                relationships=relationship_names(self.context),
            )
            if culprit is not None and "." in culprit:
                return f"`{culprit}` is a relationship: its objects belong to the session"
            if culprit is not None:
                return f"the argument `{culprit}` {scoped.reasons[culprit]}"
        if self._callee_in(callee, raises_http_error):
            return f"`{callee}` raises an `HTTPException` the route relies on reaching the client"
        if "." not in callee and self._known_sync(callee, handler):
            return f"`{callee}` is not an `async def`; `add_task` would run it in a thread"
        if _sets_own_background(handler):
            return "the handler returns a response with its own `background=`"
        return None

    def _only_enqueues(self, callee: str) -> bool:
        """A coroutine of this repo whose body only puts an item on a queue (its repo
        summary says so): already backgrounded, nothing waits on the network."""
        return self._callee_in(callee, enqueue_only)

    def _callee_in(self, callee: str, fact: Fact[list[str]]) -> bool:
        """Whether the repo function ``callee`` (a local def or an import) is listed by
        the pass-1 ``fact`` of its module."""
        index = self.context.index
        if "." not in callee and callee in self.semantic.module_bound_names():
            module, name = self.context.module_name, callee
            facts = index.by_module.get(module or "") or index.by_path.get(self.context.path)
            return name in fact.of(facts)
        head, _, rest = callee.partition(".")
        target = self.semantic.imports.get(head)
        if target is None:
            return False
        module, _, name = index.resolve(f"{target}.{rest}" if rest else target).rpartition(".")
        return name in fact.of(index.by_module.get(module))

    def _known_sync(self, callee: str, handler: cst.FunctionDef) -> bool:
        """A plain ``def`` (returning an awaitable): ``add_task`` would call it in a
        thread and never await what it returns. Unknown callees are trusted."""
        if callee in self.semantic.local_names(handler):
            return False  # a local: cannot tell
        if callee in local_async_defs(self.context):
            return False
        if callee in self.semantic.module_bound_names():
            return True  # a module-level plain def or some other object
        target = self.semantic.imports.get(callee)
        if target is None:
            return False
        index = self.context.index
        module = index.resolve(target).rpartition(".")[0]
        return module in index.by_module and not index.is_coroutine_function(target)

    def _scoped(self, handler: cst.FunctionDef) -> Scoped:
        key = ("AM401.scoped", id(handler))
        cached = self.context.semantic.memo.get(key)
        if cached is None:
            cached = self.context.semantic.memo[key] = request_scoped(handler, self.context)
        return cached

    # -- the fix ---------------------------------------------------------------------------

    def _fix(self, handler: cst.FunctionDef, awaited: cst.Await, call: cst.Call) -> Fix | None:
        replacements: list[tuple[cst.CSTNode, cst.CSTNode]] = []
        imports: list[ImportSpec] = []
        tasks = background_tasks_param(handler, self.context)
        if tasks is None:
            tasks = self.semantic.fresh_name(*NEW_PARAM_NAMES, within=handler)
            annotation, needs_import = class_reference(
                self.semantic, "BackgroundTasks", BACKGROUND_TASKS_CLASSES, self.ancestors
            )
            if tasks is None or annotation is None:
                return None
            if needs_import:
                imports.append(ImportSpec("fastapi", "BackgroundTasks"))
            params = with_parameter(handler, tasks, annotation)
            replacements.append((handler.params, params))
        replacements.append((awaited, _add_task_call(tasks, call)))
        return Fix(
            f"Run it after the response with `{tasks}.add_task`",
            Applicability.UNSAFE,
            replacements=replacements,
            imports=imports,
        )


def _is_http_handler(func: cst.FunctionDef, context) -> bool:  # type: ignore[no-untyped-def]
    """An ``async def`` route handler of an HTTP route (websockets have no
    ``BackgroundTasks``)."""
    if func.asynchronous is None or not is_route_handler(func, context):
        return False
    for decorator in func.decorators:
        expr = decorator.decorator
        expr = expr.func if isinstance(expr, cst.Call) else expr
        if isinstance(expr, cst.Attribute) and expr.attr.value == "websocket":
            return False
    return True


def _opens_transaction(item: cst.BaseExpression) -> bool:
    """``session.begin()``, ``engine.begin()``, ``session.begin_nested()``..."""
    return (
        isinstance(item, cst.Call)
        and isinstance(item.func, cst.Attribute)
        and item.func.attr.value in ("begin", "begin_nested")
    )


def _sets_own_background(handler: cst.FunctionDef) -> bool:
    """A ``background=`` keyword anywhere in the handler (``JSONResponse(...,
    background=...)``): FastAPI then drops the injected ``BackgroundTasks``."""
    return any(
        isinstance(node, cst.Arg)
        and node.keyword is not None
        and node.keyword.value == "background"
        for node, _ in own_scope_with_parents(handler.body)
    )


# -- request scope ------------------------------------------------------------------------

# -- building the fix ----------------------------------------------------------------------


def _add_task_call(tasks: str, call: cst.Call) -> cst.Call:
    """``tasks.add_task(f, a, key=v)`` from ``f(a, key=v)``, keeping the layout of a
    multi-line call."""
    before_args = call.whitespace_before_args
    if call.args:
        after_func: cst.BaseParenthesizableWhitespace = cst.SimpleWhitespace(" ")
        if isinstance(before_args, cst.ParenthesizedWhitespace):
            # One argument per line: the callee gets its own line (without the comment
            # that may follow the opening parenthesis).
            after_func = before_args.with_changes(
                first_line=cst.TrailingWhitespace(), empty_lines=[]
            )
        comma = cst.Comma(whitespace_after=after_func)
        first = cst.Arg(value=call.func.with_changes(lpar=[], rpar=[]), comma=comma)
    else:
        first = cst.Arg(value=call.func.with_changes(lpar=[], rpar=[]))
    return cst.Call(
        func=cst.Attribute(value=cst.Name(tasks), attr=cst.Name("add_task")),
        args=[first, *call.args],
        whitespace_before_args=before_args,
        lpar=call.lpar,
        rpar=call.rpar,
    )
