"""AM601 implicit-lazy-load: a relationship read in async code that emits SQL on access."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import libcst as cst

from asyncmend.codemods.base import Applicability, Fix, ImportSpec, Rule
from asyncmend.codemods.edits.arguments import keyword, with_argument, with_element
from asyncmend.codemods.semantic.flow import AttributeUse, Flow, flow_of, precedes
from asyncmend.codemods.semantic.model import SemanticModel
from asyncmend.codemods.semantic.models import (
    RESETS,
    Instance,
    Load,
    RelationshipRead,
    loaded_instances,
    related_model_loaded,
    relationship_read,
)
from asyncmend.codemods.semantic.tree import assigned_names

#: Where ``selectinload`` may already be imported from.
SELECTINLOAD = frozenset(
    {"sqlalchemy.orm.selectinload", "sqlalchemy.orm.strategy_options.selectinload"}
)


@dataclass
class _Read:
    instance: Instance
    use: AttributeUse
    read: RelationshipRead


class ImplicitLazyLoad(Rule):
    """
    ## What it does
    Finds `obj.rel` in an `async def` where `rel` is a relationship that emits SQL on
    first access and the statement that loaded `obj` has no loader option for it.

    A relationship emits SQL on access at the default `lazy="select"`. `obj` is known when
    the function loaded it (`session.get(M, ...)`, `select(M)` through `execute`,
    `scalars` or `scalar`, a loop or comprehension over such a result, or a repository
    helper that returns one); the loader options that cover `rel` are `selectinload`,
    `joinedload`, `subqueryload`, `immediateload` and `contains_eager`, chained or not.

    The model comes from the repo's own model definitions (`relationship()`,
    `Mapped[...]`, SQLModel's `Relationship()`, inherited mappings, backrefs) and
    the object's type from data flow: when either is not known, the rule is silent. A
    relationship mapped `lazy="raise"` / `"raise_on_sql"` or named by a `raiseload`
    option is reported as a read that raises. `await obj.awaitable_attrs.rel` and
    `await session.refresh(obj, ["rel"])` load it correctly and are not reported.

    Status: preview: it has no finding on the ecosystem corpus (the packages with
    relationships load what they read, or set `lazy=` on the mapping), so its precision
    on real code is not shown yet.

    ## Why is this bad?
    A lazy load is implicit I/O. In asyncio, SQLAlchemy can only run it inside its
    greenlet; a plain attribute read in a coroutine is not, so it fails with
    `MissingGreenlet: greenlet_spawn has not been called; can't call await_only() here`,
    often only in production, where the route's response serializes a relationship
    that tests never read. The most reported async SQLAlchemy error.

    The fix adds `.options(selectinload(M.rel))` to the statement that loaded the object
    (extending an existing `.options(...)`, or `options=[...]` of `session.get`), with
    the import. It is unsafe: the query now loads the related rows up front, one more
    `SELECT ... IN` per statement. When the statement is in another function (a
    repository helper), the finding names it and there is no fix.

    ## Example
    ```python
    @router.get("/users/{user_id}/posts")
    async def user_posts(user_id: int, session: SessionDep) -> list[str]:
        user = (await session.execute(select(User).where(User.id == user_id))).scalar_one()
        return [post.title for post in user.posts]
    ```

    ## Use instead
    ```python
    @router.get("/users/{user_id}/posts")
    async def user_posts(user_id: int, session: SessionDep) -> list[str]:
        user = (
            await session.execute(
                select(User).where(User.id == user_id).options(selectinload(User.posts))
            )
        ).scalar_one()
        return [post.title for post in user.posts]
    ```
    """

    code = "AM601"
    name = "implicit-lazy-load"
    fix_applicability = Applicability.UNSAFE
    triggers = (b"await",)
    uses_index = True
    preview: ClassVar[bool] = True

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        if node.asynchronous is None or not isinstance(node.body, cst.IndentedBlock):
            return
        flow = flow_of(node, self.context, self.ancestors)
        if not flow.attributes:
            return
        instances = loaded_instances(flow, self.context)
        if not instances:
            return
        by_load: dict[int, list[_Read]] = {}
        for instance in instances:
            seen: set[str] = set()
            inside = _attribute_ids(instance.within) if instance.within is not None else None
            rebound = _comprehension_rebinds(flow.func, instance.name, self.semantic)
            for use in flow.attributes:
                attr = use.node.attr.value
                if use.name != instance.name or use.store or attr in seen:
                    continue
                if inside is not None:
                    if id(use.node) not in inside:
                        continue
                elif id(use.node) in rebound or not precedes(instance.binding.site, use.site):
                    continue
                read = relationship_read(instance, attr, self.context)
                if read is None or not self._unloaded_at(flow, instance, use):
                    continue
                if read.effect == "load" and related_model_loaded(
                    flow, instance, read.relationship, use.site, self.context
                ):
                    continue
                seen.add(attr)
                by_load.setdefault(id(instance.load), []).append(_Read(instance, use, read))
        for reads in by_load.values():
            self._report(reads)

    def _unloaded_at(self, flow: Flow, instance: Instance, use: AttributeUse) -> bool:
        """Nothing between the load and ``use`` loaded ``attr``, or changed what the
        object holds (a commit, refresh or expire: AM303's case, not this rule's)."""
        name, attr = instance.name, use.node.attr.value
        start = instance.binding.site
        for call in flow.calls:
            if call.method not in RESETS:
                continue
            if not (precedes(start, call.site) and precedes(call.site, use.site)):
                continue
            return False
        for other in flow.attributes:
            if (
                other.name == name
                and other.node.attr.value == "awaitable_attrs"
                and precedes(other.site, use.site)
                and _reads_awaitable(other, attr)
            ):
                return False
        return True

    def _report(self, reads: list[_Read]) -> None:
        load = reads[0].instance.load
        fixable = [
            r for r in reads if not (r.read.by_option and load.options.get(r.use.node.attr.value))
        ]
        fix = self._fix(load, fixable) if load.target is not None else None
        for item in reads:
            message = _message(item, load)
            if fix is not None and item in fixable:
                self.report(item.use.node, message, fix=fix)
            elif load.target is None:
                self.report(
                    item.use.node, f"{message} (no automatic fix: it is loaded by another function)"
                )
            else:
                self.report(item.use.node, message)

    def _fix(self, load: Load, reads: list[_Read]) -> Fix | None:
        if not reads or load.model_expr is None or load.target is None:
            return None
        imports = self._selectinload_import()
        if imports is None:
            return None
        model = self.context.module.code_for_node(load.model_expr)
        attrs = list(dict.fromkeys(r.use.node.attr.value for r in reads))
        options = [cst.Arg(cst.parse_expression(f"selectinload({model}.{attr})")) for attr in attrs]
        replacement = (
            _with_get_options(load.target, options)
            if load.kind == "get"
            else _with_query_options(load.target, options)
        )
        if replacement is None:
            return None
        described = ", ".join(f"`selectinload({model}.{attr})`" for attr in attrs)
        return Fix(
            f"Load {described} with the statement",
            Applicability.UNSAFE,
            replacements=[(load.target, replacement)],
            imports=imports,
        )

    def _selectinload_import(self) -> list[ImportSpec] | None:
        """The import ``selectinload`` needs ([] when it is imported), None when the name
        means something else here."""
        semantic = self.semantic
        target = semantic.imports.get("selectinload")
        if target in SELECTINLOAD and semantic.means_import("selectinload", self.ancestors):
            return []
        if target is not None or semantic.is_shadowed("selectinload", self.ancestors):
            return None
        return [ImportSpec("sqlalchemy.orm", "selectinload")]


def _comprehension_rebinds(func: cst.FunctionDef, name: str, semantic: SemanticModel) -> set[int]:
    """Attributes read inside comprehensions whose own ``for`` binds ``name``: there it
    is another object."""
    found: set[int] = set()
    for node in semantic.own_scope(func.body):
        if isinstance(node, (cst.ListComp, cst.SetComp, cst.DictComp, cst.GeneratorExp)):
            comp_for: cst.CompFor | None = node.for_in
            while comp_for is not None:
                if name in assigned_names(comp_for.target):
                    found |= _attribute_ids(node)
                    break
                comp_for = comp_for.inner_for_in
    return found


def _attribute_ids(node: cst.CSTNode) -> set[int]:
    stack, found = [node], set()
    while stack:
        current = stack.pop()
        if isinstance(current, cst.Attribute):
            found.add(id(current))
        stack.extend(current.children)
    return found


def _reads_awaitable(use: AttributeUse, attr: str) -> bool:
    """``use`` (``obj.awaitable_attrs``) is read as ``obj.awaitable_attrs.<attr>``."""
    stack: list[cst.CSTNode] = [use.site.statement]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Attribute) and node.value is use.node:
            return node.attr.value == attr
        stack.extend(node.children)
    return False


def _message(item: _Read, load: Load) -> str:
    obj, attr = item.instance.name, item.use.node.attr.value
    rel = item.read.relationship
    owner = rel.owner.rsplit(".", 1)[-1]
    if item.read.by_option:
        return (
            f"`{obj}.{attr}` reads `{owner}.{attr}`, which {load.where} marks `raiseload`: "
            f"the read raises `InvalidRequestError`; load it with `selectinload` there"
        )
    if item.read.effect == "raise":
        return (
            f'`{obj}.{attr}` reads `{owner}.{attr}` (lazy="{rel.lazy}"), which {load.where} '
            f"did not load: the read raises `InvalidRequestError`; add "
            f"`selectinload({owner}.{attr})` to its options"
        )
    return (
        f"`{obj}.{attr}` lazy-loads the relationship `{owner}.{attr}`, which {load.where} "
        f"did not load: in async code that implicit query fails with `MissingGreenlet`; "
        f"add `selectinload({owner}.{attr})` to its options, or read it with "
        f"`await {obj}.awaitable_attrs.{attr}`"
    )


def _with_query_options(query: cst.BaseExpression, options: list[cst.Arg]) -> cst.BaseExpression:
    """``query`` with ``options`` added to its ``.options(...)`` call, or a new one."""
    current = query
    while isinstance(current, cst.Call) and isinstance(current.func, cst.Attribute):
        if current.func.attr.value == "options":
            extended = current
            for option in options:
                extended = with_argument(extended, option)
            return query.deep_replace(current, extended)  # type: ignore[return-value]
        current = current.func.value
    return cst.Call(func=cst.Attribute(value=query, attr=cst.Name("options")), args=options)


def _with_get_options(
    call: cst.BaseExpression, options: list[cst.Arg]
) -> cst.BaseExpression | None:
    """``session.get(M, k)`` with ``options=[...]`` added or extended."""
    assert isinstance(call, cst.Call)
    existing = next(
        (a.value for a in call.args if a.keyword is not None and a.keyword.value == "options"), None
    )
    if existing is None:
        return with_argument(
            call, keyword("options", cst.List([cst.Element(o.value) for o in options]))
        )
    if not isinstance(existing, (cst.List, cst.Tuple)):
        return None
    extended: cst.List | cst.Tuple = existing
    for option in options:
        extended = with_element(extended, cst.Element(option.value))  # type: ignore[assignment]
    return call.deep_replace(existing, extended)  # type: ignore[return-value]
