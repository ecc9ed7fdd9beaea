"""AM303 read-after-commit: attributes of an object expired by a commit are read."""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from asyncmend.codemods.base import Applicability, Fix, Rule
from asyncmend.codemods.semantic.flow import (
    AttributeUse,
    Flow,
    Loaded,
    SessionCall,
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

    Decided per session factory, for the factory the session came from: a session made
    in the function (`async with async_session() as s`, `AsyncSession(engine, ...)`,
    `maker()`) or a parameter whose `Depends` dependency (directly, in `Annotated`, or
    through an alias such as `SessionDep`) yields a session of a sessionmaker the repo
    defines takes that factory's `expire_on_commit`. A session whose factory cannot be
    determined is reported only when every factory of the repo keeps the default (then it
    expires whichever it came from); when they disagree (a test file's
    `AsyncSession(engine)` next to the app's `expire_on_commit=False` factory), when a
    value cannot be read, or when the repo makes no session at all (a library), the rule
    is silent.

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
        # `<x>.commit` and an `async def` that may hold a session (commit_flow's tests).
        return "commit" in gate.identifiers and any(
            f.kind == "async" and gate.frame_may_have_session(f) for f in gate.frames
        )

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        found = commit_flow(node, self.context, self.ancestors)
        if found is None:
            return
        flow, commits = found
        if not commits:
            return
        loaded = loaded_objects(flow)
        if not loaded:
            return
        expires: dict[str, bool] = {}
        for commit in commits:
            session = commit.session
            if session not in expires:
                expires[session] = session_expires_on_commit(flow, session, self.context)
            if expires[session]:
                self._check_commit(flow, commit, commits, loaded)

    def _check_commit(
        self,
        flow: Flow,
        commit: SessionCall,
        commits: list[SessionCall],
        loaded: list[Loaded],
    ) -> None:
        expired: list[_Expired] = []
        for name in dict.fromkeys(item.name for item in loaded):
            sources = [
                item
                for item in loaded
                if item.name == name
                and item.session == commit.session
                and precedes(item.site, commit.site)
            ]
            if not sources or _detached(flow, name, sources[-1], commit):
                continue
            read = _first_read(flow, name, commit, commits)
            if read is None:
                continue
            expired.append(_Expired(sources[-1], read, _fixable(flow, sources, commit)))
        if not expired:
            return
        line = statement_line(flow, commit)
        fixable = [item for item in expired if item.fixable] if line is not None else []
        fix = None
        if line is not None and fixable:
            refreshes = [
                _refresh_line(commit.session, item.loaded.name)
                for item in sorted(fixable, key=lambda e: e.read.site.order)
            ]
            fix = Fix(
                message="Refresh "
                + ", ".join(f"`{item.loaded.name}`" for item in fixable)
                + " right after the commit",
                applicability=Applicability.SAFE,
                replacements=[(line, cst.FlattenSentinel([line, *refreshes]))],
            )
        for item in expired:
            name, attribute = item.loaded.name, item.read.node.attr.value
            message = (
                f"`{name}.{attribute}` is read after `await {commit.session}.commit()` "
                f"expired `{name}`: the implicit reload fails in asyncio (`MissingGreenlet`); "
                f"`await {commit.session}.refresh({name})` after the commit"
            )
            if item.fixable and fix is not None:
                self.report(item.read.node, message, fix=fix)
            else:
                reason = (
                    "it may be None or unbound there"
                    if line is not None
                    else "the commit is not a statement of its own"
                )
                self.report(item.read.node, f"{message} (no automatic fix: {reason})")


def _first_read(
    flow: Flow, name: str, commit: SessionCall, commits: list[SessionCall]
) -> AttributeUse | None:
    """The first read of ``name.attr`` after ``commit`` with no refresh, rebinding or
    later commit of the same session in between (that later commit reports it)."""
    resets = [b.site for b in flow.bindings_of(name)]
    resets += [
        c.site
        for c in flow.calls
        if c.method == "refresh"
        and c.call.args
        and isinstance(c.call.args[0].value, cst.Name)
        and c.call.args[0].value.value == name
    ]
    resets += [c.site for c in commits if c is not commit and c.session == commit.session]
    for use in flow.attributes:
        if use.name != name or use.store or use.node.attr.value in SAFE_ATTRIBUTES:
            continue
        if not precedes(commit.site, use.site):
            continue
        if any(precedes(commit.site, r) and precedes(r, use.site) for r in resets):
            continue
        return use
    return None


def _detached(flow: Flow, name: str, source: Loaded, commit: SessionCall) -> bool:
    """``s.expunge(name)`` / ``s.expunge_all()`` between the load and the commit: a
    detached object is not expired by the commit."""
    for call in flow.calls:
        if call.session != commit.session or call.method not in ("expunge", "expunge_all"):
            continue
        args = call.call.args
        if call.method == "expunge" and not (
            args and isinstance(args[0].value, cst.Name) and args[0].value.value == name
        ):
            continue
        if precedes(source.site, call.site) and precedes(call.site, commit.site):
            return True
    return False


def _fixable(flow: Flow, sources: list[Loaded], commit: SessionCall) -> bool:
    """A refresh right after the commit is safe: the name is bound on every path to the
    commit (its binding dominates it) and is not None there."""
    source = sources[-1]
    if not dominates(source.site, commit.site):
        return False
    if len(flow.bindings_of(source.name)) > 1:
        return False
    return not source.may_be_none or _none_checked(flow, source, commit)


def _none_checked(flow: Flow, source: Loaded, commit: SessionCall) -> bool:
    """An ``if x is None: raise/return`` (or ``if not x:``), or an ``assert x`` /
    ``assert x is not None``, between the binding and the commit, in the block of the
    binding."""
    position = flow.positions.get(id(source.site.statement))
    if position is None:
        return False
    block, index = position
    depth = len(source.site.path) - 1
    end = commit.site.path[depth][1]
    for stmt in block.body[index + 1 : end]:  # type: ignore[attr-defined]
        if isinstance(stmt, cst.SimpleStatementLine) and any(
            isinstance(small, cst.Assert) and _asserts_not_none(small.test, source.name)
            for small in stmt.body
        ):
            return True
        if (
            isinstance(stmt, cst.If)
            and stmt.orelse is None
            and _is_none_test(stmt.test, source.name)
        ):
            body = list(stmt.body.body)
            last = body[-1] if body else None
            if isinstance(last, cst.SimpleStatementLine):
                last = last.body[-1]
            if isinstance(last, (cst.Raise, cst.Return)):
                return True
    return False


def _compares_to_none(test: cst.BaseExpression, name: str, operator: type[cst.BaseCompOp]) -> bool:
    """``name is None`` (operator ``cst.Is``) or ``name is not None`` (``cst.IsNot``)."""
    if not (isinstance(test, cst.Comparison) and len(test.comparisons) == 1):
        return False
    target = test.comparisons[0]
    return (
        isinstance(test.left, cst.Name)
        and test.left.value == name
        and isinstance(target.operator, operator)
        and isinstance(target.comparator, cst.Name)
        and target.comparator.value == "None"
    )


def _is_none_test(test: cst.BaseExpression, name: str) -> bool:
    if isinstance(test, cst.Comparison):
        return _compares_to_none(test, name, cst.Is)
    if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
        return isinstance(test.expression, cst.Name) and test.expression.value == name
    if isinstance(test, cst.BooleanOperation) and isinstance(test.operator, cst.Or):
        return _is_none_test(test.left, name) or _is_none_test(test.right, name)
    return False


def _asserts_not_none(test: cst.BaseExpression, name: str) -> bool:
    if isinstance(test, cst.Name):
        return test.value == name
    if isinstance(test, cst.Comparison):
        return _compares_to_none(test, name, cst.IsNot)
    if isinstance(test, cst.BooleanOperation) and isinstance(test.operator, cst.And):
        return _asserts_not_none(test.left, name) or _asserts_not_none(test.right, name)
    return False


def _refresh_line(session: str, name: str) -> cst.SimpleStatementLine:
    statement = cst.parse_statement(f"await {session}.refresh({name})\n")
    assert isinstance(statement, cst.SimpleStatementLine)
    return statement
