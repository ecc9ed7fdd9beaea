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
    "am103-stored-in-a-module-dict": (
        "AM103",
        "CACHE: dict[str, AsyncSession] = {}\n\n\n"
        "async def f(session: AsyncSession = Depends(get_session)) -> None:\n"
        "    CACHE['last'] = session\n",
        True,
        1,
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
