"""Pass-1 facts for route handlers: which module-level names are ``FastAPI(...)`` or
``APIRouter(...)`` objects, so a handler decorated by a router imported from another
module of the repo is recognised (``matchers.app_objects``), and which attributes of
the repo's ORM models are relationships (reading one gives more session-bound objects)."""

from __future__ import annotations

import ast

from asyncmend.codemods.facts.base import FileFacts, assignment, collector
from asyncmend.codemods.facts.base import dotted as _dotted
from asyncmend.codemods.facts.source_lines import walk_holding

#: The classes whose instances route requests.
APP_CLASSES = ("fastapi.FastAPI", "fastapi.APIRouter", "fastapi.routing.APIRouter")


@collector("app_objects", triggers=(b"FastAPI", b"APIRouter"), empty=())
def app_objects(tree: ast.Module, facts: FileFacts) -> list[str]:
    """Module-level names bound to ``FastAPI(...)`` / ``APIRouter(...)``, the class
    resolved through the module's imports (``from fastapi import APIRouter as R``)."""
    found = []
    for stmt in tree.body:
        targets, value = assignment(stmt)
        if not isinstance(value, ast.Call):
            continue
        callee = _dotted(value.func) or ""
        head, _, rest = callee.partition(".")
        target = facts.imports.get(head)
        qualified = (f"{target}.{rest}" if rest else target) if target else callee
        if qualified in APP_CLASSES:
            found.extend(t.id for t in targets if isinstance(t, ast.Name))
    return found


#: Callables that declare a relationship attribute (SQLAlchemy, SQLModel).
RELATIONSHIP_CALLS = ("relationship", "relation", "Relationship")


@collector("orm_relationships", triggers=(b"elationship",), empty=())
def orm_relationships(tree: ast.Module, facts: FileFacts) -> list[str]:
    """Attribute names of module-level classes bound to ``relationship(...)``."""
    found = []
    for cls in tree.body:
        if not isinstance(cls, ast.ClassDef):
            continue
        for stmt in cls.body:
            targets, value = assignment(stmt)
            if (
                isinstance(value, ast.Call)
                and (_dotted(value.func) or "").rsplit(".", 1)[-1] in RELATIONSHIP_CALLS
            ):
                found.extend(t.id for t in targets if isinstance(t, ast.Name))
    return found


@collector("orm_models", empty=())
def orm_models(tree: ast.Module, facts: FileFacts) -> list[str]:
    """Module-level classes mapped to a table: ``__tablename__`` / ``__table__`` in the
    body, or SQLModel's ``table=True``."""
    found = []
    for cls in tree.body:
        if not isinstance(cls, ast.ClassDef):
            continue
        table_keyword = any(
            k.arg == "table" and isinstance(k.value, ast.Constant) and k.value.value is True
            for k in cls.keywords
        )
        declares_table = any(
            isinstance(target, ast.Name) and target.id in ("__tablename__", "__table__")
            for stmt in cls.body
            for target in (
                stmt.targets if isinstance(stmt, ast.Assign)
                else [stmt.target] if isinstance(stmt, ast.AnnAssign) else []
            )
        )  # fmt: skip
        if table_keyword or declares_table:
            found.append(cls.name)
    return found


@collector("type_aliases", triggers=(b"Annotated",), empty={})
def type_aliases(tree: ast.Module, facts: FileFacts) -> dict[str, str]:
    """``CurrentUser = Annotated[User, Depends(...)]``: alias -> qualified name of the
    annotated type, resolved through the module's imports."""
    found = {}
    for stmt in tree.body:
        if not (
            isinstance(stmt, ast.Assign)
            and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], ast.Name)
            and isinstance(stmt.value, ast.Subscript)
            and (_dotted(stmt.value.value) or "").rsplit(".", 1)[-1] == "Annotated"
        ):
            continue
        inner = stmt.value.slice
        first = inner.elts[0] if isinstance(inner, ast.Tuple) and inner.elts else inner
        name = _dotted(first)
        if name is None:
            continue
        head, _, rest = name.partition(".")
        target = facts.imports.get(head)
        if target is None:
            target = f"{facts.module}.{head}" if facts.module else head
        found[stmt.targets[0].id] = f"{target}.{rest}" if rest else target
    return found


@collector("depends_targets", triggers=(b"Depends",), empty={})
def depends_targets(tree: ast.Module, facts: FileFacts) -> dict[str, list[str]]:
    """What every ``Depends(dep, scope=...)`` of the module names, resolved through its
    imports (``app.db.get_session``; the bare name for a function of this module), with
    the ``scope``s it is depended on under (``""`` when none): the functions FastAPI runs
    as dependencies (AM105, AM106)."""
    found: dict[str, set[str]] = {}
    for node in walk_holding(facts, tree, (b"Depends",)):
        if not (
            isinstance(node, ast.Call)
            and (_dotted(node.func) or "").rsplit(".", 1)[-1] == "Depends"
            and node.args
        ):
            continue
        name = _dotted(node.args[0])
        if name is None:
            continue
        head, _, rest = name.partition(".")
        target = facts.imports.get(head)
        scope = next(
            (
                str(k.value.value)
                for k in node.keywords
                if k.arg == "scope" and isinstance(k.value, ast.Constant)
            ),
            "",
        )
        key = (f"{target}.{rest}" if rest else target) if target else name
        found.setdefault(key, set()).add(scope)
    return {key: sorted(scopes) for key, scopes in found.items()}
