"""FastAPI questions: route handlers, ``Depends`` (the one reader, for defaults,
``Annotated[...]`` metadata and aliases), ``BackgroundTasks`` parameters, and the
classes an annotation names."""

from __future__ import annotations

from typing import TYPE_CHECKING

import libcst as cst

from asyncmend.codemods.facts import routes as route_facts
from asyncmend.codemods.facts.routes import APP_CLASSES
from asyncmend.codemods.semantic.tree import annotation_of, dotted_name, parameters

if TYPE_CHECKING:
    from asyncmend.codemods.base import FileContext

ROUTE_METHODS = frozenset(
    {"get", "post", "put", "patch", "delete", "head", "options", "trace", "api_route", "websocket"}
)


def app_objects(context: FileContext) -> frozenset[str]:
    """Names bound to ``FastAPI(...)`` / ``APIRouter(...)`` in the module, or imported
    from a module of the repo where they are (pass-1 fact ``app_objects``)."""
    cached = context.semantic.memo.get("app_objects")
    if cached is not None:
        return cached
    found: set[str] = set()
    for stmt in context.module.body:
        if not isinstance(stmt, cst.SimpleStatementLine):
            continue
        for small in stmt.body:
            value: cst.BaseExpression | None = None
            targets: list[cst.BaseExpression] = []
            if isinstance(small, cst.Assign):
                value, targets = small.value, [t.target for t in small.targets]
            elif isinstance(small, cst.AnnAssign):
                value, targets = small.value, [small.target]
            if (
                isinstance(value, cst.Call)
                and (context.semantic.resolve(value.func) or "") in APP_CLASSES
            ):
                found.update(n for t in targets if (n := dotted_name(t)))
    for local, target in context.semantic.imports.items():
        # `from app.api import router`: an app object of another module (repo index).
        module, _, name = context.index.resolve(target).rpartition(".")
        facts = context.index.by_module.get(module)
        if facts is not None and name in route_facts.app_objects.of(facts):
            found.add(local)
    result = frozenset(found)
    context.semantic.memo["app_objects"] = result
    return result


def is_route_handler(func: cst.FunctionDef, context: FileContext) -> bool:
    """An ``async def`` (or def) decorated by ``<app or router>.get/post/...(...)``
    where the object was bound to ``FastAPI(...)`` or ``APIRouter(...)``."""
    apps = app_objects(context)
    for decorator in func.decorators:
        expr = decorator.decorator
        if isinstance(expr, cst.Call):
            expr = expr.func
        if isinstance(expr, cst.Attribute) and expr.attr.value in ROUTE_METHODS:
            owner = dotted_name(expr.value)
            if owner is not None and owner in apps:
                return True
    return False


# -- Depends -----------------------------------------------------------------------------


def depends_call(expr: cst.BaseExpression | None) -> cst.Call | None:
    """``expr`` itself when it is a ``Depends(...)`` call (``fastapi.Depends``,
    ``params.Depends``...), else None."""
    if isinstance(expr, cst.Call) and (dotted_name(expr.func) or "").rsplit(".", 1)[-1] == (
        "Depends"
    ):
        return expr
    return None


def depends_target(expr: cst.BaseExpression | None) -> cst.BaseExpression | None:
    """``dep`` of a ``Depends(dep)`` call, else None."""
    call = depends_call(expr)
    return call.args[0].value if call is not None and call.args else None


def depends_scope(call: cst.Call) -> str:
    """The ``scope="..."`` a ``Depends`` passes (``""`` when none)."""
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == "scope":
            if isinstance(arg.value, cst.SimpleString):
                return arg.value.evaluated_value  # type: ignore[return-value]
    return ""


def annotated_depends(annotation: cst.BaseExpression | None) -> cst.Call | None:
    """The ``Depends(...)`` in the metadata of ``Annotated[T, Depends(...)]``."""
    if isinstance(annotation, cst.Subscript):
        for element in annotation.slice[1:]:
            if isinstance(element.slice, cst.Index):
                call = depends_call(element.slice.value)
                if call is not None:
                    return call
    return None


def parameter_depends(param: cst.Param) -> cst.Call | None:
    """The ``Depends(...)`` of a parameter: its default, or its ``Annotated`` metadata."""
    return depends_call(param.default) or annotated_depends(annotation_of(param))


# -- annotations and BackgroundTasks ------------------------------------------------------

BACKGROUND_TASKS_CLASSES = frozenset(
    {"fastapi.BackgroundTasks", "fastapi.background.BackgroundTasks",
     "starlette.background.BackgroundTasks"}
)  # fmt: skip


def annotation_types(annotation: cst.BaseExpression, context: FileContext) -> frozenset[str]:
    """Qualified names of the classes an annotation names, looking through
    ``Annotated[X, ...]``, ``Optional[X]``, ``X | None``, ``Union[...]``, the element
    of ``list[X]`` / ``Sequence[X]`` and ``Annotated`` aliases of this module or (repo
    index) of the module they come from: ``Annotated[UploadFile, File()]`` ->
    ``{"fastapi.UploadFile"}``, ``CurrentUser`` -> ``{"app.models.User"}``."""
    if isinstance(annotation, cst.BinaryOperation) and isinstance(annotation.operator, cst.BitOr):
        return annotation_types(annotation.left, context) | annotation_types(
            annotation.right, context
        )
    if isinstance(annotation, cst.Subscript):
        base = (context.semantic.resolve(annotation.value) or "").rsplit(".", 1)[-1]
        elements = [e.slice.value for e in annotation.slice if isinstance(e.slice, cst.Index)]
        if base == "Annotated" and elements:
            elements = elements[:1]
        elif base not in ("Optional", "Union", "list", "List", "Sequence", "tuple", "Tuple"):
            elements = []
        found: frozenset[str] = frozenset()
        for element in elements:
            found |= annotation_types(element, context)
        return found
    name = context.semantic.resolve(annotation)
    if name is None:
        return frozenset()
    if isinstance(annotation, cst.Name):
        alias = _local_type_aliases(context).get(annotation.value)
        if alias is not None:  # `CurrentUser = Annotated[User, ...]` in this module
            return annotation_types(alias, context)
    module, _, leaf = context.index.resolve(name).rpartition(".")
    facts = context.index.by_module.get(module)
    aliased = route_facts.type_aliases.of(facts).get(leaf)
    return frozenset({aliased or name})


def _local_type_aliases(context: FileContext) -> dict[str, cst.Subscript]:
    """Module-level ``Alias = Annotated[...]`` assignments of this file."""
    return {
        name: value
        for name, value in context.semantic.subscript_aliases().items()
        if (dotted_name(value.value) or "").endswith("Annotated")
    }


def is_background_tasks(annotation: cst.BaseExpression, context: FileContext) -> bool:
    """Whether an annotation names ``BackgroundTasks``: directly, in
    ``Annotated[BackgroundTasks, ...]``, ``BackgroundTasks | None``, or an alias."""
    return any(
        name in BACKGROUND_TASKS_CLASSES or name.rsplit(".", 1)[-1] == "BackgroundTasks"
        for name in annotation_types(annotation, context)
    )


def background_tasks_params(func: cst.FunctionDef, context: FileContext) -> list[str]:
    """``func``'s ``BackgroundTasks`` parameters, whatever they are called."""
    return [
        param.name.value
        for param in parameters(func)
        if (annotation := annotation_of(param)) is not None
        and is_background_tasks(annotation, context)
    ]


def background_tasks_param(func: cst.FunctionDef, context: FileContext) -> str | None:
    """The name of ``func``'s first ``BackgroundTasks`` parameter, else None."""
    found = background_tasks_params(func, context)
    return found[0] if found else None
