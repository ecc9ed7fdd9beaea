"""The per-file semantic model: each question has one answer, computed once per tree."""

from __future__ import annotations

import textwrap

import libcst as cst

from asyncmend.codemods.base import FileContext
from asyncmend.codemods.semantic.fastapi import background_tasks_params, parameter_depends
from asyncmend.codemods.semantic.sessions import session_names
from asyncmend.codemods.semantic.tree import own_scope, parameters
from asyncmend.engine.config import Config
from asyncmend.engine.index import RepoIndex, collect_facts

SOURCE = textwrap.dedent(
    """
    import asyncio as aio
    from typing import Annotated

    from fastapi import BackgroundTasks, Depends
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
    from sqlalchemy.orm import Session, sessionmaker

    async_session = async_sessionmaker()
    SyncSession = sessionmaker()
    Later = Annotated[BackgroundTasks, "after"]
    task = None


    def get_db():
        db = SyncSession()
        yield db


    async def handler(
        pk: int,
        later: Later,
        tasks: Annotated[BackgroundTasks, "x"],
        db=Depends(get_db),
        *args,
        session: AsyncSession,
        **kwargs,
    ):
        async with async_session() as fresh:
            x = 1
            def inner():
                hidden = 2
        await aio.sleep(pk)
        return fresh, x
    """
)


def _context(source: str = SOURCE, path: str = "app/handlers.py") -> FileContext:
    module = cst.parse_module(source)
    index = RepoIndex([collect_facts(path, source.encode())])
    return FileContext(path=path, module=module, config=Config(), index=index)


def _handler(context: FileContext) -> cst.FunctionDef:
    return next(
        s
        for s in context.module.body
        if isinstance(s, cst.FunctionDef) and s.name.value == "handler"
    )


def test_resolve_through_imports() -> None:
    context = _context()
    handler = _handler(context)
    awaited = next(n for n in own_scope(handler.body) if isinstance(n, cst.Await))
    assert context.semantic.resolve(awaited.expression.func) == "asyncio.sleep"  # type: ignore[attr-defined]
    assert context.semantic.imports["AsyncSession"] == "sqlalchemy.ext.asyncio.AsyncSession"


def test_bindings_and_parameters() -> None:
    context = _context()
    handler = _handler(context)
    assert [p.name.value for p in parameters(handler)] == [
        "pk", "later", "tasks", "db", "session"
    ]  # fmt: skip
    local = context.semantic.local_names(handler)
    assert {"pk", "args", "kwargs", "fresh", "x", "inner"} <= local
    assert "hidden" not in local  # bound in a nested scope
    table = context.semantic.bindings(handler)
    assert table["fresh"][0].kind == "assign" and table["pk"][0].kind == "param"
    assert context.semantic.bindings(handler) is table  # one walk per scope


def test_fresh_name_avoids_every_identifier_and_import() -> None:
    context = _context()
    assert context.semantic.fresh_name("task") == "task_1"
    assert context.semantic.fresh_name("aio") == "aio_1"
    assert context.semantic.fresh_name("x", "spare") == "spare"


def test_session_names_with_sync_evidence() -> None:
    context = _context()
    handler = _handler(context)
    # `db` comes from a dependency yielding a sync Session (and the module defines a
    # plain sessionmaker): the configured names do not make it an AsyncSession.
    assert session_names(handler, context) == {"session", "fresh"}


def test_fastapi_readers() -> None:
    context = _context()
    handler = _handler(context)
    assert background_tasks_params(handler, context) == ["later", "tasks"]
    db = next(p for p in parameters(handler) if p.name.value == "db")
    depends = parameter_depends(db)
    assert depends is not None and isinstance(depends.args[0].value, cst.Name)


def test_memo_belongs_to_the_tree() -> None:
    first, second = _context(), _context()
    assert first.semantic is first.semantic
    assert first.semantic is not second.semantic
    first.semantic.local_names(_handler(first))
    assert not second.semantic.memo
