"""AM305 server-generated-read: a column the database fills, read after the flush that
expired it, without a refresh."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import libcst as cst

from asyncmend.codemods.base import Applicability, Fix, Rule
from asyncmend.codemods.edits.statements import simple_statement
from asyncmend.codemods.semantic.flow import (
    AttributeUse,
    Flow,
    SessionCall,
    Site,
    between,
    checked_not_none,
    dominates,
    flow_of,
    loaded_objects,
    mentions_attribute,
    precedes,
    session_expires_on_commit,
    statement_line,
)
from asyncmend.codemods.semantic.models import catalog, loaded_instances, model_name
from asyncmend.codemods.semantic.versions import installed_version

#: The session calls that send pending changes (and so run the database's defaults).
FLUSHES = frozenset({"flush", "commit"})
#: Session calls after which an attribute read is some other rule's business (or fine).
RESETS = frozenset({"expire", "expire_all", "expunge", "expunge_all", "rollback", "close"})


@dataclass
class _Written:
    """An object of ``session`` whose row a flush writes: inserted (``add``) or updated
    (a column assigned), with the columns the database fills for that write."""

    name: str
    model: str
    session: str
    bound: Site  # where its one binding is
    writes: list[Site]  # the add / the column assignments
    kind: str  # "insert" or "update"
    may_be_none: bool


@dataclass
class _Stale:
    written: _Written
    read: AttributeUse
    column: str


class ServerGeneratedRead(Rule):
    """
    ## What it does
    Finds reads of a column whose value the database makes (`server_default`,
    `server_onupdate`, `Computed(...)`, or a SQL expression such as `func.now()` as
    `default`/`onupdate`), from an object after the `await session.flush()` or
    `await session.commit()` that wrote its row, with no refresh in between.

    ## Why is this bad?
    The ORM does not know a value the database computed, so after the flush it expires
    the attribute; the next read loads it with a SELECT. In asyncio that implicit load
    runs outside SQLAlchemy's greenlet and fails with `MissingGreenlet`, even with
    `expire_on_commit=False`. The classic case is `updated_at` with
    `onupdate=func.now()` read back right after an update.

    Reported only where it certainly happens: the object is bound once in the function
    to a model of the repo (`Model(...)` then `session.add`, or a `get`/`select` of the
    model), the write is an UPDATE (a column assigned) and the mapper does not set
    `eager_defaults=True` (`__mapper_args__`, inherited too; a base from outside the
    repo may set it, so the rule is silent then). An INSERT's server defaults are
    fetched with `RETURNING` by SQLAlchemy 2.0's default `eager_defaults="auto"` on
    PostgreSQL and SQLite, so inserts are reported only when the mapper sets
    `eager_defaults=False` or the installed SQLAlchemy is 1.x. A refresh of the object
    (all of it or naming the column), `awaitable_attrs.<col>`, an `expire` or a
    rebinding in between silence it; with `expire_on_commit=True` a read after the
    commit is AM303's (it refreshes the whole object).

    The fix adds `await session.refresh(obj, ["col", ...])` right after the flush or
    commit; none when the object may be `None` or unbound there.

    Status: preview (new; no finding on the ecosystem corpus yet).

    ## Example
    ```python
    class Article(Base):
        __tablename__ = "articles"
        id: Mapped[int] = mapped_column(primary_key=True)
        title: Mapped[str]
        updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())


    async def rename(session: AsyncSession, article_id: int, title: str) -> dict:
        article = await session.get(Article, article_id)
        if article is None:
            raise LookupError(article_id)
        article.title = title
        await session.commit()
        return {"title": article.title, "updated_at": article.updated_at}
    ```

    ## Use instead
    ```python
    async def rename(session: AsyncSession, article_id: int, title: str) -> dict:
        article = await session.get(Article, article_id)
        if article is None:
            raise LookupError(article_id)
        article.title = title
        await session.commit()
        await session.refresh(article, ["updated_at"])
        return {"title": article.title, "updated_at": article.updated_at}
    ```
    """

    code = "AM305"
    name = "server-generated-read"
    fix_applicability = Applicability.SAFE
    triggers = (b"flush", b"commit")
    uses_index = True
    preview: ClassVar[bool] = True

    @classmethod
    def candidate(cls, gate: Rule.Gate) -> bool:
        return ("flush" in gate.identifiers or "commit" in gate.identifiers) and any(
            f.kind == "async" and gate.frame_may_have_session(f) for f in gate.frames
        )

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        if node.asynchronous is None or not isinstance(node.body, cst.IndentedBlock):
            return
        if not (
            mentions_attribute(node, "flush", self.context)
            or mentions_attribute(node, "commit", self.context)
        ):
            return
        flow = flow_of(node, self.context, self.ancestors)
        flushes = [c for c in flow.calls if c.method in FLUSHES and c.awaited is not None]
        if not flushes:
            return
        stale: dict[int, list[_Stale]] = {}
        for written in self._written(flow):
            for flush in flushes:
                if flush.session != written.session:
                    continue
                if not any(precedes(w, flush.site) for w in written.writes):
                    continue
                if flush.method == "commit" and session_expires_on_commit(
                    flow, flush.session, self.context
                ):
                    continue  # the commit expires the whole object: AM303 reports the read
                for item in self._stale_reads(flow, written, flush, flushes):
                    stale.setdefault(id(flush), []).append(item)
        for flush in flushes:
            if id(flush) in stale:
                self._report(flow, flush, stale[id(flush)])

    # -- which objects a flush writes -------------------------------------------------

    def _written(self, flow: Flow) -> list[_Written]:
        models = catalog(self.context)
        found: list[_Written] = []
        counts: dict[str, int] = {}
        for binding in flow.bindings:
            counts[binding.name] = counts.get(binding.name, 0) + 1
        insert_on = self._insert_defaults_expire
        # Inserted: `x = Model(...)` bound once, then `session.add(x)`.
        for binding in flow.bindings:
            value = binding.value
            if counts[binding.name] != 1 or not isinstance(value, cst.Call):
                continue
            model = model_name(value.func, self.context)
            if model is None or not insert_on(models.eager_defaults(model)):
                continue
            for call in flow.calls_on(binding.name, ("add",)):
                if precedes(binding.site, call.site):
                    found.append(
                        _Written(
                            binding.name, model, call.session, binding.site,
                            [call.site], "insert", False,
                        )
                    )  # fmt: skip
        # Updated: an object loaded through a session, a column of it assigned.
        loaded = {item.name: item for item in loaded_objects(flow)}
        for binding in flow.bindings:
            source = loaded.get(binding.name)
            if counts[binding.name] != 1 or source is None or source.site is not binding.site:
                continue
            model = self._loaded_model(flow, binding.value)
            if model is None or models.eager_defaults(model) not in (None, False, "auto"):
                continue
            writes = [
                use.site
                for use in flow.attributes
                if use.name == binding.name
                and (use.store or use.augmented)
                and models.declares_column(model, use.node.attr.value)
                and precedes(binding.site, use.site)
            ]
            if writes:
                found.append(
                    _Written(
                        binding.name, model, source.session, binding.site, writes,
                        "update", source.may_be_none,
                    )
                )  # fmt: skip
        # An object the function deletes or expunges is not (only) written by the flush.
        return [w for w in found if not flow.calls_on(w.name, ("delete", "expunge"))]

    @staticmethod
    def _insert_defaults_expire(eager: object) -> bool:
        """Whether a flush leaves an INSERT's server defaults expired: the mapper says
        ``eager_defaults=False``, or SQLAlchemy 1.x (no ``"auto"``) is installed and the
        mapper does not ask for them. With 2.x's ``"auto"`` the backend decides (fetched
        by RETURNING on PostgreSQL and SQLite, not on MySQL): not known, silent."""
        if eager is False:
            return True
        version = installed_version("sqlalchemy")
        return eager is None and version is not None and version < (2,)

    def _loaded_model(self, flow: Flow, value: cst.BaseExpression | None) -> str | None:
        """The model of ``session.get(M, ...)`` / ``select(M)`` an object was loaded by."""
        for instance in loaded_instances(flow, self.context):
            if instance.binding.value is value and instance.load.kind != "helper":
                return instance.load.model
        return None

    # -- reads after the flush --------------------------------------------------------

    def _stale_reads(
        self, flow: Flow, written: _Written, flush: SessionCall, flushes: list[SessionCall]
    ) -> list[_Stale]:
        models = catalog(self.context)
        name = written.name
        resets = [b.site for b in flow.bindings_of(name) if b.site is not written.bound]
        resets += [c.site for c in flow.calls if c.method in RESETS]
        resets += [c.site for c in flushes if c is not flush and c.session == flush.session]
        refreshes = flow.calls_on(name, ("refresh",))
        found: list[_Stale] = []
        seen: set[str] = set()
        for use in flow.attributes:
            if use.name != name or use.store or not precedes(flush.site, use.site):
                continue
            column = use.node.attr.value
            generated = models.generated_column(written.model, column)
            if column in seen or generated is None or not generated[written.kind]:
                continue
            if any(between(flush.site, r, use.site) for r in resets):
                continue
            if any(
                between(flush.site, r.site, use.site) and _refreshes(r, column) for r in refreshes
            ):
                continue
            if any(  # set by the code itself: the ORM holds the value it was given
                other.name == name
                and other.store
                and other.node.attr.value == column
                and precedes(written.bound, other.site)
                and precedes(other.site, use.site)
                for other in flow.attributes
            ):
                continue
            seen.add(column)
            found.append(_Stale(written, use, column))
        return found

    # -- report and fix ---------------------------------------------------------------

    def _report(self, flow: Flow, flush: SessionCall, stale: list[_Stale]) -> None:
        line = statement_line(flow, flush)
        by_object: dict[str, list[_Stale]] = {}
        for item in stale:
            by_object.setdefault(item.written.name, []).append(item)
        fixable = {
            name: items
            for name, items in by_object.items()
            if line is not None and _fixable(flow, items[0].written, flush)
        }
        fix = None
        if fixable and line is not None:
            module = self.context.module
            refreshes = []
            for name, items in fixable.items():
                columns = ", ".join(f'"{c}"' for c in dict.fromkeys(i.column for i in items))
                refreshes.append(
                    simple_statement(f"await {flush.session}.refresh({name}, [{columns}])", module)
                )
            names = ", ".join(f"`{name}`" for name in fixable)
            fix = Fix(
                message=f"Refresh the generated columns of {names} right after the {flush.method}",
                applicability=Applicability.SAFE,
                replacements=[(line, cst.FlattenSentinel([line, *refreshes]))],
            )
        for item in stale:
            name, column = item.written.name, item.column
            wrote = "inserted" if item.written.kind == "insert" else "updated"
            message = (
                f"`{name}.{column}` is read after `await {flush.session}.{flush.method}()` "
                f"{wrote} `{name}`: the database set `{column}` and the flush expired it, so "
                f"this read loads it outside the greenlet (`MissingGreenlet`), even with "
                f'`expire_on_commit=False`; `await {flush.session}.refresh({name}, ["{column}"])` '
                f"after the {flush.method}"
            )
            if name in fixable and fix is not None:
                self.report(item.read.node, message, fix=fix)
            else:
                reason = (
                    "the flush is inside an expression"
                    if line is None
                    else "it may be None or unbound there"
                )
                self.report(item.read.node, f"{message} (no automatic fix: {reason})")


def _refreshes(call: SessionCall, column: str) -> bool:
    """``refresh(obj)`` loads every column; ``refresh(obj, ["a", "b"])`` the ones it
    names (an attribute list that cannot be read counts as covering it)."""
    names = next(
        (
            a.value
            for i, a in enumerate(call.call.args)
            if (a.keyword is None and i == 1)
            or (a.keyword is not None and a.keyword.value == "attribute_names")
        ),
        None,
    )
    if names is None:
        return True
    if not isinstance(names, (cst.List, cst.Tuple, cst.Set)):
        return True
    return any(
        isinstance(e.value, cst.SimpleString) and e.value.evaluated_value == column
        for e in names.elements
    ) or any(not isinstance(e.value, cst.SimpleString) for e in names.elements)


def _fixable(flow: Flow, written: _Written, flush: SessionCall) -> bool:
    """A refresh right after the flush is safe: the object's one binding dominates the
    flush and it is not None there."""
    if not dominates(written.bound, flush.site):
        return False
    return not written.may_be_none or checked_not_none(
        flow, written.name, written.bound, flush.site
    )
