"""Pass-1 facts about the repo's ORM models and the functions that load them (AM601).

- ``model_classes``: every module-level class of a model file with its bases
  (qualified through the module's imports) and the relationships its body declares:
  attribute -> ``{"lazy": strategy, "target": class name or None, "collection": bool or
  None, "line": n}``. ``lazy`` is the loader strategy as SQLAlchemy names it
  (``"select"`` for the default, ``lazy=True``; ``"joined"`` for ``False``; ``"noload"``
  for ``None``) or ``"?"`` when it cannot be read (a variable, ``**kwargs``). SQLModel's
  ``Relationship(sa_relationship_kwargs={"lazy": ...})`` and ``sa_relationship=``,
  ``@declared_attr`` methods returning ``relationship(...)``, and ``backref(...)``s (recorded
  on the declaring class, moved to their target by ``semantic.models``) are read too.
  ``plain`` lists the other attributes the body assigns (a column of the same name in a
  subclass hides an inherited relationship). ``generated`` (AM305): columns whose value
  the database makes, attribute -> ``{"insert": bool, "update": bool, "line": n}``
  (``server_default``/``Computed``/a SQL-expression ``default`` on INSERT;
  ``server_onupdate``/``Computed``/a SQL-expression ``onupdate`` on UPDATE); ``eager``:
  the ``eager_defaults`` of ``__mapper_args__`` (True/False/"auto", ``"?"`` when it
  cannot be read, absent when the class does not set it).
- ``object_loaders``: functions and methods whose returned value is the result of an
  entity query of one model (``(await s.execute(select(M)...)).scalar_one()``,
  ``await s.get(M, k)``, ``(await s.scalars(...)).all()``), with the loader options the
  query names: a repository helper, so that a caller's ``obj.rel`` is judged by what the
  helper loaded.
"""

from __future__ import annotations

import ast
from typing import Any

from asyncmend.codemods.facts.base import (
    FileFacts,
    assignment,
    collector,
    module_functions,
    statements,
)
from asyncmend.codemods.facts.base import dotted as _dotted
from asyncmend.codemods.facts.source_lines import lines_hold, name_lines_hold, walk_holding

#: Callables that declare a relationship attribute (SQLAlchemy, SQLModel).
RELATIONSHIP_CALLS = frozenset({"relationship", "relation", "Relationship"})
#: ``lazy=`` literals -> SQLAlchemy's strategy names.
_LITERAL_STRATEGIES: dict[object, str] = {True: "select", False: "joined", None: "noload"}
#: Loader options, by what they do to the attribute they name.
LOADING_OPTIONS = frozenset(
    {"selectinload", "joinedload", "subqueryload", "immediateload", "contains_eager"}
)
RAISING_OPTIONS = frozenset({"raiseload"})
SILENT_OPTIONS = frozenset({"noload"})
LAZY_OPTIONS = frozenset({"lazyload", "defaultload"})
#: Result methods that give one object / a list of objects of a scalars result.
ONE_METHODS = frozenset(
    {"scalar_one", "scalar_one_or_none", "scalar", "first", "one", "one_or_none"}
)
MANY_METHODS = frozenset({"all"})


def _qualify(name: str | None, facts: FileFacts, local: set[str]) -> str | None:
    """A dotted name as written in this module -> its qualified target (an import, or a
    class of this module)."""
    if name is None:
        return None
    head, _, rest = name.partition(".")
    target = facts.imports.get(head)
    if target is not None:
        return f"{target}.{rest}" if rest else target
    if head in local and facts.module:
        return f"{facts.module}.{name}"
    return name


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _strategy(value: ast.expr | None) -> str:
    if value is None:
        return "select"
    if isinstance(value, ast.Constant):
        if isinstance(value.value, str):
            return value.value
        return _LITERAL_STRATEGIES.get(value.value, "?")
    return "?"


def _string_target(node: ast.expr | None) -> str | None:
    """``"Post"`` / ``Post`` / ``lambda: Post`` / ``"app.models.Post"`` -> ``Post``."""
    if isinstance(node, ast.Lambda):
        node = node.body
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        text = node.value.strip()
        return text.rsplit(".", 1)[-1] if text.replace(".", "").replace("_", "").isalnum() else None
    name = _dotted(node) if node is not None else None
    return name.rsplit(".", 1)[-1] if name else None


def _annotation_target(annotation: ast.expr | None) -> tuple[str | None, bool | None]:
    """``Mapped[list["Post"]]`` -> (``Post``, True); ``Mapped["User"]`` /
    ``Mapped[Optional[User]]`` / ``"User" | None`` -> (``User``, False)."""
    if annotation is None:
        return None, None
    if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
        try:
            annotation = ast.parse(annotation.value, mode="eval").body
        except SyntaxError:
            return None, None
    node = annotation
    collection: bool | None = False
    if isinstance(node, ast.Subscript) and (_dotted(node.value) or "").endswith("Mapped"):
        node = node.slice
    while True:
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
            sides = [s for s in (node.left, node.right) if not _is_none(s)]
            if len(sides) != 1:
                return None, None
            node = sides[0]
            continue
        if isinstance(node, ast.Subscript):
            head = (_dotted(node.value) or "").rsplit(".", 1)[-1]
            if head == "Optional":
                node = node.slice
                continue
            if head in ("list", "List", "set", "Set", "Sequence", "tuple", "frozenset"):
                collection = True
                node = node.slice.elts[0] if isinstance(node.slice, ast.Tuple) else node.slice
                continue
            return None, None
        break
    return _string_target(node), collection


def _is_none(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def _relationship(call: ast.Call, annotation: ast.expr | None, line: int) -> dict[str, Any] | None:
    """The record of one ``relationship(...)``/``Relationship(...)`` call."""
    leaf = (_dotted(call.func) or "").rsplit(".", 1)[-1]
    if leaf not in RELATIONSHIP_CALLS:
        return None
    target, collection = _annotation_target(annotation)
    if leaf == "Relationship":  # SQLModel
        inner = _keyword(call, "sa_relationship")
        if isinstance(inner, ast.Call):
            return _relationship(inner, annotation, line)
        kwargs = _keyword(call, "sa_relationship_kwargs")
        lazy: str = "select"
        if isinstance(kwargs, ast.Dict):
            for key, value in zip(kwargs.keys, kwargs.values, strict=True):
                if key is None:
                    lazy = "?"
                elif isinstance(key, ast.Constant) and key.value == "lazy":
                    lazy = _strategy(value)
        elif kwargs is not None:
            lazy = "?"
    else:
        lazy = _strategy(_keyword(call, "lazy"))
        if call.args:
            target = _string_target(call.args[0]) or target
        elif (argument := _keyword(call, "argument")) is not None:
            target = _string_target(argument) or target
        uselist = _keyword(call, "uselist")
        if isinstance(uselist, ast.Constant) and isinstance(uselist.value, bool):
            collection = uselist.value
    if any(k.arg is None for k in call.keywords):
        lazy = "?"
    kind = _annotation_kind(annotation)
    if kind is not None and lazy == "select":
        lazy = kind  # `WriteOnlyMapped[...]` / `DynamicMapped[...]` choose the loader
    return {"lazy": lazy, "target": target, "collection": collection, "line": line}


#: Annotations that choose a relationship's loader themselves.
ANNOTATION_STRATEGIES = {"WriteOnlyMapped": "write_only", "DynamicMapped": "dynamic"}


def _annotation_kind(annotation: ast.expr | None) -> str | None:
    if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
        try:
            annotation = ast.parse(annotation.value, mode="eval").body
        except SyntaxError:
            return None
    if isinstance(annotation, ast.Subscript):
        head = (_dotted(annotation.value) or "").rsplit(".", 1)[-1]
        return ANNOTATION_STRATEGIES.get(head)
    return None


def _backref(call: ast.Call, owner: str) -> dict[str, Any] | None:
    """``relationship(..., backref="author")`` / ``backref=backref("author", lazy=...)``:
    the attribute it puts on the target class."""
    value = _keyword(call, "backref")
    if isinstance(value, ast.Constant) and isinstance(value.value, str):
        return {"name": value.value, "lazy": "select", "target": owner, "collection": None}
    if (
        isinstance(value, ast.Call)
        and (_dotted(value.func) or "").rsplit(".", 1)[-1] == "backref"
        and value.args
        and isinstance(value.args[0], ast.Constant)
        and isinstance(value.args[0].value, str)
    ):
        lazy = _strategy(_keyword(value, "lazy"))
        if any(k.arg is None for k in value.keywords):
            lazy = "?"
        return {"name": value.args[0].value, "lazy": lazy, "target": owner, "collection": None}
    return None


def _declared_attr_relationship(func: ast.FunctionDef) -> ast.Call | None:
    """``@declared_attr def owner(cls): return relationship(...)``."""
    if not any(
        (_dotted(d.func if isinstance(d, ast.Call) else d) or "").endswith("declared_attr")
        for d in func.decorator_list
    ):
        return None
    returns = [n for n in statements(func) if isinstance(n, ast.Return)]
    if len(returns) == 1 and isinstance(returns[0].value, ast.Call):
        return returns[0].value
    return None


#: Callables that declare a column (SQLAlchemy, SQLModel).
COLUMN_CALLS = frozenset({"mapped_column", "Column", "column_property", "Field"})
#: Callees whose call is a SQL expression (evaluated by the database, so its value is
#: not known to the ORM after the flush): ``func.now()``, ``text("...")``...
_SQL_EXPRESSION_CALLS = frozenset({"text", "literal_column", "cast", "case", "select", "literal"})


def _is_sql_expression(value: ast.expr | None) -> bool:
    """``func.now()``, ``sa.func.lower(...)``, ``text("...")``: a default or onupdate the
    database evaluates. A Python callable or a constant is known to the ORM: False."""
    if not isinstance(value, ast.Call):
        return False
    callee = _dotted(value.func) or ""
    parts = callee.split(".")
    return "func" in parts[:-1] or parts[-1] in _SQL_EXPRESSION_CALLS


def _present(value: ast.expr | None) -> bool:
    return value is not None and not _is_none(value)


def _generated(call: ast.Call) -> dict[str, bool] | None:
    """Whether the column ``call`` declares gets its value from the database on INSERT
    and/or UPDATE; None for a plain column (or no column at all)."""
    leaf = (_dotted(call.func) or "").rsplit(".", 1)[-1]
    if leaf not in COLUMN_CALLS:
        return None
    if leaf == "Field":  # SQLModel: `sa_column=Column(...)` or `sa_column_kwargs={...}`
        inner = _keyword(call, "sa_column")
        if isinstance(inner, ast.Call):
            return _generated(inner)
        kwargs = _keyword(call, "sa_column_kwargs")
        if not isinstance(kwargs, ast.Dict):
            return None
        options = {
            key.value: value
            for key, value in zip(kwargs.keys, kwargs.values, strict=True)
            if isinstance(key, ast.Constant) and isinstance(key.value, str)
        }
    else:
        options = {k.arg: k.value for k in call.keywords if k.arg is not None}
    computed = any(
        isinstance(arg, ast.Call) and (_dotted(arg.func) or "").rsplit(".", 1)[-1] == "Computed"
        for arg in call.args
    )
    insert = computed or _present(options.get("server_default"))
    insert = insert or _is_sql_expression(options.get("default"))
    update = computed or _present(options.get("server_onupdate"))
    update = update or _is_sql_expression(options.get("onupdate"))
    return {"insert": insert, "update": update} if insert or update else None


def _eager_defaults(value: ast.expr | None) -> object:
    """``eager_defaults`` of a ``__mapper_args__`` value: True/False/"auto", ``"?"`` when
    it cannot be read, None when the mapping does not name it."""
    if isinstance(value, ast.Call) and _dotted(value.func) == "dict" and not value.args:
        keys = [k.arg for k in value.keywords]
        if None in keys:
            return "?"
        value = next((k.value for k in value.keywords if k.arg == "eager_defaults"), None)
        return _eager_value(value) if value is not None else None
    if not isinstance(value, ast.Dict):
        return "?"
    for key, item in zip(value.keys, value.values, strict=True):
        if key is None:
            return "?"  # `**base_args`
        if isinstance(key, ast.Constant) and key.value == "eager_defaults":
            return _eager_value(item)
    return None


def _eager_value(value: ast.expr) -> object:
    if isinstance(value, ast.Constant) and value.value in (True, False, "auto"):
        return value.value
    return "?"


@collector(
    "model_classes",
    triggers=(b"elationship", b"__tablename__", b"table=True", b"Mapped[",
              b"server_default", b"onupdate", b"Computed(", b"__mapper_args__"),
    empty={},
)  # fmt: skip
def model_classes(tree: ast.Module, facts: FileFacts) -> dict[str, Any]:
    local = {stmt.name for stmt in tree.body if isinstance(stmt, ast.ClassDef)}
    found: dict[str, Any] = {}
    for cls in tree.body:
        if not isinstance(cls, ast.ClassDef):
            continue
        relationships: dict[str, Any] = {}
        backrefs: list[dict[str, Any]] = []
        plain: list[str] = []
        generated: dict[str, Any] = {}
        eager: object = None
        for stmt in cls.body:
            if isinstance(stmt, ast.FunctionDef):
                if stmt.name == "__mapper_args__":
                    returns = [n for n in ast.walk(stmt) if isinstance(n, ast.Return)]
                    eager = _eager_defaults(returns[0].value) if len(returns) == 1 else "?"
                    continue
                call = _declared_attr_relationship(stmt)
                record = _relationship(call, stmt.returns, stmt.lineno) if call else None
                if record is not None:
                    relationships[stmt.name] = record
                elif call is not None and (made := _generated(call)) is not None:
                    generated[stmt.name] = {**made, "line": stmt.lineno}  # a mixin's column
                continue
            targets, value = assignment(stmt)
            if not targets and isinstance(stmt, ast.AnnAssign):
                targets = [stmt.target]  # `posts: Mapped[list[Post]]` without a value
            annotation = stmt.annotation if isinstance(stmt, ast.AnnAssign) else None
            record = None
            if isinstance(value, ast.Call):
                record = _relationship(value, annotation, stmt.lineno)
                backref = _backref(value, cls.name) if record is not None else None
                if backref is not None and record is not None:
                    backrefs.append({**backref, "on": record["target"]})
            made = _generated(value) if isinstance(value, ast.Call) and record is None else None
            for target in targets:
                if not isinstance(target, ast.Name):
                    continue
                if target.id == "__mapper_args__":
                    eager = _eager_defaults(value)
                elif record is not None:
                    relationships[target.id] = record
                else:
                    plain.append(target.id)
                    if made is not None:
                        generated[target.id] = {**made, "line": stmt.lineno}
        found[cls.name] = {
            "bases": [_qualify(_dotted(base), facts, local) or "?" for base in cls.bases],
            "relationships": relationships,
            "backrefs": backrefs,
            "plain": plain,
            "generated": generated,
        }
        if eager is not None:
            found[cls.name]["eager"] = eager
    return found


# -- functions that return loaded objects -----------------------------------------------------


def _chain(expr: ast.expr) -> list[ast.Call]:
    """The calls of a method chain, outermost first."""
    calls = []
    while isinstance(expr, ast.Call):
        calls.append(expr)
        if not isinstance(expr.func, ast.Attribute):
            break
        expr = expr.func.value
    return calls


def option_effects(options: list[ast.expr]) -> dict[str, str] | None:
    """Loader options -> first attribute of each path -> ``"load"`` / ``"raise"`` /
    ``"lazy"`` / ``"noload"`` (``"*"`` for a wildcard); None when an option cannot be
    read (a variable, ``*opts``)."""
    found: dict[str, str] = {}
    for option in options:
        calls = _chain(option)
        if not calls:
            return None
        root = calls[-1]
        name = (_dotted(root.func) or "").rsplit(".", 1)[-1]
        if name == "Load":  # `Load(M).selectinload(M.rel)...`: the first method is the option
            if len(calls) < 2 or not isinstance(calls[-2].func, ast.Attribute):
                return None
            root = calls[-2]
            name = root.func.attr  # type: ignore[union-attr]
        first = root.args[0] if root.args else None
        while (  # `M.rel.of_type(Sub)`, `M.rel.and_(...)`: still `rel`
            isinstance(first, ast.Call)
            and isinstance(first.func, ast.Attribute)
            and first.func.attr in ("of_type", "and_")
        ):
            first = first.func.value
        if first is None:
            return None
        attr = "*" if isinstance(first, ast.Constant) and first.value == "*" else None
        if attr is None:
            if isinstance(first, ast.Attribute):
                attr = first.attr
            elif isinstance(first, ast.Constant) and isinstance(first.value, str):
                attr = first.value.split(".")[0]
            else:
                return None
        if name in LOADING_OPTIONS:
            found[attr] = "load"
        elif name in RAISING_OPTIONS:
            found[attr] = "raise"
        elif name in SILENT_OPTIONS:
            found[attr] = "noload"
        elif name in LAZY_OPTIONS:
            found[attr] = "lazy"
        elif name in ("load_only", "undefer", "defer", "undefer_group", "selectin_polymorphic"):
            continue
        else:
            return None
    return found


def _query_facts(
    query: ast.expr | None, local: dict[str, ast.expr]
) -> tuple[str, dict[str, str]] | None:
    """(the model written in ``select(M)``, its options) of an entity query."""
    if isinstance(query, ast.Name):
        query = local.get(query.id)
    if query is None:
        return None
    calls = _chain(query)
    if not calls or (_dotted(calls[-1].func) or "").rsplit(".", 1)[-1] != "select":
        return None
    select = calls[-1]
    if len(select.args) != 1 or select.keywords:
        return None
    model = _dotted(select.args[0])
    if model is None or not model.rsplit(".", 1)[-1][:1].isupper():
        return None
    options: list[ast.expr] = []
    for call in calls[:-1]:
        if isinstance(call.func, ast.Attribute) and call.func.attr == "options":
            options.extend(call.args)
    effects = option_effects(options)
    return (model, effects) if effects is not None else None


def _strip_await(expr: ast.expr | None) -> ast.expr | None:
    return expr.value if isinstance(expr, ast.Await) else expr


def _returned_load(
    value: ast.expr | None, local: dict[str, ast.expr]
) -> tuple[str, dict[str, str], bool] | None:
    """(model, options, many) of a returned ``(await s.execute(q)).scalar_one()``,
    ``(await s.scalars(q)).all()``, ``await s.get(M, k)``, ``await s.scalar(q)``."""
    value = _strip_await(value)
    if isinstance(value, ast.Name):
        value = _strip_await(local.get(value.id))
    many = False
    if isinstance(value, ast.Call) and _dotted(value.func) == "list" and len(value.args) == 1:
        value, many = _strip_await(value.args[0]), True
    method = None
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute):
        method = value.func.attr
        many = many or method in MANY_METHODS
    elif not many:
        return None
    if method == "get":
        if not value.args:
            return None
        model = _dotted(value.args[0])
        options = _keyword(value, "options")
        items = options.elts if isinstance(options, (ast.List, ast.Tuple)) else []
        if options is not None and not isinstance(options, (ast.List, ast.Tuple)):
            return None
        effects = option_effects(items)
        if model is None or effects is None:
            return None
        return model, effects, False
    if method == "scalar" and value.args:
        found = _query_facts(value.args[0], local)
        return (*found, False) if found else None
    if method in ("scalars", "execute") and many:
        pass  # `list(await s.scalars(q))`: the awaited call itself
    elif method is not None:
        if method not in ONE_METHODS | MANY_METHODS or value.args:
            return None
        value = value.func.value
    # down to the awaited execute/scalars: `.scalars()`, `.unique()` between
    scalars = False
    while isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute):
        if value.func.attr in ("scalars", "unique") and not value.args:
            scalars = scalars or value.func.attr == "scalars"
            value = value.func.value
            continue
        break
    if isinstance(value, ast.Name):
        value = local.get(value.id)
    inner = _strip_await(value)
    if isinstance(inner, ast.Call) and isinstance(inner.func, ast.Attribute):
        if inner.func.attr in ("scalars", "unique") and not inner.args:
            scalars = scalars or inner.func.attr == "scalars"
            inner = _strip_await(inner.func.value)
    if not (isinstance(inner, ast.Call) and isinstance(inner.func, ast.Attribute) and inner.args):
        return None
    kind = inner.func.attr
    if kind == "scalars":
        scalars = True
    elif kind != "execute":
        return None
    if not scalars and method not in ("scalar_one", "scalar_one_or_none", "scalar"):
        return None
    found = _query_facts(inner.args[0], local)
    return (*found, many) if found else None


@collector("object_loaders", triggers=(b"select(", b".get("), empty={})
def object_loaders(tree: ast.Module, facts: FileFacts) -> dict[str, Any]:
    """``func`` / ``Class.method`` -> ``{"model": qualified, "options": {attr: effect},
    "many": bool, "line": n}`` for ``async def``s whose every ``return`` gives the
    object(s) of one entity query."""
    classes = {stmt.name for stmt in tree.body if isinstance(stmt, ast.ClassDef)}
    found: dict[str, Any] = {}

    def summarize(func: ast.AsyncFunctionDef) -> dict[str, Any] | None:
        local: dict[str, ast.expr] = {}
        counts: dict[str, int] = {}
        returns: list[ast.Return] = []
        for node in statements(func):  # assignments and returns: no expression walked
            if isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets, value = assignment(node)
                for target in targets:
                    if isinstance(target, ast.Name) and value is not None:
                        local[target.id] = value
                        counts[target.id] = counts.get(target.id, 0) + 1
            elif isinstance(node, ast.Return) and node.value is not None:
                returns.append(node)
        local = {name: value for name, value in local.items() if counts[name] == 1}
        loads = [_returned_load(r.value, local) for r in returns]
        if not loads or any(load is None for load in loads):
            return None
        if len({(m, tuple(sorted(o.items())), many) for m, o, many in loads}) != 1:  # type: ignore[misc]
            return None
        model, options, many = loads[0]  # type: ignore[misc]
        return {
            "model": _qualify(model, facts, classes),
            "options": options,
            "many": many,
            "line": returns[0].lineno,
        }

    def may_load(func: ast.AsyncFunctionDef) -> bool:
        """A load is returned, by ``.get(`` or a ``select(`` query, in the function's lines."""
        return lines_hold(facts, b"return", func.lineno, func.end_lineno) and (
            name_lines_hold(facts, b"select", func) or name_lines_hold(facts, b"get", func)
        )

    for name, func in module_functions(tree):
        if (
            isinstance(func, ast.AsyncFunctionDef)
            and may_load(func)
            and (summary := summarize(func)) is not None
        ):
            found[name] = summary
    return found


# -- how the repo uses its relationships --------------------------------------------------------

#: Where the sync ``Session`` class and sessionmakers come from.
_SYNC_SESSION_CLASSES = frozenset(
    {"sqlalchemy.orm.Session", "sqlalchemy.orm.session.Session", "sqlmodel.Session",
     "sqlmodel.orm.session.Session"}
)  # fmt: skip
#: What a node ``relationship_access`` reads is spelled with (``Session`` ends every
#: class of ``_SYNC_SESSION_CLASSES``).
_ACCESS_NAMES = (b"Session", b"sessionmaker", b"scoped_session", b"run_sync", b"lazyload",
                 b"awaitable_attrs", b"AsyncAttrs")  # fmt: skip
#: ``conn.run_sync(Base.metadata.create_all)``: DDL, no ORM object.
_DDL_CALLS = ("create_all", "drop_all", "reflect")


def _session_receiver(func: ast.expr) -> bool:
    """``session.run_sync`` / ``self._session.run_sync``: a session's (the ORM, where lazy
    loads run), not a connection's (``conn.run_sync``: Core) or a thread pool's
    (``anyio.to_thread.run_sync``). Pass 1 has no types here: the receiver's name says it."""
    receiver = _dotted(func.value) if isinstance(func, ast.Attribute) else None
    return receiver is not None and "session" in receiver.rsplit(".", 1)[-1].lower()


@collector(
    "relationship_access",
    triggers=(b"Session(", b"sessionmaker(", b"scoped_session(", b"run_sync(",
              b"awaitable_attrs", b"AsyncAttrs", b"lazyload("),
    empty={},
)  # fmt: skip
def relationship_access(tree: ast.Module, facts: FileFacts) -> dict[str, list[int]]:
    """Lines where the module may read relationships by a lazy load that works: ``"sync"``
    (a sync ``Session(...)``, ``sessionmaker(...)`` without ``class_=AsyncSession``,
    ``scoped_session(...)``, ``run_sync(fn)`` of a function other than DDL: code where
    a lazy load runs) and ``"awaitable"`` (``awaitable_attrs``, ``AsyncAttrs``, a
    ``lazyload`` option: a lazy load in the greenlet, on purpose). AM602 reads them."""
    found: dict[str, list[int]] = {}
    # Every node read is spelled with one of these (a sync Session class, also by the
    # local name it is imported as): statements without any are not walked.
    aliases = (
        local.encode() for local, target in facts.imports.items() if target in _SYNC_SESSION_CLASSES
    )
    names = (*_ACCESS_NAMES, *aliases)
    for node in walk_holding(facts, tree, names):
        kind = None
        if isinstance(node, ast.Call):
            callee = _dotted(node.func) or ""
            head, _, rest = callee.partition(".")
            target = facts.imports.get(head)
            qualified = (f"{target}.{rest}" if rest else target) if target else callee
            leaf = callee.rsplit(".", 1)[-1]
            if qualified in _SYNC_SESSION_CLASSES:
                kind = "sync"
            elif leaf == "sessionmaker" and not any(
                k.arg == "class_" and (_dotted(k.value) or "").endswith("AsyncSession")
                for k in node.keywords
            ):
                kind = "sync"
            elif leaf == "scoped_session":
                kind = "sync"
            elif leaf == "run_sync" and node.args and _session_receiver(node.func):
                fn = _dotted(node.args[0]) or ""
                if not fn.endswith(_DDL_CALLS):
                    kind = "sync"
            elif leaf == "lazyload":
                kind = "awaitable"
        elif isinstance(node, ast.Attribute) and node.attr == "awaitable_attrs":
            kind = "awaitable"
        elif isinstance(node, ast.Name) and node.id == "AsyncAttrs":
            kind = "awaitable"
        if kind is not None:
            found.setdefault(kind, []).append(getattr(node, "lineno", 0))
    return found
