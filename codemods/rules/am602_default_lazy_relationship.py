"""AM602 default-lazy-relationship: a relationship left at the default lazy loader in a
repo whose sessions are all ``AsyncSession``s."""

from __future__ import annotations

from typing import Any, ClassVar

import libcst as cst

from asyncmend.codemods.base import Applicability, Fix, Rule
from asyncmend.codemods.edits.arguments import keyword, with_argument, with_element
from asyncmend.codemods.semantic.models import working_lazy_load
from asyncmend.codemods.semantic.tree import dotted_name

RELATIONSHIP_FUNCTIONS = frozenset(
    {"sqlalchemy.orm.relationship", "sqlalchemy.orm.relation",
     "sqlalchemy.orm.relationships.relationship", "sqlalchemy.orm._orm_constructors.relationship"}
)  # fmt: skip
SQLMODEL_RELATIONSHIP = frozenset({"sqlmodel.Relationship", "sqlmodel.main.Relationship"})


class DefaultLazyRelationship(Rule):
    """
    ## What it does
    Finds `relationship()` (and SQLModel's `Relationship()`) left at the default lazy
    loader in a repo whose sessions are all `AsyncSession`s.

    A relationship is at the default when neither it nor its SQLModel
    `sa_relationship_kwargs` sets `lazy=` (a `backref="name"` too). Sessions are all
    async when every sessionmaker and session factory of the repo makes async sessions
    and nothing reads a relationship by a lazy load that works (a sync `Session`,
    `run_sync`, `awaitable_attrs`, a `lazyload` option). A repo that makes no session at
    all (a library) is left alone.

    Status: preview. It is a policy teams opt into, and its evidence is one package: on
    the ecosystem corpus its 35 findings (langflow-base) are all true, with right fixes;
    phoenix (it reads objects in `session.run_sync`) and prefect (every relationship sets
    `lazy=`) are rightly silent.

    ## Why is this bad?
    The default `lazy="select"` loads the relationship on first access. Under asyncio
    that implicit query cannot run: the read fails with `MissingGreenlet`, far from the
    query that should have loaded it, and only when the object did not happen to have it
    loaded already (the identity map, an earlier eager load), so tests often miss it.
    `lazy="raise_on_sql"` makes every such read fail the same way, at once, with an error
    that names the attribute, which is what mature async services set by hand;
    `implicit-lazy-load` (AM601) then shows where a loader option is missing.

    The fix adds `lazy="raise_on_sql"` (or `lazy="raise"`, which also refuses reads the
    identity map could answer: setting `lazy` of `[tool.asyncmend.AM602]`). It is unsafe:
    code that relied on a lazy load that happened to work (an object already in the
    session) now raises until its query names the relationship.

    ## Example
    ```python
    class User(Base):
        __tablename__ = "users"
        id: Mapped[int] = mapped_column(primary_key=True)
        posts: Mapped[list["Post"]] = relationship(back_populates="author")
    ```

    ## Use instead
    ```python
    class User(Base):
        __tablename__ = "users"
        id: Mapped[int] = mapped_column(primary_key=True)
        posts: Mapped[list["Post"]] = relationship(back_populates="author", lazy="raise_on_sql")
    ```
    """

    code = "AM602"
    name = "default-lazy-relationship"
    fix_applicability = Applicability.UNSAFE
    triggers = (b"elationship(",)
    uses_index = True
    preview: ClassVar[bool] = True
    settings_defaults: ClassVar[dict[str, Any]] = {"lazy": "raise_on_sql"}
    settings_choices: ClassVar[dict[str, tuple[Any, ...]]] = {"lazy": ("raise", "raise_on_sql")}

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        if not isinstance(node.body, cst.IndentedBlock):
            return
        candidates = [
            (small, value)
            for stmt in node.body.body
            if isinstance(stmt, cst.SimpleStatementLine)
            for small in stmt.body
            if isinstance(small, (cst.Assign, cst.AnnAssign))
            and isinstance(value := small.value, cst.Call)
        ]
        if not candidates:
            return
        ancestors = [*self.ancestors, node, node.body]
        for small, call in candidates:
            if self.semantic.resolves_to(call.func, SQLMODEL_RELATIONSHIP, ancestors):
                inner = _keyword(call, "sa_relationship")
                if inner is not None:
                    if isinstance(inner, cst.Call):
                        self._check(node, small, inner, ancestors, sqlmodel=False)
                    continue
                self._check(node, small, call, ancestors, sqlmodel=True)
            elif self.semantic.resolves_to(call.func, RELATIONSHIP_FUNCTIONS, ancestors):
                self._check(node, small, call, ancestors, sqlmodel=False)

    def _check(
        self,
        cls: cst.ClassDef,
        stmt: cst.Assign | cst.AnnAssign,
        call: cst.Call,
        ancestors: list[cst.CSTNode],
        *,
        sqlmodel: bool,
    ) -> None:
        if any(arg.star for arg in call.args):
            return
        annotation = stmt.annotation.annotation if isinstance(stmt, cst.AnnAssign) else None
        head = annotation.value if isinstance(annotation, cst.Subscript) else None
        if (dotted_name(head) or "").rsplit(".", 1)[-1] in ("WriteOnlyMapped", "DynamicMapped"):
            return  # the annotation chooses a loader that never loads on access
        fixed: cst.Call | None
        if sqlmodel:
            kwargs = _keyword(call, "sa_relationship_kwargs")
            if kwargs is not None and not isinstance(kwargs, cst.Dict):
                return
            if kwargs is not None and any(
                isinstance(e, cst.StarredDictElement)
                or not isinstance(e.key, cst.SimpleString)
                or e.key.evaluated_value == "lazy"
                for e in kwargs.elements
            ):
                return
        reason = working_lazy_load(self.context)
        if reason is not None:
            return
        lazy = self.settings.get("lazy", "raise_on_sql")
        if not sqlmodel:
            self._check_backref(cls, call, lazy)
            if _keyword(call, "lazy") is not None:
                return
        fixed = _with_sqlmodel_lazy(call, lazy) if sqlmodel else _with_lazy(call, lazy)
        target = stmt.targets[0].target if isinstance(stmt, cst.Assign) else stmt.target
        attr = f"{cls.name.value}.{dotted_name(target) or '?'}"
        message = (
            f'relationship `{attr}` keeps the default `lazy="select"` in a repo whose '
            f"sessions are all AsyncSessions: a read it has not loaded fails with "
            f'`MissingGreenlet` where it happens; set `lazy="{lazy}"` so it fails at once '
            f"with an error naming it, and load it with a loader option where it is read"
        )
        fix = Fix(f'Set `lazy="{lazy}"`', Applicability.UNSAFE, replacements=[(call, fixed)])
        self.report(call, message, fix=fix)

    def _check_backref(self, cls: cst.ClassDef, call: cst.Call, lazy: str) -> None:
        """``backref="name"`` (no fix: the string becomes a ``backref(...)`` call) or
        ``backref=backref("name", ...)`` without ``lazy=`` (fix: add it)."""
        value = _keyword(call, "backref")
        if isinstance(value, cst.SimpleString):
            name = value.evaluated_value
            self.report(
                value,
                f"the backref `{name}` that `{cls.name.value}` declares keeps the default "
                f'`lazy="select"` in a repo whose sessions are all AsyncSessions; declare '
                f'it as `backref("{name}", lazy="{lazy}")` (no automatic fix)',
            )
        elif (
            isinstance(value, cst.Call)
            and (dotted_name(value.func) or "").rsplit(".", 1)[-1] == "backref"
            and _keyword(value, "lazy") is None
            and not any(arg.star for arg in value.args)
        ):
            message = (
                f"a backref that `{cls.name.value}` declares keeps the default "
                f'`lazy="select"` in a repo whose sessions are all AsyncSessions; set '
                f'`lazy="{lazy}"`'
            )
            fixed = _with_lazy(value, lazy)
            self.report(value, message, fix=Fix(
                f'Set `lazy="{lazy}"`', Applicability.UNSAFE, replacements=[(value, fixed)]
            ))  # fmt: skip


def _keyword(call: cst.Call, name: str) -> cst.BaseExpression | None:
    return next(
        (a.value for a in call.args if a.keyword is not None and a.keyword.value == name), None
    )


def _with_lazy(call: cst.Call, lazy: str) -> cst.Call:
    return with_argument(call, keyword("lazy", cst.SimpleString(f'"{lazy}"')))


def _with_sqlmodel_lazy(call: cst.Call, lazy: str) -> cst.Call:
    entry = cst.DictElement(cst.SimpleString('"lazy"'), cst.SimpleString(f'"{lazy}"'))
    kwargs = _keyword(call, "sa_relationship_kwargs")
    if isinstance(kwargs, cst.Dict):
        return call.deep_replace(kwargs, with_element(kwargs, entry))  # type: ignore[return-value]
    return with_argument(call, keyword("sa_relationship_kwargs", cst.Dict([entry])))
