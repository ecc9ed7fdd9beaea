"""AM401 awaited-side-effect: a route handler awaits a side effect before responding."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator
from typing import TYPE_CHECKING

import libcst as cst

from asyncmend.codemods.base import Applicability, Fix, ImportSpec, Rule
from asyncmend.codemods.facts import routes as route_facts
from asyncmend.codemods.semantic.coroutines import local_async_defs
from asyncmend.codemods.semantic.fastapi import (
    BACKGROUND_TASKS_CLASSES,
    annotation_types,
    background_tasks_param,
    is_route_handler,
)
from asyncmend.codemods.semantic.sessions import SESSION_COROUTINES, matches_any, session_names
from asyncmend.codemods.semantic.tree import (
    assigned_names,
    dotted_name,
    name_nodes,
    own_scope_with_parents,
    parameters,
    reads,
)

if TYPE_CHECKING:
    from asyncmend.engine.config import Config

REQUEST_CLASSES = frozenset(
    {"fastapi.Request", "fastapi.WebSocket", "fastapi.requests.Request",
     "starlette.requests.Request", "starlette.requests.HTTPConnection",
     "starlette.websockets.WebSocket"}
)  # fmt: skip
UPLOAD_CLASSES = frozenset(
    {"fastapi.UploadFile", "fastapi.datastructures.UploadFile",
     "starlette.datastructures.UploadFile"}
)  # fmt: skip
#: Attributes of an ``UploadFile`` that are plain values (``.file`` is the open stream).
UPLOAD_VALUES = frozenset({"filename", "content_type", "size", "headers"})
#: Session methods that attach an object to the session (it becomes session-bound).
ATTACHING_METHODS = frozenset({"add", "add_all", "merge", "refresh", "delete"})
#: ``BackgroundTasks.add_task(func, *args, **kwargs)``: a keyword of this name collides.
ADD_TASK_OWN_PARAMS = frozenset({"func"})
NEW_PARAM_NAMES = ("background_tasks", "bg_tasks", "background")


class _Scoped:
    """What dies with the request in one handler: name -> why."""

    def __init__(self) -> None:
        self.reasons: dict[str, str] = {}
        self.uploads: set[str] = set()

    def add(self, names: set[str] | frozenset[str], reason: str) -> None:
        for name in names:
            self.reasons.setdefault(name, reason)


class AwaitedSideEffect(Rule):
    """
    ## What it does
    Finds a statement `await f(...)` in a FastAPI route handler (an `async def`
    decorated by `.get`/`.post`/`.put`/`.patch`/`.delete`/`.api_route` of an `APIRouter`
    or `FastAPI` object) whose value is unused and whose callee is a side effect by name
    (setting `side-effect-patterns`; default `send_*`, `*email*`, `notify*`,
    `*analytics*`, `track_*`, `log_to_*`, `publish*`, `*webhook*`).

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
        if callee is None or not matches_any(callee, self.settings["side-effect-patterns"]):
            return
        handler, blocks = self._handler()
        if handler is None:
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
            culprit = _request_scoped_use(
                arg.value,
                scoped.reasons,
                uploads=scoped.uploads,
                relationships=relationship_names(self.context),
            )
            if culprit is not None and "." in culprit:
                return f"`{culprit}` is a relationship: its objects belong to the session"
            if culprit is not None:
                return f"the argument `{culprit}` {scoped.reasons[culprit]}"
        if "." not in callee and self._known_sync(callee, handler):
            return f"`{callee}` is not an `async def`; `add_task` would run it in a thread"
        if _sets_own_background(handler):
            return "the handler returns a response with its own `background=`"
        return None

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

    def _scoped(self, handler: cst.FunctionDef) -> _Scoped:
        key = ("AM401.scoped", id(handler))
        cached = self.context.semantic.memo.get(key)
        if cached is None:
            cached = self.context.semantic.memo[key] = _request_scoped(handler, self.context)
        return cached

    # -- the fix ---------------------------------------------------------------------------

    def _fix(self, handler: cst.FunctionDef, awaited: cst.Await, call: cst.Call) -> Fix | None:
        replacements: list[tuple[cst.CSTNode, cst.CSTNode]] = []
        imports: list[ImportSpec] = []
        tasks = background_tasks_param(handler, self.context)
        if tasks is None:
            tasks = self.semantic.fresh_name(*NEW_PARAM_NAMES, within=handler)
            annotation = self._background_tasks_annotation(handler)
            if tasks is None or annotation is None:
                return None
            if annotation == "BackgroundTasks" and "BackgroundTasks" not in self.semantic.imports:
                imports.append(ImportSpec("fastapi", "BackgroundTasks"))
            params = _with_param(handler, tasks, annotation)
            replacements.append((handler.params, params))
        replacements.append((awaited, _add_task_call(tasks, call)))
        return Fix(
            f"Run it after the response with `{tasks}.add_task`",
            Applicability.UNSAFE,
            replacements=replacements,
            imports=imports,
        )

    def _background_tasks_annotation(self, handler: cst.FunctionDef) -> str | None:
        """A name for ``BackgroundTasks`` here: an existing import of it, else the bare
        name (to be imported from fastapi) when nothing else holds it."""
        for local, target in self.semantic.imports.items():
            if target in BACKGROUND_TASKS_CLASSES:
                return local
        name = "BackgroundTasks"
        if (
            name in self.semantic.imports
            or name in self.semantic.module_bound_names()
            or name in self.semantic.local_names(handler)
        ):
            return None
        return name


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

_SESSION = "is the request's session, closed (or its transaction gone) when the task runs"
_REQUEST = "is the request, whose body and connection are gone after the response"
_UPLOAD = "is an upload, closed after the response (pass what you read from it)"
_RESOURCE = "is closed when its `async with` block ends"
_DEPENDENCY_ORM = (
    "is an ORM object a dependency loaded through its session; its lazy attributes "
    "die with that session (pass the attributes the task needs, such as its id)"
)
_ORM = (
    "was loaded through the session; its lazy attributes die with the session "
    "(pass the attributes the task needs, such as its id)"
)


def _request_scoped(handler: cst.FunctionDef, context) -> _Scoped:  # type: ignore[no-untyped-def]
    """The names in ``handler`` that must not outlive the request, and why."""
    scoped = _Scoped()
    sessions = session_names(handler, context)
    scoped.add(sessions, _SESSION)
    for param in parameters(handler):
        if param.annotation is None:
            continue
        types = annotation_types(param.annotation.annotation, context)
        if types & REQUEST_CLASSES:
            scoped.add({param.name.value}, _REQUEST)
        elif types & UPLOAD_CLASSES:
            scoped.add({param.name.value}, _UPLOAD)
            scoped.uploads.add(param.name.value)
        elif any(_is_orm_model(t, context) for t in types):
            scoped.add({param.name.value}, _DEPENDENCY_ORM)
    resources: set[str] = set()
    for node, _ in own_scope_with_parents(handler.body):
        if isinstance(node, cst.WithItem) and node.asname is not None:
            resources |= assigned_names(node.asname.name)  # type: ignore[arg-type]
    scoped.add(resources - set(sessions), _RESOURCE)
    # ORM objects: whatever is computed from the session (or from what was), to a fixpoint.
    derived: set[str] = set(sessions)
    for node, _ in own_scope_with_parents(handler.body):
        derived |= _attached_names(node, sessions)
    bindings = list(_bindings(handler))
    relationships = relationship_names(context)
    changed = True
    while changed:
        changed = False
        for targets, value in bindings:
            new = targets - derived
            if new and _carries(value, derived, relationships):
                derived |= new
                changed = True
    scoped.add(derived - set(sessions), _ORM)
    return scoped


def _is_orm_model(qualified: str, context) -> bool:  # type: ignore[no-untyped-def]
    """A class of the repo mapped to a table (pass-1 fact ``orm_models``)."""
    if "." not in qualified:
        module, name = context.module_name, qualified
    else:
        module, _, name = context.index.resolve(qualified).rpartition(".")
    facts = context.index.by_module.get(module) if module else None
    if facts is None and "." not in qualified:
        facts = context.index.by_path.get(context.path)
    return bool(facts and name in route_facts.orm_models.of(facts))


def _bindings(handler: cst.FunctionDef) -> Iterator[tuple[set[str], cst.BaseExpression]]:
    """(names bound, value) for the assignments and loops of the handler's own scope."""
    for node, _ in own_scope_with_parents(handler.body):
        if isinstance(node, cst.Assign):
            names: set[str] = set()
            for target in node.targets:
                names |= assigned_names(target.target)
            yield names, node.value
        elif isinstance(node, (cst.AnnAssign, cst.AugAssign)) and node.value is not None:
            yield assigned_names(node.target), node.value
        elif isinstance(node, (cst.For, cst.CompFor)):
            yield assigned_names(node.target), node.iter
        elif isinstance(node, cst.NamedExpr):
            yield assigned_names(node.target), node.value


def _attached_names(node: cst.CSTNode, sessions: frozenset[str]) -> set[str]:
    """``session.add(user)``: ``user`` is now an object of the session."""
    if not (
        isinstance(node, cst.Call)
        and isinstance(node.func, cst.Attribute)
        and node.func.attr.value in ATTACHING_METHODS | SESSION_COROUTINES
        and dotted_name(node.func.value) in sessions
    ):
        return set()
    found: set[str] = set()
    for arg in node.args:
        value = arg.value
        if isinstance(value, cst.Name):
            found.add(value.value)
        elif isinstance(value, (cst.List, cst.Tuple, cst.Set)):
            found |= {e.value.value for e in value.elements if isinstance(e.value, cst.Name)}
    return found


def _carries(
    expr: cst.CSTNode, names: set[str] | frozenset[str], relationships: frozenset[str]
) -> bool:
    """Whether ``expr``'s value may hold one of ``names``'s objects: the name itself, in
    a container, passed to a call, the receiver of a method call, or a relationship
    attribute of it. A plain attribute read (``user.email``, ``user.name.upper()``) is a
    value computed now."""
    return _request_scoped_use(expr, names, relationships=relationships) is not None


def _request_scoped_use(
    expr: cst.CSTNode,
    names: Collection[str],
    *,
    uploads: Collection[str] = (),
    relationships: frozenset[str] = frozenset(),
) -> str | None:
    """The first of ``names`` whose object (not just a value read from it) ``expr``
    would hand on, or ``name.attr`` for a relationship read from it."""
    if not reads(expr, set(names)):
        return None
    for name, path in name_nodes(expr):
        if name.value not in names:
            continue
        parent = path[-1] if path else None
        if isinstance(parent, cst.Attribute) and parent.value is name:
            grandparent = path[-2] if len(path) > 1 else None
            is_method_call = isinstance(grandparent, cst.Call) and grandparent.func is parent
            if name.value in uploads:
                if parent.attr.value in UPLOAD_VALUES:
                    continue
            elif not is_method_call:
                if parent.attr.value not in relationships:
                    continue
                return f"{name.value}.{parent.attr.value}"
        return name.value
    return None


def relationship_names(context) -> frozenset[str]:  # type: ignore[no-untyped-def]
    """Relationship attributes of the repo's ORM models (pass-1 fact)."""
    cached = context.semantic.memo.get("orm_relationships")
    if cached is None:
        cached = frozenset(
            name
            for facts in context.index.by_path.values()
            for name in route_facts.orm_relationships.of(facts)
        )
        context.semantic.memo["orm_relationships"] = cached
    return cached


# -- building the fix ----------------------------------------------------------------------


def _with_param(handler: cst.FunctionDef, name: str, annotation: str) -> cst.Parameters:
    """``handler``'s parameters plus ``name: annotation`` where Python and FastAPI accept
    it: keyword-only after a ``*``, else before the first parameter with a default, else
    last."""
    params = handler.params
    opening = handler.whitespace_before_params
    new = cst.Param(
        name=cst.Name(name),
        annotation=cst.Annotation(annotation=cst.parse_expression(annotation)),
    )
    if isinstance(params.star_arg, (cst.Param, cst.ParamStar)):
        kwonly = _append(list(params.kwonly_params), new, opening)
        return params.with_changes(kwonly_params=kwonly)
    positional = list(params.params)
    for position, param in enumerate(positional):
        if param.default is not None:
            positional.insert(position, new.with_changes(comma=_comma_like(param)))
            return params.with_changes(params=positional)
    if any(p.default is not None for p in params.posonly_params):
        # `def f(a=1, /)`: nothing without a default may follow; make it keyword-only.
        return params.with_changes(star_arg=cst.ParamStar(), kwonly_params=[new])
    return params.with_changes(params=_append(positional, new, opening))


def _comma_like(param: cst.Param) -> cst.Comma | cst.MaybeSentinel:
    """The comma after ``param`` (to reuse its line break), or a plain ``, ``."""
    if isinstance(param.comma, cst.Comma):
        return param.comma
    return cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))


def _append(
    params: list[cst.Param], new: cst.Param, opening: cst.BaseParenthesizableWhitespace
) -> list[cst.Param]:
    """Append keeping the layout: with a magic trailing comma (one parameter per line)
    the new one gets its own line and the trailing comma."""
    if not params:
        return [new]
    last = params[-1]
    if isinstance(last.comma, cst.Comma) and isinstance(
        last.comma.whitespace_after, cst.ParenthesizedWhitespace
    ):
        separator = params[-2].comma if len(params) > 1 else None
        if not isinstance(separator, cst.Comma) and isinstance(
            opening, cst.ParenthesizedWhitespace
        ):
            separator = cst.Comma(whitespace_after=opening)
        if isinstance(separator, cst.Comma):
            params[-1] = last.with_changes(comma=separator)
            return [*params, new.with_changes(comma=last.comma)]
    # The line break before the closing parenthesis moves after the new parameter.
    params[-1] = last.with_changes(whitespace_after_param=cst.SimpleWhitespace(""))
    return [*params, new.with_changes(whitespace_after_param=last.whitespace_after_param)]


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
