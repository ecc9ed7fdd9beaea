"""AM201-AM203 behaviour that the marker-based fixtures cannot show: outputs without a
comment on the finding's line, byte preservation (CRLF, tabs), placement of the task set
in a module without imports, and several fixes in one file."""

from __future__ import annotations

from pathlib import Path

from asyncmend.engine import run


def _fix(tmp_path: Path, source: bytes, code: str, name: str = "mod.py") -> bytes:
    path = tmp_path / name
    path.write_bytes(source)
    report = run([str(path)], select=[code], fix=True, unsafe_fixes=True, jobs=1)
    assert not report.internal_errors, report.internal_errors
    report.apply()
    fixed = path.read_bytes()
    again = run([str(path)], select=[code], fix=True, unsafe_fixes=True, jobs=1)
    assert not again.changed, "fixing twice must equal fixing once"
    compile(fixed, name, "exec", dont_inherit=True)
    return fixed


def test_am202_short_run_becomes_one_line(tmp_path: Path) -> None:
    source = b"""import asyncio

import httpx


async def both(client: httpx.AsyncClient) -> tuple:
    a = await client.get("/a")  # first
    b = await client.get("/b")
    return a, b
"""
    assert _fix(tmp_path, source, "AM202") == source.replace(
        b'    a = await client.get("/a")  # first\n    b = await client.get("/b")\n',
        b'    a, b = await asyncio.gather(client.get("/a"), client.get("/b"))  # first\n',
    )


def test_am202_long_calls_are_split_over_lines(tmp_path: Path) -> None:
    source = b"""import asyncio

import httpx


async def both(client: httpx.AsyncClient, customer: str) -> tuple:
    payment_methods = await client.get(f"/customers/{customer}/payment-methods")
    spending_limits = await client.get(f"/customers/{customer}/spending-limits")
    return payment_methods, spending_limits
"""
    fixed = _fix(tmp_path, source, "AM202")
    assert (
        b"""    payment_methods, spending_limits = await asyncio.gather(
        client.get(f"/customers/{customer}/payment-methods"),
        client.get(f"/customers/{customer}/spending-limits"),
    )
"""
        in fixed
    )


def test_am202_keeps_crlf_and_tabs(tmp_path: Path) -> None:
    source = (
        b"import asyncio\r\n\r\nimport httpx\r\n\r\n\r\n"
        b"async def f(client: httpx.AsyncClient) -> None:\r\n"
        b'\ta = await client.get("/a")\r\n\tb = await client.get("/b")\r\n\tprint(a, b)\r\n'
    )
    fixed = _fix(tmp_path, source, "AM202")
    assert fixed == source.replace(
        b'\ta = await client.get("/a")\r\n\tb = await client.get("/b")\r\n',
        b'\ta, b = await asyncio.gather(client.get("/a"), client.get("/b"))\r\n',
    )


def test_am203_keeps_crlf_and_tabs(tmp_path: Path) -> None:
    source = (
        b"import asyncio\r\n\r\n\r\nasync def f() -> None:\r\n"
        b"\tasyncio.create_task(g())\r\n\r\n\r\nasync def g() -> None:\r\n\tpass\r\n"
    )
    fixed = _fix(tmp_path, source, "AM203")
    assert fixed == (
        b"import asyncio\r\n\r\n_background_tasks: set[asyncio.Task] = set()\r\n\r\n\r\n"
        b"async def f() -> None:\r\n\ttask = asyncio.create_task(g())\r\n"
        b"\t_background_tasks.add(task)\r\n\ttask.add_done_callback(_background_tasks.discard)\r\n"
        b"\r\n\r\nasync def g() -> None:\r\n\tpass\r\n"
    )


def test_am203_many_findings_share_one_set(tmp_path: Path) -> None:
    calls = "".join(f"    asyncio.create_task(job({n}))\n" for n in range(12))
    source = f"import asyncio\n\n\nasync def job(n):\n    pass\n\n\nasync def main():\n{calls}"
    fixed = _fix(tmp_path, source.encode(), "AM203").decode()
    assert fixed.count("set[asyncio.Task] = set()") == 1
    assert fixed.count("_background_tasks.add(") == 12
    assert "_background_tasks_1" not in fixed


def test_am203_adds_import_asyncio_for_the_annotation(tmp_path: Path) -> None:
    source = b"""from asyncio import create_task


def start(coro):
    create_task(coro)
"""
    fixed = _fix(tmp_path, source, "AM203")
    assert fixed.startswith(
        b"import asyncio\nfrom asyncio import create_task\n\n"  # isort order
        b"_background_tasks: set[asyncio.Task] = set()\n"
    )


def test_am201_fix_with_comments_between_arguments(tmp_path: Path) -> None:
    source = b"""import asyncio

from sqlalchemy.ext.asyncio import AsyncSession


async def stats(session: AsyncSession) -> tuple:
    a, b = await asyncio.gather(
        # how many
        session.scalar(q1),  # cheap
        # how much
        session.scalar(q2)
    )  # both
    return a, b
"""
    fixed = _fix(tmp_path, source, "AM201")
    assert (
        b"""    # how many
    a = await session.scalar(q1)  # cheap
    # how much
    b = await session.scalar(q2)  # both
    return a, b
"""
        in fixed
    )
