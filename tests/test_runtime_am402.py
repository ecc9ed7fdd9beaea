"""AM402 at run time (FastAPI as installed; the pool exhaustion needs >= 0.118): while a
client reads a CSV export slowly, the export that streams with the request's session
holds the pool's only connection, so another request times out waiting for one; the
export whose generator reads in its own short session leaves the pool free. asyncmend
reports the first export and not the second."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from fix_and_load import load

from asyncmend.codemods.semantic.versions import has_at_least
from asyncmend.engine import run

SOURCE = Path(__file__).resolve().parent.parent / "fixtures" / "runtime" / "am402_export.py"


@pytest.fixture
def app_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.chdir(tmp_path)
    module = load(SOURCE, "am402_export")

    async def seed() -> None:
        async with module.engine.begin() as conn:
            await conn.run_sync(module.Base.metadata.create_all)
        async with module.async_session() as session:
            session.add_all(module.Order(id=i, status="paid") for i in range(1, 4))
            await session.commit()

    asyncio.run(seed())
    return module


async def _count_while_streaming(module: ModuleType, path: str) -> tuple[int, str]:
    """Start a slow read of ``path``; once its first row is out, ask for the count.
    Returns the count request's status and the whole export once the client read on."""
    module.client_reads = asyncio.Event()
    first_row = asyncio.Event()
    body: list[bytes] = []

    async def receive() -> dict[str, Any]:
        await asyncio.sleep(3600)  # the client never disconnects
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            body.append(message.get("body", b""))
            first_row.set()

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "GET", "scheme": "http", "path": path, "raw_path": path.encode(),
             "query_string": b"", "headers": [], "client": ("test", 1), "server": ("test", 80)}  # fmt: skip
    export = asyncio.create_task(module.app(scope, receive, send))
    await asyncio.wait_for(first_row.wait(), 10)
    transport = httpx.ASGITransport(app=module.app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        status = (await client.get("/orders/count")).status_code
    module.client_reads.set()
    await asyncio.wait_for(export, 10)
    await module.engine.dispose()
    return status, b"".join(body).decode()


@pytest.mark.skipif(not has_at_least("fastapi", 0, 118), reason="held to the end since 0.118")
def test_streaming_with_the_request_session_holds_the_pool(app_module: ModuleType) -> None:
    status, export = asyncio.run(_count_while_streaming(app_module, "/orders.csv"))
    assert export == "1,paid\n2,paid\n3,paid\n"
    assert status == 500  # the count request timed out waiting for the held connection


def test_a_short_session_inside_the_generator_leaves_the_pool_free(app_module: ModuleType) -> None:
    status, export = asyncio.run(_count_while_streaming(app_module, "/orders-own-session.csv"))
    assert export == "1,paid\n2,paid\n3,paid\n"
    assert status == 200


def test_asyncmend_reports_the_first_export_only() -> None:
    report = run([str(SOURCE)], select=["AM402"], jobs=1, preview=True)
    assert [(f.code, f.line) for f in report.findings] == [("AM402", _line_of("rows(), media"))]


def _line_of(text: str) -> int:
    lines = SOURCE.read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if text in line)
