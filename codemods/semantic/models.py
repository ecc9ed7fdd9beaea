"""ORM model questions (AM601): what the repo's mapped classes declare, which objects of a
function were loaded by which statement, and whether ``obj.rel`` there is a relationship
read that emits SQL.

The models come from pass 1 (``facts.models.model_classes``): relationships with their
``lazy=`` strategy and target, inherited through the bases the repo defines, backrefs
put on their target class. An object's provenance comes from the function's data flow
(``semantic.flow``): bound once from an entity query of a session (``session.get(M,
k)``, ``(await s.execute(select(M)...)).scalar_one()``, ``(await s.scalars(...)).all()``
and a loop over it), or from a repository helper whose pass-1 summary
(``facts.models.object_loaders``) says what it loads. Anything else has no known model,
and the rules stay silent about it.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import libcst as cst

from asyncmend.codemods.facts import models as model_facts
from asyncmend.codemods.facts import sessions as session_facts
from asyncmend.codemods.facts import transactions as transaction_facts
from asyncmend.codemods.semantic.flow import (
    ONE_OBJECT,
    Binding,
    Flow,
    SessionCall,
    execute_source,
    first_arg,
    precedes,
    resolve_query,
)
from asyncmend.codemods.semantic.queries import select_of
from asyncmend.codemods.semantic.tree import dotted_name

if TYPE_CHECKING:
    from asyncmend.codemods.base import FileContext

#: Loader strategies that read the attribute with the object: no SQL on access.
EAGER_STRATEGIES = frozenset({"joined", "selectin", "subquery", "immediate"})
#: Strategies whose first access emits SQL (an implicit I/O: ``MissingGreenlet``).
LAZY_STRATEGIES = frozenset({"select"})
#: Strategies whose access raises instead of loading.
RAISE_STRATEGIES = frozenset({"raise", "raise_on_sql"})
#: Session calls after which what the object holds is no longer what the query loaded.
RESETS = frozenset(
    {"commit", "rollback", "expire", "expire_all", "refresh", "close", "expunge",
     "expunge_all", "reset"}
)  # fmt: skip


@dataclass(frozen=True)
class Relationship:
    """One relationship attribute of a mapped class."""

    owner: str  # qualified name of the declaring class
    name: str
    lazy: str  # SQLAlchemy's strategy name, "?" when unknown
    target: str | None  # class name of the related model
    collection: bool | None


@dataclass
class _Class:
    bases: list[str]
    relationships: dict[str, Relationship] = field(default_factory=dict)
    plain: frozenset[str] = frozenset()
    #: Columns the database fills: attribute -> {"insert": bool, "update": bool}.
    generated: dict[str, dict] = field(default_factory=dict)
    #: ``__mapper_args__["eager_defaults"]`` as written (None when not set here).
    eager: object = None


#: Bases that set no ``__mapper_args__`` of their own (SQLAlchemy's and SQLModel's).
_NEUTRAL_BASES = ("sqlalchemy.", "sqlmodel.", "typing.", "builtins.", "abc.", "pydantic.")


class ModelCatalog:
    """The repo's mapped classes, by qualified name (built once per file from the index)."""

    def __init__(self, context: FileContext) -> None:
        self.context = context
        self.classes: dict[str, _Class] = {}
        by_name: dict[str, list[str]] = {}
        backrefs: list[tuple[str, dict]] = []
        for facts in context.index.by_path.values():
            module = facts.module or ""
            for name, data in model_facts.model_classes.of(facts).items():
                qualified = f"{module}.{name}" if module else name
                cls = _Class(
                    bases=list(data["bases"]),
                    plain=frozenset(data["plain"]),
                    generated=dict(data.get("generated", {})),
                    eager=data.get("eager"),
                )
                for attr, rel in data["relationships"].items():
                    cls.relationships[attr] = Relationship(
                        qualified, attr, rel["lazy"], rel["target"], rel["collection"]
                    )
                self.classes[qualified] = cls
                by_name.setdefault(name, []).append(qualified)
                backrefs.extend((qualified, b) for b in data["backrefs"])
        self.by_name = by_name
        for owner, backref in backrefs:
            target = self.class_named(backref["on"])
            if target is not None and backref["name"] not in self.classes[target].relationships:
                self.classes[target].relationships[backref["name"]] = Relationship(
                    target, backref["name"], backref["lazy"], owner.rsplit(".", 1)[-1], None
                )

    def class_named(self, name: str | None) -> str | None:
        """The one class of the repo called ``name`` (SQLAlchemy's registry resolves
        ``relationship("Post")`` by class name); None when absent or ambiguous."""
        found = self.by_name.get(name or "", [])
        return found[0] if len(found) == 1 else None

    def _lookup(self, qualified: str) -> _Class | None:
        found = self.classes.get(qualified)
        if found is None:
            found = self.classes.get(self.context.index.resolve(qualified))
        return found

    def relationship(self, model: str, attr: str, _depth: int = 0) -> Relationship | None:
        """The relationship ``attr`` of ``model`` (declared on it or inherited from a base
        the repo defines); None when ``attr`` is something else or unknown."""
        cls = self._lookup(model)
        if cls is None or _depth > 10:
            return None
        if attr in cls.relationships:
            return cls.relationships[attr]
        if attr in cls.plain:
            return None
        for base in cls.bases:
            found = self.relationship(base, attr, _depth + 1)
            if found is not None:
                return found
        return None

    def is_model(self, qualified: str) -> bool:
        return self._lookup(qualified) is not None

    def generated_column(self, model: str, attr: str, _depth: int = 0) -> dict | None:
        """``{"insert": bool, "update": bool}`` when ``attr`` of ``model`` (declared on it or
        on a base the repo defines) is a column the database fills; None otherwise."""
        cls = self._lookup(model)
        if cls is None or _depth > 10:
            return None
        if attr in cls.generated:
            return cls.generated[attr]
        if attr in cls.plain or attr in cls.relationships:
            return None
        for base in cls.bases:
            found = self.generated_column(base, attr, _depth + 1)
            if found is not None:
                return found
        return None

    def declares_column(self, model: str, attr: str, _depth: int = 0) -> bool:
        """``attr`` is an attribute other than a relationship that ``model`` or a base the
        repo defines assigns in its body (a column: assigning it makes the row an UPDATE)."""
        cls = self._lookup(model)
        if cls is None or _depth > 10 or attr in cls.relationships:
            return False
        if attr in cls.plain or attr in cls.generated:
            return True
        return any(self.declares_column(base, attr, _depth + 1) for base in cls.bases)

    def eager_defaults(self, model: str, _depth: int = 0) -> object:
        """The ``eager_defaults`` the mapper of ``model`` runs with, as written on it or
        inherited (True, False, "auto"); None when no class of its chain sets it (the
        default, "auto"); ``"?"`` when it cannot be known: a value that cannot be read,
        or a base from outside the repo and SQLAlchemy (a library's base may set it)."""
        cls = self._lookup(model)
        if cls is None or _depth > 10:
            return "?"
        if cls.eager is not None:
            return cls.eager
        for base in cls.bases:
            if self._lookup(base) is not None:
                found = self.eager_defaults(base, _depth + 1)
            elif "." not in base or base.startswith(_NEUTRAL_BASES) or self._repo_name(base):
                continue  # SQLAlchemy's bases; `Base = declarative_base()` of the repo
            else:
                found = "?"
            if found is not None:
                return found
        return None

    def _repo_name(self, qualified: str) -> bool:
        """``qualified`` names something of a repo module that is not a class there (the
        ``Base = declarative_base()`` / ``registry.generate_base()`` of the app)."""
        module, _, _ = self.context.index.resolve(qualified).rpartition(".")
        return bool(module) and module in self.context.index.by_module


def catalog(context: FileContext) -> ModelCatalog:
    found = context.semantic.memo.get("model_catalog")
    if found is None:
        found = context.semantic.memo["model_catalog"] = ModelCatalog(context)
    return found


def model_name(expr: cst.BaseExpression | None, context: FileContext) -> str | None:
    """The qualified name of the repo's mapped class ``expr`` names (``User``,
    ``models.User``), else None."""
    name = dotted_name(expr)
    if name is None:
        return None
    head = name.split(".")[0]
    if head in context.semantic.imports:
        qualified = context.semantic.resolve(expr) or name
    elif "." not in name and context.module_name:
        qualified = f"{context.module_name}.{name}"
    else:
        return None
    models = catalog(context)
    if models.is_model(qualified):
        return qualified
    resolved = context.index.resolve(qualified)
    return resolved if models.is_model(resolved) else None


def option_effects(options: list[cst.Arg], context: FileContext) -> dict[str, str] | None:
    """What loader options do to each first attribute of their path (``"load"``,
    ``"raise"``, ``"noload"``, ``"lazy"``; key ``"*"`` for a wildcard); None when an
    option cannot be read. Read by pass 1's reader, so both passes agree."""
    if any(arg.star or arg.keyword is not None for arg in options):
        return None
    exprs: list[ast.expr] = []
    for arg in options:
        code = context.module.code_for_node(arg.value)
        try:
            exprs.append(ast.parse(f"({code})", mode="eval").body)
        except SyntaxError:
            return None
    return model_facts.option_effects(exprs)


# -- where objects come from --------------------------------------------------------------


@dataclass
class Load:
    """The statement that loaded one or more objects.

    ``target`` is the node a fix rewrites: the query expression (``select(M)...``, inline
    or the value of its one assignment) or the ``session.get(...)`` call; None for a
    helper of another function (``where`` names it then)."""

    model: str
    model_expr: cst.BaseExpression | None
    options: dict[str, str]
    site: object  # flow.Site of the loading statement
    session: str | None
    target: cst.BaseExpression | None
    kind: str  # "query", "get" or "helper"
    where: str


@dataclass
class Instance:
    """A name bound to an object of ``load`` (a loop variable over a loaded list too)."""

    name: str
    binding: Binding
    load: Load
    #: For a comprehension variable: the comprehension (its uses are the ones inside).
    within: cst.CSTNode | None = None


def _strip(expr: cst.BaseExpression) -> tuple[cst.BaseExpression, bool]:
    """``list(x)`` / ``x.all()`` / ``x.unique()`` -> x (and whether a list was made)."""
    many = False
    while True:
        if (
            isinstance(expr, cst.Call)
            and isinstance(expr.func, cst.Name)
            and expr.func.value == "list"
            and len(expr.args) == 1
        ):
            expr, many = expr.args[0].value, True
        elif (
            isinstance(expr, cst.Call)
            and isinstance(expr.func, cst.Attribute)
            and expr.func.attr.value in ("all", "unique")
            and not expr.args
        ):
            many = many or expr.func.attr.value == "all"
            expr = expr.func.value
        else:
            return expr, many


def _awaited_call(flow: Flow, expr: cst.BaseExpression) -> SessionCall | None:
    if isinstance(expr, cst.Await) and isinstance(expr.expression, cst.Call):
        return flow.session_call(expr.expression)
    return None


def _query_load(flow: Flow, call: SessionCall, context: FileContext) -> Load | None:
    written = first_arg(call.call)
    query = resolve_query(flow, written, call.site)
    select = select_of(query)
    if query is None or select is None or len(select.args) != 1 or select.args[0].keyword:
        return None
    model_expr = select.args[0].value
    model = model_name(model_expr, context)
    if model is None:
        return None
    options: list[cst.Arg] = []
    current = query
    while isinstance(current, cst.Call) and isinstance(current.func, cst.Attribute):
        if current.func.attr.value == "options":
            options.extend(current.args)
        current = current.func.value
    effects = option_effects(options, context)
    if effects is None:
        return None
    return Load(
        model, model_expr, effects, call.site, call.session, query, "query",
        f"`{context.module.code_for_node(select)}`",
    )  # fmt: skip


def _get_load(flow: Flow, call: SessionCall, context: FileContext) -> Load | None:
    if not call.call.args or call.call.args[0].keyword is not None:
        return None
    model_expr = call.call.args[0].value
    model = model_name(model_expr, context)
    if model is None:
        return None
    options = next(
        (a.value for a in call.call.args if a.keyword is not None and a.keyword.value == "options"),
        None,
    )
    if options is not None and not isinstance(options, (cst.List, cst.Tuple)):
        return None
    items = [cst.Arg(e.value) for e in options.elements] if options is not None else []
    if any(isinstance(e, cst.StarredElement) for e in getattr(options, "elements", ())):
        return None
    effects = option_effects(items, context)
    if effects is None:
        return None
    where = f"`{call.session}.{call.method}({context.module.code_for_node(model_expr)}, ...)`"
    return Load(model, model_expr, effects, call.site, call.session, call.call, "get", where)


def _session_load(
    flow: Flow, value: cst.BaseExpression, at: object, context: FileContext
) -> tuple[Load, bool] | None:
    """(the load, whether the value is a list of objects) of a value bound in ``flow``."""
    direct = _awaited_call(flow, value)
    if direct is not None:
        if direct.method in ("get", "get_one"):
            load = _get_load(flow, direct, context)
            return (load, False) if load else None
        if direct.method == "scalar":
            load = _query_load(flow, direct, context)
            return (load, False) if load else None
        if direct.method == "scalars":
            load = _query_load(flow, direct, context)
            return (load, True) if load else None
        return None
    stripped, many = _strip(value)
    if not many and isinstance(stripped, cst.Call) and isinstance(stripped.func, cst.Attribute):
        method = stripped.func.attr.value
        if method not in ONE_OBJECT or stripped.args:
            return None
        source = execute_source(flow, stripped.func.value, at)  # type: ignore[arg-type]
        if source is None:
            return None
        call, scalars = source
        if not scalars and method not in ("scalar_one", "scalar_one_or_none", "scalar"):
            return None  # a Row
        load = _query_load(flow, call, context)
        return (load, False) if load else None
    source = execute_source(flow, stripped, at)  # type: ignore[arg-type]
    if source is None or not source[1]:
        return None
    load = _query_load(flow, source[0], context)
    return (load, True) if load else None


def _helper_load(value: cst.BaseExpression, context: FileContext) -> tuple[Load, bool] | None:
    """``await helper(...)`` whose pass-1 summary says it returns objects of a query."""
    if not (isinstance(value, cst.Await) and isinstance(value.expression, cst.Call)):
        return None
    call = value.expression
    name = dotted_name(call.func)
    if name is None:
        return None
    head = name.split(".")[0]
    semantic = context.semantic
    if head in semantic.imports:
        qualified = context.index.resolve(semantic.resolve(call.func) or name)
    elif "." not in name and context.module_name:
        qualified = f"{context.module_name}.{name}"
    else:
        return None
    parts = qualified.split(".")
    for split in range(len(parts) - 1, 0, -1):
        facts = context.index.by_module.get(".".join(parts[:split]))
        if facts is None:
            continue
        summary = model_facts.object_loaders.of(facts).get(".".join(parts[split:]))
        if summary is None or summary["model"] is None:
            return None
        models = catalog(context)
        model = summary["model"]
        if not models.is_model(model):
            model = context.index.resolve(model)
            if not models.is_model(model):
                return None
        where = f"`{name}()` ({facts.path}:{summary['line']})"
        return Load(model, None, dict(summary["options"]), None, None, None, "helper", where), bool(
            summary["many"]
        )
    return None


def loaded_instances(flow: Flow, context: FileContext) -> list[Instance]:
    """Names of ``flow``'s function bound once to an object of a known load: the value of
    an entity query or ``get``, an element of a loaded list (``for x in xs``), or what a
    repository helper returns."""
    key = ("loaded_instances", id(flow.func))
    cached = context.semantic.memo.get(key)
    if cached is None or cached[0] is not flow.func:
        cached = context.semantic.memo[key] = (flow.func, _loaded_instances(flow, context))
    return cached[1]


def _loaded_instances(flow: Flow, context: FileContext) -> list[Instance]:
    found: list[Instance] = []
    lists: dict[str, Load] = {}
    counts: dict[str, int] = {}
    for binding in flow.bindings:
        counts[binding.name] = counts.get(binding.name, 0) + 1
    for binding in flow.bindings:
        if counts[binding.name] != 1:
            continue
        if binding.value is not None:
            loaded = _session_load(flow, binding.value, binding.site, context) or _helper_load(
                binding.value, context
            )
            if loaded is None:
                continue
            load, many = loaded
            if many:
                lists[binding.name] = load
            else:
                found.append(Instance(binding.name, binding, load))
    for binding in flow.bindings:
        stmt = binding.site.statement
        if counts[binding.name] != 1 or not isinstance(stmt, cst.For):
            continue
        if not (isinstance(stmt.target, cst.Name) and stmt.target.value == binding.name):
            continue
        load = None
        if isinstance(stmt.iter, cst.Name) and stmt.iter.value in lists:
            load = lists[stmt.iter.value]
        else:
            loaded = _session_load(flow, stmt.iter, binding.site, context) or _helper_load(
                stmt.iter, context
            )
            if loaded is not None and loaded[1]:
                load = loaded[0]
        if load is not None:
            found.append(Instance(binding.name, binding, load))
    found.extend(_comprehension_instances(flow, lists, context))
    return found


_COMPREHENSIONS = (cst.ListComp, cst.SetComp, cst.DictComp, cst.GeneratorExp)


def _comprehension_instances(
    flow: Flow, lists: dict[str, Load], context: FileContext
) -> list[Instance]:
    """``[u.posts for u in users]`` (``users`` a loaded list) and ``[... for u in (await
    s.scalars(q)).all()]``: the variable is an object of that load inside the
    comprehension."""
    found: list[Instance] = []
    list_bindings = {b.name: b for b in flow.bindings if b.name in lists}
    for node in context.semantic.own_scope(flow.func.body):
        if not isinstance(node, _COMPREHENSIONS):
            continue
        comp_for: cst.CompFor | None = node.for_in
        while comp_for is not None:
            target, source = comp_for.target, comp_for.iter
            comp_for = comp_for.inner_for_in
            if not isinstance(target, cst.Name):
                continue
            if isinstance(source, cst.Name) and source.value in lists:
                binding = list_bindings[source.value]
                load = lists[source.value]
            else:
                call = _awaited_call(flow, _strip(source)[0]) or _awaited_call(
                    flow, _strip(_strip(source)[0])[0]
                )
                loaded = _session_load(flow, source, call.site, context) if call else None
                if loaded is None or not loaded[1] or call is None:
                    continue
                load, binding = loaded[0], Binding(call.site, target.value, None)
            found.append(Instance(target.value, binding, load, within=node))
    return found


# -- the question -------------------------------------------------------------------------


@dataclass(frozen=True)
class RelationshipRead:
    """What reading ``obj.rel`` does: ``"load"`` (emits SQL) or ``"raise"``; ``option``
    is True when a ``raiseload`` option (not the mapping) makes it raise."""

    relationship: Relationship
    effect: str
    by_option: bool = False


def relationship_read(
    instance: Instance, attr: str, context: FileContext
) -> RelationshipRead | None:
    """Whether reading ``attr`` of ``instance`` emits SQL (or raises) given its model's
    mapping and the loader options of the statement that loaded it; None when it is no
    relationship, is loaded already, or cannot be known."""
    rel = catalog(context).relationship(instance.load.model, attr)
    if rel is None:
        return None
    options = instance.load.options
    effect = options.get(attr) or options.get("*")
    if effect == "load" or effect == "noload":
        return None
    if effect == "raise":
        return RelationshipRead(rel, "raise", by_option=True)
    if effect == "lazy" or rel.lazy in LAZY_STRATEGIES:
        return RelationshipRead(rel, "load")
    if rel.lazy in RAISE_STRATEGIES:
        return RelationshipRead(rel, "raise")
    return None  # eager in the mapping, noload, dynamic, write_only, unknown


def related_model_loaded(
    flow: Flow, instance: Instance, rel: Relationship, before: object, context: FileContext
) -> bool:
    """A many-to-one target may come from the identity map without SQL: whether the
    function loaded an object of the related model before ``before``."""
    if rel.collection is True:
        return False
    target = rel.target
    for other in loaded_instances(flow, context):
        if other.load.model.rsplit(".", 1)[-1] == target and precedes(other.binding.site, before):  # type: ignore[arg-type]
            return True
    return False


# -- may a relationship of this repo be lazy-loaded on purpose? ----------------------------------


def working_lazy_load(context: FileContext) -> str | None:
    """Why a relationship of this repo may be read by a lazy load that works (so that
    ``lazy="raise"`` would break code), as ``path:line``; None when the repo makes only
    ``AsyncSession``s (its sessionmakers, session factories and dependencies, pass 1)
    and reads no relationship through ``awaitable_attrs``/``lazyload``/a sync session.
    Also not None (``"no session"``) when the repo makes no session at all (a library:
    its users' sessions decide)."""
    cached = context.semantic.memo.get("working_lazy_load", False)
    if cached is not False:
        return cached  # type: ignore[no-any-return]
    reason: str | None = None
    makes_async = False
    for facts in context.index.by_path.values():
        for name, info in facts.sessionmakers.items():
            if info.get("async"):
                makes_async = True
            elif reason is None:
                reason = f"{facts.path} (sync sessionmaker `{name}`)"
        if transaction_facts.sessionmaker_calls.of(facts):
            makes_async = True
        for name, kind in session_facts.session_returners.of(facts).items():
            if kind == "sync" and reason is None:
                reason = f"{facts.path} (`{name}` gives a sync Session)"
            elif kind in ("session", "maker"):
                makes_async = True
        if session_facts.sync_session_aliases.of(facts) and reason is None:
            reason = f"{facts.path} (a sync Session alias)"
        for kind, lines in model_facts.relationship_access.of(facts).items():
            if reason is None and lines:
                what = "a sync session" if kind == "sync" else "an awaited lazy load"
                reason = f"{facts.path}:{lines[0]} ({what})"
    if reason is None and not makes_async:
        reason = "no session"
    context.semantic.memo["working_lazy_load"] = reason
    return reason
