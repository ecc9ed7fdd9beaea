"""The candidate gate drops no finding and no fix: every fixture case, run with every
rule (preview included), gives exactly the same findings and fixed files with the gate
as without it (``ASYNCMEND_NO_GATE``; ``bench/gate_check.py`` does the same over the
ecosystem corpus); a verdict pass 2 replays from pass 1's record is checked against
the full gate (``engine/replay.py``). And the gate does skip files: a file no rule can
flag is never parsed with libcst, yet a syntax error is still AM000."""

from __future__ import annotations

from pathlib import Path

import pytest
from fixture_cases import Case, all_cases

from asyncmend.codemods.base import Rule
from asyncmend.codemods.registry import all_rules
from asyncmend.engine import process, run, syntax

CASES = all_cases()


def _outcome(case: Case, *, gate: bool, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(process, "GATE", gate)
    monkeypatch.setattr(process, "VERIFY", True)  # a replayed gate verdict is the full gate's
    report = run(
        [str(case.path)],
        select=["AM"],
        fix=True,
        unsafe_fixes=True,
        preview=True,
        config_path=case.config,
        jobs=1,
    )
    assert not report.internal_errors, report.internal_errors
    findings = sorted(
        (Path(f.path).name, f.line, f.column, f.end_line, f.end_column, f.code, f.message)
        for f in report.findings
    )
    fixed = sorted((Path(r.path).name, r.fixed) for r in report.results if r.fixed is not None)
    return findings, fixed


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_gate_keeps_every_finding(case: Case, monkeypatch: pytest.MonkeyPatch) -> None:
    with_gate = _outcome(case, gate=True, monkeypatch=monkeypatch)
    without = _outcome(case, gate=False, monkeypatch=monkeypatch)
    assert with_gate == without


def _parsed(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The sources libcst parses from now on (filled as they are parsed)."""
    calls: list[bytes] = []
    original = syntax.parse_source

    def counting(path: str, data: bytes):  # type: ignore[no-untyped-def]
        calls.append(data)
        return original(path, data)

    monkeypatch.setattr(syntax, "parse_source", counting)
    return calls


def test_gate_skips_files_no_rule_can_flag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _parsed(monkeypatch)
    # Every rule's prefilter token, none of their candidates.
    (tmp_path / "quiet.py").write_text(
        "from sqlalchemy.ext.asyncio import AsyncSession\n\n\n"
        "async def read(session: AsyncSession, key: int) -> object:\n"
        "    return await session.get(object, key)\n"
    )
    (tmp_path / "broken.py").write_text("async def f(:\n    await session.commit()\n")
    report = run([str(tmp_path)], select=["AM"], jobs=1)
    # Only the file ``ast`` cannot read goes to libcst (which reads newer syntax).
    assert calls == [(tmp_path / "broken.py").read_bytes()]
    assert [(Path(f.path).name, f.code) for f in report.findings] == [("broken.py", "AM000")]


HANDLER = """from fastapi import APIRouter, BackgroundTasks, Depends
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import get_session

router = APIRouter()


@router.put("/items/{key}", response_model=dict)
async def put_item(
    key: int, tasks: BackgroundTasks, session: AsyncSession = Depends(get_session)
) -> dict:
    await session.merge(object())
BODY"""


@pytest.mark.parametrize(
    ("body", "parsed"),
    [
        ("    return {}\n", False),  # only the decorator and the default call with arguments
        ("    tasks.add_task(print, session)\n    return {}\n", True),
    ],
    ids=["decorator-only", "add-task"],
)
def test_am103_reads_no_decorator_call_as_in_the_handler(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str, parsed: bool
) -> None:
    calls = _parsed(monkeypatch)
    (tmp_path / "items.py").write_text(HANDLER.replace("BODY", body))
    report = run([str(tmp_path)], select=["AM103"], jobs=1)
    assert bool(calls) is parsed
    assert [f.code for f in report.findings] == (["AM103"] if parsed else [])


HEADER = """import asyncio
from typing import Annotated, Optional

from fastapi import Depends
from sqlalchemy import select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from app.db import get_session
from app.models import User

async_session = async_sessionmaker(create_async_engine("sqlite+aiosqlite://"))


"""

#: (rule, body, parsed, findings): what each sharpened candidate test keeps (a case a
#: coarser reading of the rule would miss) and what it now skips.
SHARPENED = {
    "am203-unread-local": (
        "AM203",
        "async def f() -> None:\n    task = asyncio.create_task(asyncio.sleep(1))\n",
        True,
        1,
    ),
    "am203-conditional-test": (
        "AM203",
        "async def f() -> int:\n    return 1 if asyncio.create_task(asyncio.sleep(1)) else 0\n",
        True,
        1,
    ),
    "am203-dropped-tuple": (
        "AM203",
        "async def f() -> None:\n"
        "    asyncio.create_task(asyncio.sleep(1)), asyncio.create_task(asyncio.sleep(2))\n",
        True,
        2,
    ),
    "am203-renamed-unread-local": (
        "AM203",
        "from asyncio import create_task as spawn\n\n\n"
        "async def f() -> None:\n    task = spawn(asyncio.sleep(1))\n",
        True,
        1,
    ),
    "am203-create-task-of-an-unknown-receiver": (
        "AM203",
        "async def f(runner: object, group: object) -> None:\n"
        "    runner.loop.create_task(asyncio.sleep(1))\n    group.create_task(asyncio.sleep(2))\n",
        False,
        0,
    ),
    "am203-another-modules-create-task": (
        "AM203",
        "from app.tasks import create_task\n\n\n"
        "async def f() -> None:\n    create_task(asyncio.sleep(1))\n",
        False,
        0,
    ),
    "am203-loop-create-task-kept": (
        "AM203",
        "async def f(loop: asyncio.AbstractEventLoop) -> None:\n"
        "    own = asyncio.get_running_loop()\n"
        "    own.create_task(asyncio.sleep(1))\n"
        "    loop.create_task(asyncio.sleep(2))\n"
        "    asyncio.get_event_loop().create_task(asyncio.sleep(3))\n",
        True,
        3,
    ),
    "am203-kept": (
        "AM203",
        "async def f() -> None:\n"
        "    task = asyncio.create_task(asyncio.sleep(1))\n"
        "    await task\n"
        "    tasks = {asyncio.create_task(asyncio.sleep(2))}\n"
        "    await asyncio.wait(tasks)\n",
        False,
        0,
    ),
    "am301-outer-try-swallows": (
        "AM301",
        "async def save(session: AsyncSession) -> bool:\n"
        "    try:\n"
        "        try:\n"
        "            await session.commit()\n"
        "        except SQLAlchemyError:\n"
        "            print('failed')\n"
        "            raise\n"
        "    except SQLAlchemyError:\n"
        "        return False\n"
        "    return True\n",
        True,
        1,
    ),
    "am301-reraised-or-outside-body": (
        "AM301",
        "async def save(session: AsyncSession) -> bool:\n"
        "    try:\n"
        "        await session.commit()\n"
        "    except SQLAlchemyError:\n"
        "        print('failed')\n"
        "        raise\n"
        "    try:\n"
        "        print('start')\n"
        "    except ValueError:\n"
        "        return False\n"
        "    else:\n"
        "        await session.flush()\n"
        "    return True\n",
        False,
        0,
    ),
    # AM301: a `with` in the `try` body that closes the committed session or ends its
    # transaction is skipped (`_failing_calls`), and a `finally` that rolls it back
    # recovers; a `try` inside that block still counts.
    "am301-session-opened-in-the-try": (
        "AM301",
        "async def save() -> bool:\n"
        "    try:\n"
        "        async with async_session() as session:\n"
        "            await session.commit()\n"
        "        async with async_session.begin() as other:\n"
        "            await other.flush()\n"
        "    except SQLAlchemyError:\n"
        "        return False\n"
        "    return True\n",
        False,
        0,
    ),
    "am301-savepoint-in-the-try": (
        "AM301",
        "async def save(session: AsyncSession) -> bool:\n"
        "    try:\n"
        "        async with session.begin_nested():\n"
        "            await session.flush()\n"
        "    except SQLAlchemyError:\n"
        "        return False\n"
        "    return True\n",
        False,
        0,
    ),
    "am301-finally-rolls-back": (
        "AM301",
        "async def save(session: AsyncSession) -> bool:\n"
        "    try:\n"
        "        await session.commit()\n"
        "    except SQLAlchemyError:\n"
        "        return False\n"
        "    finally:\n"
        "        await session.close()\n"
        "    return True\n",
        False,
        0,
    ),
    "am301-try-inside-the-session-block": (
        "AM301",
        "async def save(session: AsyncSession) -> bool:\n"
        "    try:\n"
        "        async with async_session() as other:\n"
        "            try:\n"
        "                await other.commit()\n"
        "            except SQLAlchemyError:\n"
        "                print('failed')\n"
        "    except SQLAlchemyError:\n"
        "        return False\n"
        "    return True\n",
        True,
        1,
    ),
    "am301-imported-database-error-in-a-tuple": (
        "AM301",
        "from sqlalchemy import exc as db_errors\n\n\n"
        "async def save(session: AsyncSession) -> bool:\n"
        "    try:\n"
        "        await session.commit()\n"
        "    except (ValueError, db_errors.IntegrityError):\n"
        "        return False\n"
        "    return True\n",
        True,
        1,
    ),
    "am301-catches-no-database-error": (
        "AM301",
        "async def save(session: AsyncSession) -> bool:\n"
        "    try:\n"
        "        await session.commit()\n"
        "    except (ValueError, KeyError):\n"
        "        return False\n"
        "    return True\n",
        False,
        0,
    ),
    "am303-loaded-through-a-result": (
        "AM303",
        "async def rename(session: AsyncSession, key: int, name: str) -> str:\n"
        "    result = await session.execute(select(User).where(User.id == key))\n"
        "    user = result.scalar_one()\n"
        "    user.name = name\n"
        "    await session.commit()\n"
        "    return user.name\n",
        True,
        1,
    ),
    "am303-nothing-loaded-here": (
        "AM303",
        "async def rename(session: AsyncSession, user: User, name: str) -> str:\n"
        "    user.name = name\n"
        "    await session.commit()\n"
        "    return user.name\n",
        False,
        0,
    ),
    "am104-used-after-outer-block": (
        "AM104",
        "async def f(flag: bool) -> None:\n"
        "    if flag:\n"
        "        async with async_session() as session:\n"
        "            await session.execute(text('select 1'))\n"
        "    print(session)\n",
        True,
        1,
    ),
    "am104-not-used-after": (
        "AM104",
        "async def f() -> None:\n"
        "    async with async_session() as session:\n"
        "        await session.execute(text('select 1'))\n"
        "    print('done')\n",
        False,
        0,
    ),
    "am201-starred-comprehension": (
        "AM201",
        "async def load(session: AsyncSession, key: int) -> object:\n"
        "    return await session.get(User, key)\n\n\n"
        "async def f(session: AsyncSession, keys: list[int]) -> list[object]:\n"
        "    return await asyncio.gather(*(load(session, k) for k in keys))\n",
        True,
        1,
    ),
    "am201-one-use": (
        "AM201",
        "async def load(session: AsyncSession, key: int) -> object:\n"
        "    return await session.get(User, key)\n\n\n"
        "async def f(session: AsyncSession) -> list[object]:\n"
        "    return await asyncio.gather(load(session, 1), asyncio.sleep(1))\n",
        False,
        0,
    ),
    "am103-loop-target-store": (
        "AM103",
        "async def f(items: list[User], session: AsyncSession = Depends(get_session)) -> None:\n"
        "    for item in items:\n"
        "        item.session = session\n",
        False,
        0,
    ),
    "am204-yield-only-in-a-nested-def": (
        "AM204",
        "async def work() -> int:\n"
        "    def numbers():\n        yield 1\n\n"
        "    return sum(numbers())\n\n\n"
        "async def f() -> None:\n    work()\n",
        True,
        1,
    ),
    "am204-a-method-of-the-same-name-is-no-rebinding": (
        "AM204",
        "class Jobs:\n    def work(self) -> None:\n        pass\n\n\n"
        "async def work() -> None:\n    pass\n\n\n"
        "async def f() -> None:\n    work()\n",
        True,
        1,
    ),
    "am204-async-generator-and-methods": (
        "AM204",
        "async def numbers():\n    yield 1\n\n\n"
        "class Store:\n    async def delete(self) -> None:\n        pass\n\n\n"
        "def rebound() -> None:\n    pass\n\n\n"
        "async def rebound() -> None:\n    pass\n\n\n"
        "async def f() -> None:\n    numbers()\n    delete()\n    rebound()\n",
        False,
        0,
    ),
    "am204-alias-inside-a-container-annotation": (
        "AM204",
        "Rows = dict[str, User]\n\n\n"
        "async def f(rows: dict[int, Rows], cache: Optional[list[Rows]]) -> None:\n"
        "    rows.get(1)\n    cache.get(2)\n",
        False,
        0,
    ),
    "am204-annotation-heads-kept": (
        "AM204",
        "SessionDep = Annotated[AsyncSession, Depends(get_session)]\n\n\n"
        "def f(a: SessionDep, b: Optional[AsyncSession], c: 'User' | AsyncSession) -> None:\n"
        "    a.commit()\n    b.commit()\n    c.commit()\n",
        True,
        3,
    ),
    "am204-annotated-local-judged-by-its-value": (
        "AM204",
        "def f() -> None:\n    s: object = AsyncSession()\n    s.commit()\n",
        True,
        1,
    ),
    "am204-annotated-attribute-judged-by-its-value": (
        "AM204",
        "class Repo:\n"
        "    def __init__(self, session: AsyncSession) -> None:\n"
        "        self.db: object = session\n\n"
        "    def save(self) -> None:\n        self.db.commit()\n",
        True,
        1,
    ),
    "am205-alias-inside-a-container-annotation": (
        "AM205",
        "from sqlalchemy.orm import Session\n\nSessions = dict[str, Session]\n\n\n"
        "async def f(by_key: dict[str, Sessions]) -> None:\n    by_key.get('k')\n",
        False,
        0,
    ),
    "am205-annotated-local-judged-by-its-value": (
        "AM205",
        "from sqlalchemy import create_engine\nfrom sqlalchemy.orm import sessionmaker\n\n"
        "SessionLocal = sessionmaker(create_engine('sqlite://'))\n\n\n"
        "async def f() -> None:\n    s: object = SessionLocal()\n    s.execute(text('1'))\n",
        True,
        1,
    ),
    "am204-stored-then-read": (
        "AM204",
        "async def work() -> int:\n    return 1\n\n\n"
        "async def f(items: list[int]) -> None:\n"
        "    pending = work()\n    queued: object = work()\n"
        "    self_like, other = work(), 1\n"
        "    holder = {}\n    holder['k'] = work()\n"
        "    print(await pending, await asyncio.gather(queued, self_like))\n"
        "    async for item in work():\n        print(item)\n"
        "    print([x async for x in work()])\n",
        False,
        0,
    ),
    "am204-stored-and-never-read-or-misused": (
        "AM204",
        "async def work() -> int:\n    return 1\n\n\n"
        "async def f() -> None:\n"
        "    dropped = work()\n    used = work()\n    print(used.result)\n"
        "    closed = work()\n    closed.close()\n",
        True,
        2,
    ),
    "am205-path-methods-of-no-path-kind": (
        "AM205",
        "from pathlib import Path\n\n\n"
        "async def f(args: object, base: Path) -> None:\n"
        "    report = base / 'report.txt'\n    report.write_text('x')\n    args.path.read_text()\n",
        False,
        0,
    ),
    "am205-path-kinds-kept": (
        "AM205",
        "from pathlib import Path\n\nLOG = Path('log')\n\n\n"
        "async def f(p: Path, name: str) -> None:\n"
        "    q = Path(name)\n    p.read_text()\n    q.write_text('x')\n"
        "    Path(name).open()\n    LOG.read_text()\n",
        True,
        4,
    ),
    "am202-receiver-of-another-kind": (
        "AM202",
        "async def f() -> None:\n"
        "    await asyncio.sleep(0)\n"
        "    async with async_session() as session:\n"
        "        a = await session.scalar(text('1'))\n"
        "        b = await session.scalar(text('2'))\n"
        "    print(a, b)\n",
        False,
        0,
    ),
    "am202-client-receiver-kept": (
        "AM202",
        "import httpx\n\n\n"
        "async def f(client: httpx.AsyncClient) -> None:\n"
        "    a = await client.get('/a')\n    b = await client.get('/b')\n    print(a, b)\n",
        True,
        1,
    ),
    "am205-path-through-a-pathlib-import": (
        "AM205",
        "from pathlib import Path\n\n\nasync def f(p: Path) -> str:\n    return p.read_text()\n",
        True,
        1,
    ),
    "am205-pathlib-written-out-renamed": (
        "AM205",
        "import pathlib as pl\n\n\n"
        "async def f(name: str) -> None:\n    pl.Path(name).write_text('x')\n",
        True,
        1,
    ),
    "am205-file-methods-without-pathlib": (
        "AM205",
        "async def f(storage: object, files: object) -> None:\n"
        "    storage.open('x')\n    files.read_text()\n",
        False,
        0,
    ),
    "am103-stored-in-a-module-dict": (
        "AM103",
        "CACHE: dict[str, AsyncSession] = {}\n\n\n"
        "async def f(session: AsyncSession = Depends(get_session)) -> None:\n"
        "    CACHE['last'] = session\n",
        True,
        1,
    ),
    # AM501: two row locks of one `async def` on a name that may hold a session.
    "am501-get-and-select-locks": (
        "AM501",
        "async def f(session: AsyncSession, a: int, b: int) -> None:\n"
        "    x = await session.get(User, a, with_for_update=True)\n"
        "    y = await session.scalar(select(User).where(User.id == b).with_for_update())\n",
        True,
        1,
    ),
    "am501-configured-session-name": (
        "AM501",
        "async def f(session, a: int, b: int) -> None:\n"
        "    x = await session.get(User, a, with_for_update=True)\n"
        "    y = await session.get(User, b, with_for_update=True)\n",
        True,
        1,
    ),
    "am501-session-from-a-sessionmaker": (
        "AM501",
        "async def f(a: int, b: int) -> None:\n"
        "    async with async_session() as s:\n"
        "        x = await s.get(User, a, with_for_update=True)\n"
        "        y = await s.get(User, b, with_for_update=True)\n",
        True,
        1,
    ),
    "am501-locks-in-two-functions": (
        "AM501",
        "async def f(session: AsyncSession, a: int) -> None:\n"
        "    x = await session.get(User, a, with_for_update=True)\n\n\n"
        "async def g(session: AsyncSession, b: int) -> None:\n"
        "    y = await session.get(User, b, with_for_update=True)\n",
        False,
        0,
    ),
    "am501-not-a-session": (
        "AM501",
        "class Repo:\n    async def get(self, *args: object, **kw: object) -> None: ...\n\n\n"
        "async def f(a: int, b: int) -> None:\n"
        "    repo = Repo()\n"
        "    x = await repo.get(User, a, with_for_update=True)\n"
        "    y = await repo.get(User, b, with_for_update=True)\n",
        False,
        0,
    ),
    "am501-attribute-session": (
        "AM501",
        "class Service:\n"
        "    session: AsyncSession\n\n"
        "    async def f(self, a: int, b: int) -> None:\n"
        "        x = await self.session.get(User, a, with_for_update=True)\n"
        "        y = await self.session.get(User, b, with_for_update=True)\n",
        False,
        0,
    ),
    # AM103: a request session comes from a `Depends(...)` default or an annotation
    # that may carry one (inline, a local alias, an imported one: the fixtures).
    "am103-annotated-alias": (
        "AM103",
        "from typing import Annotated\n\nfrom fastapi import BackgroundTasks\n\n"
        "SessionDep = Annotated[AsyncSession, Depends(get_session)]\n\n\n"
        "async def job(session: AsyncSession) -> None: ...\n\n\n"
        "async def f(session: SessionDep, tasks: BackgroundTasks) -> None:\n"
        "    tasks.add_task(job, session)\n",
        True,
        1,
    ),
    "am103-annotated-inline": (
        "AM103",
        "from typing import Annotated\n\n\n"
        "async def job(session: AsyncSession) -> None: ...\n\n\n"
        "async def f(session: Annotated[AsyncSession, Depends(get_session)]) -> None:\n"
        "    asyncio.create_task(job(session))\n",
        True,
        1,
    ),
    "am103-depends-default": (
        "AM103",
        "async def job(session: AsyncSession) -> None: ...\n\n\n"
        "async def f(session: AsyncSession = Depends(get_session)) -> None:\n"
        "    asyncio.ensure_future(job(session))\n",
        True,
        1,
    ),
    "am103-call-in-a-nested-function": (
        "AM103",
        "from fastapi import BackgroundTasks\n\n\n"
        "async def job(session: AsyncSession) -> None: ...\n\n\n"
        "async def f(tasks: BackgroundTasks, session: AsyncSession = Depends(get_session)) -> None:\n"
        "    def later() -> None:\n"
        "        tasks.add_task(job, session)\n\n"
        "    spawn = lambda: asyncio.create_task(job(session))\n"
        "    later()\n"
        "    spawn()\n",
        False,
        0,
    ),
    "am103-plain-annotation-is-no-request-session": (
        "AM103",
        "from fastapi import BackgroundTasks\n\n\n"
        "async def job(session: AsyncSession) -> None: ...\n\n\n"
        "async def f(session: AsyncSession, tasks: BackgroundTasks) -> None:\n"
        "    tasks.add_task(job, session)\n",
        False,
        0,
    ),
    "am103-other-default-call": (
        "AM103",
        "def make() -> AsyncSession: ...\n\n\n"
        "async def job(session: AsyncSession) -> None: ...\n\n\n"
        "async def f(session: AsyncSession = make()) -> None:\n"
        "    asyncio.create_task(job(session))\n",
        False,
        0,
    ),
    # AM103: only a parameter that may hold an AsyncSession is a request session, and
    # only a value that may carry it (`session_holders`, `carries`) escapes.
    "am103-depends-on-no-session": (
        "AM103",
        "from fastapi import BackgroundTasks\n\n\n"
        "async def notify(user: User) -> None: ...\n\n\n"
        "async def f(tasks: BackgroundTasks, user: User = Depends(get_session)) -> None:\n"
        "    tasks.add_task(notify, user)\n",
        False,
        0,
    ),
    "am103-type-variable-annotation": (
        "AM103",
        "from typing import TypeVar\n\nT = TypeVar('T')\n\n\n"
        "async def f(value: T) -> None:\n"
        "    asyncio.create_task(asyncio.sleep(1, value))\n",
        False,
        0,
    ),
    "am103-awaited-load-carries-no-session": (
        "AM103",
        "from fastapi import BackgroundTasks\n\n\n"
        "async def notify(key: int) -> None: ...\n\n\n"
        "async def f(key: int, tasks: BackgroundTasks, session: AsyncSession = Depends(get_session)) -> None:\n"
        "    user = await session.get(User, key)\n"
        "    info = session.info.get('request')\n"
        "    tasks.add_task(notify, user.id, session.get_bind(), info)\n",
        False,
        0,
    ),
    "am103-bound-method-of-a-holder": (
        "AM103",
        "from fastapi import BackgroundTasks\n\n\n"
        "async def f(tasks: BackgroundTasks, session: AsyncSession = Depends(get_session)) -> None:\n"
        "    repo = Repo(session)\n"
        "    tasks.add_task(repo.sync)\n",
        True,
        1,
    ),
    "am103-stream-holder": (
        "AM103",
        "async def f(session: AsyncSession = Depends(get_session)) -> None:\n"
        "    stream = await session.stream(select(User))\n"
        "    asyncio.create_task(consume(stream))\n",
        True,
        1,
    ),
    "am103-local-session-dependency": (
        "AM103",
        "from fastapi import BackgroundTasks\n\n\n"
        "async def get_db():\n"
        "    async with async_session() as s:\n"
        "        yield s\n\n\n"
        "async def f(tasks: BackgroundTasks, conn=Depends(get_db)) -> None:\n"
        "    tasks.add_task(job, conn)\n",
        True,
        1,
    ),
    "am103-nested-function-reads-the-session": (
        "AM103",
        "from fastapi import BackgroundTasks\n\n\n"
        "async def f(tasks: BackgroundTasks, session: AsyncSession = Depends(get_session)) -> None:\n"
        "    async def later() -> None:\n"
        "        await session.commit()\n\n"
        "    tasks.add_task(later)\n",
        True,
        1,
    ),
    # AM101, AM102, AM104: only a call that may make an AsyncSession opens one
    # (`is_session_factory_call`: no other library's `Session`), only a parameter
    # annotated `async_sessionmaker[...]` is a factory, `async with name:` closes only a
    # name that may hold a session, and `global x; x = name` stores only a name that
    # may carry one.
    "am101-other-library-session": (
        "AM101",
        "import aioboto3\n\n\n"
        "async def f() -> None:\n"
        "    client = aioboto3.Session()\n"
        "    print(client)\n",
        False,
        0,
    ),
    "am101-sessionmaker-call": (
        "AM101",
        "async def f() -> None:\n"
        "    session = async_session()\n"
        "    await session.execute(text('select 1'))\n",
        True,
        1,
    ),
    "am104-async-with-a-lock": (
        "AM104",
        "async def f(lock: asyncio.Lock) -> None:\n"
        "    async with lock:\n"
        "        pass\n"
        "    print(lock.locked())\n",
        False,
        0,
    ),
    "am104-unannotated-factory-parameter": (
        "AM104",
        "async def f(factory) -> None:\n"
        "    async with factory() as s:\n"
        "        pass\n"
        "    await s.commit()\n",
        False,
        0,
    ),
    "am104-annotated-sessionmaker-parameter": (
        "AM104",
        "async def f(factory: async_sessionmaker[AsyncSession]) -> None:\n"
        "    async with factory() as s:\n"
        "        s.add(User())\n"
        "    await s.commit()\n",
        True,
        1,
    ),
    "am104-session-name": (
        "AM104",
        "async def f(session: AsyncSession) -> None:\n"
        "    async with session:\n"
        "        session.add(User())\n"
        "    await session.commit()\n",
        True,
        1,
    ),
    "am102-global-set-to-a-plain-local": (
        "AM102",
        "_loop = None\n\n\n"
        "async def f() -> None:\n"
        "    global _loop\n"
        "    loop = asyncio.get_running_loop()\n"
        "    _loop = loop\n",
        False,
        0,
    ),
    "am102-global-set-to-a-session": (
        "AM102",
        "_session = None\n\n\n"
        "async def f() -> None:\n"
        "    global _session\n"
        "    session = async_session()\n"
        "    current = session\n"
        "    _session = current\n",
        True,
        1,
    ),
    # AM202: both adjacent awaits may call something listed as concurrency-safe.
    "am202-client-methods": (
        "AM202",
        "import httpx\n\n\n"
        "async def f(a: str, b: str) -> None:\n"
        "    client = httpx.AsyncClient()\n"
        "    x = await client.get(a)\n"
        "    y = await client.post(b)\n"
        "    print(x, y)\n",
        True,
        1,
    ),
    "am202-imported-function": (
        "AM202",
        "from asyncio import sleep as pause\n\n\n"
        "async def f() -> None:\n"
        "    x = await pause(1, 'a')\n"
        "    y = await asyncio.sleep(1, 'b')\n"
        "    print(x, y)\n",
        True,
        1,
    ),
    "am202-unlisted-callees": (
        "AM202",
        "async def fetch(key: int) -> int:\n"
        "    await asyncio.sleep(0)\n"
        "    return key\n\n\n"
        "async def f() -> None:\n"
        "    x = await fetch(1)\n"
        "    y = await fetch(2)\n"
        "    print(x, y)\n",
        False,
        0,
    ),
    # AM301: a swallowing handler that does not roll back the committed session itself.
    "am301-rolls-back-another-session": (
        "AM301",
        "async def f(session: AsyncSession, other: AsyncSession) -> None:\n"
        "    try:\n"
        "        await session.commit()\n"
        "    except SQLAlchemyError:\n"
        "        await other.rollback()\n",
        True,
        1,
    ),
    "am301-rollback-in-a-nested-function": (
        "AM301",
        "async def f(session: AsyncSession) -> None:\n"
        "    try:\n"
        "        await session.commit()\n"
        "    except SQLAlchemyError:\n"
        "        async def undo() -> None:\n"
        "            await session.rollback()\n",
        True,
        1,
    ),
    "am301-one-handler-of-two-rolls-back": (
        "AM301",
        "async def f(session: AsyncSession) -> None:\n"
        "    try:\n"
        "        await session.flush()\n"
        "    except ValueError:\n"
        "        await session.rollback()\n"
        "    except SQLAlchemyError:\n"
        "        pass\n",
        True,
        1,
    ),
    "am301-handler-rolls-back": (
        "AM301",
        "async def f(session: AsyncSession) -> None:\n"
        "    try:\n"
        "        await session.commit()\n"
        "    except SQLAlchemyError:\n"
        "        await session.rollback()\n",
        False,
        0,
    ),
    # AM201: the name two gathered awaitables share may hold a session.
    "am201-shared-parameter-session": (
        "AM201",
        "async def f(session: AsyncSession) -> None:\n"
        "    await asyncio.gather(session.execute(text('1')), session.execute(text('2')))\n",
        True,
        1,
    ),
    "am201-session-of-the-enclosing-function": (
        "AM201",
        "async def f(session: AsyncSession) -> None:\n"
        "    async def inner() -> None:\n"
        "        await asyncio.gather(session.execute(text('1')), session.scalar(text('2')))\n\n"
        "    await inner()\n",
        True,
        1,
    ),
    "am201-session-passed-as-argument": (
        "AM201",
        "async def count(session: AsyncSession) -> int: ...\n\n\n"
        "async def f(a: int) -> None:\n"
        "    async with async_session() as db:\n"
        "        await asyncio.gather(count(db), count(session=db))\n",
        True,
        1,
    ),
    "am201-shared-client-not-a-session": (
        "AM201",
        "import httpx\n\n\n"
        "async def f(urls: list[str]) -> None:\n"
        "    client = httpx.AsyncClient()\n"
        "    await asyncio.gather(client.get(urls[0]), client.get(urls[1]))\n",
        False,
        0,
    ),
    "am201-shared-attribute": (
        "AM201",
        "class Service:\n"
        "    session: AsyncSession\n\n"
        "    async def f(self) -> None:\n"
        "        await asyncio.gather(self.session.execute(text('1')), self.session.scalar(text('2')))\n",
        False,
        0,
    ),
}


@pytest.mark.parametrize(
    ("code", "body", "parsed", "findings"), SHARPENED.values(), ids=list(SHARPENED)
)
def test_sharpened_candidates(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    code: str,
    body: str,
    parsed: bool,
    findings: int,
) -> None:
    (tmp_path / "service.py").write_text(HEADER + body)
    calls = _parsed(monkeypatch)
    gated = run([str(tmp_path)], select=[code], preview=True, jobs=1)
    assert bool(calls) is parsed
    assert [f.code for f in gated.findings] == [code] * findings
    monkeypatch.setattr(process, "GATE", False)
    plain = run([str(tmp_path)], select=[code], preview=True, jobs=1)
    key = [(f.line, f.column, f.code, f.message) for f in plain.findings]
    assert [(f.line, f.column, f.code, f.message) for f in gated.findings] == key


NO_EXPIRY = """from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from app.models import User

engine = create_async_engine("sqlite+aiosqlite://")
async_session = async_sessionmaker(engine, expire_on_commit=False)


async def rename(session: AsyncSession, key: int, name: str) -> str:
    user = await session.get(User, key)
    user.name = name
    await session.commit()
    return user.name


async def rename_own(key: int, name: str) -> str:
    async with OWN as session:
        user = await session.get(User, key)
        user.name = name
        await session.commit()
        return user.name
"""


@pytest.mark.parametrize(
    ("own", "parsed", "findings"),
    [("async_session()", False, 0), ("AsyncSession(engine)", True, 1)],
    ids=["sessionmaker-keeps-objects", "own-asyncsession-expires"],
)
def test_am303_needs_a_session_that_expires(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, own: str, parsed: bool, findings: int
) -> None:
    # The repo's one sessionmaker keeps objects on commit: only a session made by
    # `AsyncSession(...)` itself (default expire_on_commit=True) can be expired.
    (tmp_path / "service.py").write_text(NO_EXPIRY.replace("OWN", own))
    calls = _parsed(monkeypatch)
    report = run([str(tmp_path)], select=["AM303"], jobs=1)
    assert bool(calls) is parsed
    assert [f.code for f in report.findings] == ["AM303"] * findings
    monkeypatch.setattr(process, "GATE", False)
    assert len(run([str(tmp_path)], select=["AM303"], jobs=1).findings) == findings


@pytest.mark.parametrize(
    ("name", "config", "parsed", "findings"),
    [
        ("test_api.py", "", False, 0),
        ("test_api.py", "[tool.asyncmend.AM202]\ninclude-tests = true\n", True, 1),
        ("api.py", "", True, 1),
    ],
    ids=["test-file", "test-file-included", "service-file"],
)
def test_am202_skips_test_modules_unless_included(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    config: str,
    parsed: bool,
    findings: int,
) -> None:
    (tmp_path / "pyproject.toml").write_text(config)
    (tmp_path / name).write_text(
        "import asyncio\n\n\n"
        "async def f() -> None:\n"
        "    a = await asyncio.sleep(1, 'a')\n"
        "    b = await asyncio.sleep(1, 'b')\n"
        "    print(a, b)\n"
    )
    calls = _parsed(monkeypatch)
    report = run([str(tmp_path)], select=["AM202"], preview=True, jobs=1)
    assert bool(calls) is parsed
    assert [f.code for f in report.findings] == ["AM202"] * findings


@pytest.mark.parametrize(
    ("attribute", "pattern", "may"),
    [
        ("get", "httpx.AsyncClient.*", True),
        ("get", "*.get", True),
        ("post", "app.Client.get", False),
        ("get", "app.Cli*nt.get", True),
        ("get", "app.b*", True),  # `app.bx.get`: the wildcard spans the dot
        ("get", "app.[Cc]lient.post", True),
        ("get", "sleep", False),
        ("get", "*", True),
    ],
)
def test_am202_attribute_patterns(attribute: str, pattern: str, may: bool) -> None:
    from asyncmend.codemods.rules.am202_sequential_independent_awaits import (
        _some_kind_matches,
    )

    assert _some_kind_matches(attribute, pattern) is may


#: (rule, source, findings): ``Rule.requires`` drops a file without the token before
#: any parse, and keeps every spelling of what the rule needs (``async\tdef`` and a
#: continued ``async \`` line are ``async def`` too).
REQUIRED = {
    "am205-sync-module": ("AM205", "import time\n\n\ndef wait() -> None:\n    time.sleep(1)\n", 0),
    "am205-async-tab-def": (
        "AM205",
        "import time\n\n\nasync\tdef wait() -> None:\n    time.sleep(1)\n",
        1,
    ),
    "am205-async-continued": (
        "AM205",
        "import time\n\n\nasync \\\n  def wait() -> None:\n    time.sleep(1)\n",
        1,
    ),
    "am202-sync-module": (
        "AM202",
        "import httpx\n\n\ndef f(client: httpx.AsyncClient) -> None:\n"
        "    a = await client.get('/a')\n    b = await client.get('/b')\n",
        0,
    ),
}


@pytest.mark.parametrize(("code", "source", "findings"), REQUIRED.values(), ids=list(REQUIRED))
def test_required_tokens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: str, source: str, findings: int
) -> None:
    (tmp_path / "service.py").write_text(source)
    rule = next(r for r in all_rules() if r.code == code)
    asked: list[str] = []
    original = process.candidates

    def counting(path, data, rules, job):  # type: ignore[no-untyped-def]
        asked.append(path)
        return original(path, data, rules, job)

    monkeypatch.setattr(process, "candidates", counting)
    gated = run([str(tmp_path)], select=[code], preview=True, jobs=1)
    assert [f.code for f in gated.findings] == [code] * findings
    # Dropped by the prefilter: no gate input (no `ast` parse in pass 2 either).
    assert bool(asked) is bool(findings)
    # The requirement drops no finding: the rule itself finds the same without it.
    monkeypatch.setattr(rule, "requires", ())
    monkeypatch.setattr(process, "GATE", False)
    plain = run([str(tmp_path)], select=[code], preview=True, jobs=1)
    key = [(f.line, f.column, f.message) for f in plain.findings]
    assert [(f.line, f.column, f.message) for f in gated.findings] == key


@pytest.mark.parametrize("rule", [r for r in all_rules() if r.requires], ids=lambda r: r.code)
def test_required_tokens_drop_no_fixture_finding(
    rule: type[Rule], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every fixture file (of any rule) lacking a required token: the rule, run there
    # without its requirement (and without the gate), finds nothing.
    lacking = sorted(
        str(source)
        for case in CASES
        for source in case.inputs
        if not all(token in source.read_bytes() for token in rule.requires)
    )
    assert lacking
    monkeypatch.setattr(rule, "requires", ())
    monkeypatch.setattr(process, "GATE", False)
    report = run(lacking, select=[rule.code], preview=True, jobs=1)
    assert not report.internal_errors
    assert [(f.path, f.line) for f in report.findings] == []
