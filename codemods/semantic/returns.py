"""What class a call of one of the repo's factories returns: provenance for receivers.

``adapter = get_adapter()`` with ``def get_adapter() -> Adapter`` makes ``adapter`` an
``Adapter``, as a parameter annotated ``Adapter`` would: the callee is resolved through
the imports (module level or the function's own) and the repo index to a def whose
return annotation names one class (pass-1 ``returned_classes``: undecorated or cached by
``functools``, ``await`` exactly when it is an ``async def``). Silent when the callee is
not resolved, is rebound, names no one class (a union, ``Optional``), or the local is
bound more than once.
"""

from __future__ import annotations

import libcst as cst

from asyncmend.codemods.base import FileContext
from asyncmend.codemods.facts import sessions as session_facts
from asyncmend.codemods.semantic.tree import dotted_name

#: A class of this module by name, or ``(qualified,)`` for one of another module.
ClassRef = str | tuple[str]


def local_factory_class(
    receiver: str, func: cst.FunctionDef, context: FileContext
) -> ClassRef | None:
    """The class of the plain local ``receiver`` of ``func`` when its one binding there
    is ``receiver = f()`` (or ``= await f()``) of a factory of the repo."""
    semantic = context.semantic
    found = semantic.bindings(func).get(receiver, [])
    if len(found) != 1 or found[0].kind != "assign" or found[0].annotation is not None:
        return None
    value = found[0].value
    if not isinstance(value, (cst.Call, cst.Await)) or not any(
        isinstance(stmt, cst.Assign) and stmt.value is value  # not `with f() as receiver`
        for stmt in semantic.scope_statements(func.body)
    ):
        return None
    cls = returned_class(value, func, context)
    if cls is None or _rebound_by_nested(receiver, func, context):
        return None
    return cls


def returned_class(
    value: cst.BaseExpression, func: cst.FunctionDef | None, context: FileContext
) -> ClassRef | None:
    """The class ``value`` (``get_adapter()``, ``await make_adapter()``,
    ``factories.get_adapter()``) returns, read in ``func`` (None: module level)."""
    awaited = isinstance(value, cst.Await)
    call = value.expression if isinstance(value, cst.Await) else value
    if not isinstance(call, cst.Call) or (func is not None and not _top_level(func, context)):
        return None  # a nested function: an enclosing one may rebind the callee
    callee = dotted_name(call.func)
    if callee is None:
        return None
    semantic = context.semantic
    head, _, rest = callee.partition(".")
    own_imports = semantic.function_imports(func) if func is not None else {}
    if head in own_imports:
        if len(semantic.bindings(func).get(head, [])) != 1:  # type: ignore[arg-type]
            return None
        qualified = f"{own_imports[head]}.{rest}" if rest else own_imports[head]
    elif func is not None and head in semantic.local_names(func):
        return None
    elif head in semantic.imports:
        if not semantic.means_import(head, ()):
            return None
        qualified = semantic.resolve(call.func) or callee
    else:  # a def of this module, bound once
        top = semantic.bindings(semantic.module).get(head, [])
        if rest or len(top) != 1 or top[0].kind != "def":
            return None
        here = context.index.by_path.get(context.path)
        info = session_facts.returned_classes.of(here).get(head)
        return _class_of(info, awaited, None, here=True)
    module, _, name = context.index.resolve(qualified).rpartition(".")
    facts = context.index.by_module.get(module)
    info = session_facts.returned_classes.of(facts).get(name)
    here = facts is not None and facts is context.index.by_path.get(context.path)
    return _class_of(info, awaited, module, here=here)


def _class_of(
    info: dict | None, awaited: bool, module: str | None, *, here: bool
) -> ClassRef | None:
    """The class a factory's facts name, if its call is awaited exactly when needed."""
    if info is None or info["async"] != awaited:
        return None  # an `async def`'s call unawaited is a coroutine, not the class
    if not info["local"]:
        return (info["class"],)
    if here:
        return str(info["class"])
    return (f"{module}.{info['class']}",) if module else None


def _top_level(func: cst.FunctionDef, context: FileContext) -> bool:
    """``func`` is a module-level function or a method of a module-level class."""
    for stmt in context.module.body:
        if stmt is func:
            return True
        if isinstance(stmt, cst.ClassDef) and isinstance(stmt.body, cst.IndentedBlock):
            if any(inner is func for inner in stmt.body.body):
                return True
    return False


def _rebound_by_nested(name: str, func: cst.FunctionDef, context: FileContext) -> bool:
    """A function nested in ``func`` declares ``nonlocal name`` (and may rebind it)."""
    if b"nonlocal" not in context.source:
        return False
    return any(
        isinstance(node, cst.Nonlocal) and any(item.name.value == name for item in node.names)
        for node in context.semantic.descendants(func.body)
    )
