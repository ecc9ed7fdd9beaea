"""AM303 read-after-commit: attributes of an object expired by a commit are read."""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from asyncmend.codemods.base import Applicability, Fix, Rule
from asyncmend.codemods.edits.statements import simple_statement
from asyncmend.codemods.semantic.flow import (
    LOADING_METHODS,
    AttributeUse,
    Flow,
    Loaded,
    SessionCall,
    between,
    checked_not_none,
    commit_flow,
    dominates,
    loaded_objects,
    precedes,
    session_expires_on_commit,
    statement_line,
)

#: Attributes that are safe on an expired object (``AsyncAttrs`` loads in a greenlet).
SAFE_ATTRIBUTES = frozenset({"awaitable_attrs", "__class__"})


@dataclass
class _Expired:
    """An object of ``commit``'s session read after it."""

    loaded: Loaded
    read: AttributeUse
    fixable: bool


class ReadAfterCommit(Rule):
    """
    ## What it does
    Finds attribute reads of an object after `await session.commit()`, when the object
    was added to or loaded through that session before the commit and nothing refreshed
    it in between.

    ## Why is this bad?
    With the default `expire_on_commit=True`, a commit expires every object of the
    session: the next attribute read loads it again from the database. In asyncio that
    implicit load runs outside SQLAlchemy's greenlet and fails with `MissingGreenlet`
    ("greenlet_spawn has not been called; can't call await_only() here"), typically
    right after a successful write, in the response.

    The fix adds `await session.refresh(obj)` right after the commit. There is no fix
    when the object may be `None` there (from `get()` or `scalar_one_or_none()` without a
    `None` check before the commit) or is not bound on every path to the commit.

    Decided per session factory: a session made in the function (`async with maker() as
    s`, `AsyncSession(engine, ...)`) or a `Depends` parameter (also through `Annotated` or
    an alias such as `SessionDep`) whose dependency yields a session of a repo
    sessionmaker takes that factory's `expire_on_commit`. Any other session (a plain
    parameter, `self.session`) takes the repo's factory only when the repo makes sessions
    in exactly one place; with two or more (a test's `AsyncSession(engine)` beside the
    app's, even when both keep the default), a value that cannot be read, or none at all
    (a library), the factory is not determined and the rule is silent.

    Status: stable by default; no finding on the ecosystem corpus (its services' factories
    set `expire_on_commit=False`, and the rule is rightly silent there).

    ## Example
    ```python
    @router.patch("/{user_id}")
    async def rename_user(user_id: int, payload: UserRename, session: SessionDep):
        user = await session.get(User, user_id)
        if user is None:
            raise HTTPException(status_code=404, detail="user not found")
        user.name = payload.name
        await session.commit()
        return {"id": user.id, "name": user.name}
    ```

    ## Use instead
    ```python
    @router.patch("/{user_id}")
    async def rename_user(user_id: int, payload: UserRename, session: SessionDep):
        user = await session.get(User, user_id)
        if user is None:
            raise HTTPException(status_code=404, detail="user not found")
        user.name = payload.name
        await session.commit()
        await session.refresh(user)
        return {"id": user.id, "name": user.name}
    ```
    """

    code = "AM303"
    name = "read-after-commit"
    fix_applicability = Applicability.SAFE
    triggers = (b"commit",)
    uses_index = True

    @classmethod
    def candidate(cls, gate: Rule.Gate) -> bool:
        # commit_flow's test (an awaited commit of a name that may hold a session) and
        # loaded_objects' for the same session: it adds or loads something in that function.
        # Then session_expires_on_commit must be able to answer True.
        return gate.commits_after_use(LOADING_METHODS) and gate.may_expire_on_commit()

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        found = commit_flow(node, self.context, self.ancestors)
        if found is None or not (loaded := loaded_objects(found[0])):
            return
        flow, commits = found
        for commit in commits:
            if session_expires_on_commit(flow, commit.session, self.context):
                self._check_commit(flow, commit, commits, loaded)

    def _check_commit(
        self,
        flow: Flow,
        commit: SessionCall,
        commits: list[SessionCall],
        loaded: list[Loaded],
    ) -> None:
        # The latest load or add of each name in this session before the commit.
        before = [
            i for i in loaded if i.session == commit.session and precedes(i.site, commit.site)
        ]
        sources = {item.name: item for item in before}
        expired: list[_Expired] = []
        for name in dict.fromkeys(item.name for item in loaded):  # in order of first binding
            source = sources.get(name)
            read = _first_read(flow, name, commit, commits) if source is not None else None
            if read is not None and not _detached(flow, name, source, commit):
                expired.append(_Expired(source, read, _fixable(flow, source, commit)))
        if not expired:
            return
        line = statement_line(flow, commit)
        fixable = [item for item in expired if item.fixable] if line is not None else []
        fix = None
        if fixable:  # empty when the commit is not a statement of its own
            module = self.context.module
            refreshes = [
                simple_statement(f"await {commit.session}.refresh({item.loaded.name})", module)
                for item in sorted(fixable, key=lambda e: e.read.site.order)
            ]
            names = ", ".join(f"`{item.loaded.name}`" for item in fixable)
            fix = Fix(
                message=f"Refresh {names} right after the commit",
                applicability=Applicability.SAFE,
                replacements=[(line, cst.FlattenSentinel([line, *refreshes]))],
            )
        reason = "it may be None or unbound there" if line else "the commit is inside an expression"
        for item in expired:
            name, attribute = item.loaded.name, item.read.node.attr.value
            message = (
                f"`{name}.{attribute}` is read after `await {commit.session}.commit()` "
                f"expired `{name}`: the implicit reload fails in asyncio (`MissingGreenlet`); "
                f"`await {commit.session}.refresh({name})` after the commit"
            )
            if not (item.fixable and fix is not None):
                message += f" (no automatic fix: {reason})"
            self.report(item.read.node, message, fix=fix if item.fixable else None)


def _first_read(
    flow: Flow, name: str, commit: SessionCall, commits: list[SessionCall]
) -> AttributeUse | None:
    """The first read of ``name.attr`` after ``commit`` with no refresh, rebinding or
    later commit of the same session in between (that later commit reports it)."""
    resets = [b.site for b in flow.bindings_of(name)]
    resets += [c.site for c in flow.calls_on(name, ("refresh",))]
    resets += [c.site for c in commits if c is not commit and c.session == commit.session]
    for use in flow.attributes:
        if use.name != name or use.store or use.node.attr.value in SAFE_ATTRIBUTES:
            continue
        if not precedes(commit.site, use.site):
            continue
        if any(between(commit.site, r, use.site) for r in resets):
            continue
        return use
    return None


def _detached(flow: Flow, name: str, source: Loaded, commit: SessionCall) -> bool:
    """``s.expunge(name)`` / ``s.expunge_all()`` between the load and the commit: a
    detached object is not expired by the commit."""
    detaching = flow.calls_on(name, ("expunge",))
    detaching += [call for call in flow.calls if call.method == "expunge_all"]
    return any(
        c.session == commit.session and between(source.site, c.site, commit.site) for c in detaching
    )


def _fixable(flow: Flow, source: Loaded, commit: SessionCall) -> bool:
    """A refresh right after the commit is safe: the name is bound on every path to the
    commit (its one binding dominates it) and is not None there."""
    if not dominates(source.site, commit.site) or len(flow.bindings_of(source.name)) > 1:
        return False
    return not source.may_be_none or checked_not_none(flow, source.name, source.site, commit.site)
