"""Deterministic generator of a FastAPI + async SQLAlchemy service project.

    python bench/synth.py OUT_DIR [--lines 200000] [--seed 1729]

Writes a package ``svc/`` with ``db.py`` and the sub-packages ``models/``,
``routers/``, ``services/``, ``workers/`` and ``clients/``: Mapped models, routers
taking ``Depends(get_session)``, services opening ``async with async_session() as
session:``, httpx clients and background workers. Files are 200-600 lines. About one
unit in every 200 lines (counted over the whole project) is an anti-pattern variant,
drawn from: bare session, ``time.sleep`` in ``async def``, dropped
``asyncio.create_task``, un-awaited ``session.commit()``, ``asyncio.gather`` sharing a
session, try/commit/except-pass. ``ANTIPATTERNS.json`` lists every injected one (file,
line, kind) so recall can be checked.

Generation is template formatting only (no parsing, no formatting passes), so 2M lines
take a few seconds. Same (lines, seed, VERSION) gives byte-identical output.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

VERSION = 2
DEFAULT_SEED = 1729
ANTIPATTERN_EVERY = 200  # lines between injected anti-patterns, on average

ENTITIES = [
    "Order",
    "Invoice",
    "Customer",
    "Payment",
    "Shipment",
    "Product",
    "Warehouse",
    "Coupon",
    "Refund",
    "Subscription",
    "Ticket",
    "Account",
    "Vendor",
    "Review",
    "Address",
    "Cart",
    "Report",
    "Team",
    "Project",
    "Task",
    "Comment",
    "Webhook",
    "Notification",
    "Device",
    "Visit",
    "Booking",
    "Room",
    "Tenant",
    "Plan",
    "Quota",
]
SUB_MODELS = ["Line", "Event", "Tag", "Note", "Audit", "Snapshot", "Link", "Attachment"]
FIELDS = [
    ("name", "str", "String(120)", '"n"'),
    ("code", "str", "String(32)", '"c"'),
    ("status", "str", "String(16)", '"open"'),
    ("amount", "int", "Integer", "0"),
    ("priority", "int", "Integer", "1"),
    ("is_active", "bool", "Boolean", "True"),
    ("archived", "bool", "Boolean", "False"),
    ("owner_id", "int", "Integer", "0"),
    ("region", "str", "String(8)", '"eu"'),
    ("score", "int", "Integer", "0"),
]
KINDS = ("models", "services", "routers", "workers", "clients")
ANTIPATTERNS = (
    "bare_session",
    "time_sleep",
    "dangling_task",
    "unawaited_commit",
    "gather_shared_session",
    "commit_except_pass",
)


def snake(name: str) -> str:
    out = [name[0].lower()]
    for ch in name[1:]:
        out.append(f"_{ch.lower()}" if ch.isupper() else ch)
    return "".join(out)


@dataclass
class Domain:
    entity: str  # class name, e.g. Invoice3
    mod: str  # module name, e.g. invoice3
    table: str
    fields: list[tuple[str, str, str, str]]

    @property
    def e(self) -> str:
        return self.mod


@dataclass
class Ctx:
    """Fill values for one unit template."""

    d: Domain
    n: int
    rng: random.Random

    def values(self) -> dict[str, object]:
        f1, f2 = self.rng.sample(self.d.fields, 2)
        return {
            "E": self.d.entity,
            "e": self.d.e,
            "n": self.n,
            "table": self.d.table,
            "f1": f1[0],
            "f1t": f1[1],
            "f1d": f1[3],
            "f2": f2[0],
            "f2t": f2[1],
            "limit": self.rng.choice([20, 50, 100, 200]),
            "delay": self.rng.choice([0.1, 0.25, 0.5, 1.0, 2.0]),
            "retries": self.rng.randint(2, 6),
            "port": self.rng.choice([8001, 8080, 9000]),
        }


@dataclass
class Injector:
    """Decides, over the whole project, when the next unit is an anti-pattern."""

    rng: random.Random
    lines_since: int = 0
    gap: int = ANTIPATTERN_EVERY
    found: list[dict[str, object]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def due(self) -> bool:
        return self.lines_since >= self.gap

    def record(self, path: str, line: int, kind: str) -> None:
        self.found.append({"file": path, "line": line, "kind": kind})
        self.counts[kind] = self.counts.get(kind, 0) + 1
        self.lines_since = 0
        # mean gap below ANTIPATTERN_EVERY: units overshoot it, and model files have none
        self.gap = self.rng.randint(ANTIPATTERN_EVERY * 3 // 10, ANTIPATTERN_EVERY * 13 // 10)


# ---------------------------------------------------------------- file headers

DB_PY = '''"""Engine, session factory and the request-scoped session dependency."""
from __future__ import annotations

import os
from collections.abc import AsyncIterator

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase

DATABASE_URL = os.environ.get("DATABASE_URL", "postgresql+asyncpg://app:app@localhost/app")

engine = create_async_engine(DATABASE_URL, pool_size=10, max_overflow=20, pool_pre_ping=True)
async_session = async_sessionmaker(engine, expire_on_commit=False)


class Base(DeclarativeBase):
    pass


async def get_session() -> AsyncIterator[AsyncSession]:
    async with async_session() as session:
        yield session
'''

MODEL_HEAD = '''"""ORM models for the {e} domain."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from svc.db import Base
'''

SERVICE_HEAD = '''"""Business logic for {E} records."""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from svc.db import async_session
from svc.models.{e} import {E}

logger = logging.getLogger(__name__)
_pending: set[asyncio.Task[None]] = set()


async def _count_{e}(session: AsyncSession, active_only: bool = False) -> int:
    stmt = select(func.count()).select_from({E})
    if active_only:
        stmt = stmt.where({E}.is_active.is_(True))
    return int(await session.scalar(stmt) or 0)


async def _refresh_{e}_cache(item_id: int) -> None:
    await asyncio.sleep(0)
    logger.debug("refreshed cache for {e} %s", item_id)
'''

ROUTER_HEAD = '''"""HTTP routes for {E}."""
from __future__ import annotations

import asyncio
import time

from fastapi import APIRouter, BackgroundTasks, Depends, HTTPException, status
from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from svc.db import async_session, get_session
from svc.models.{e} import {E}

router = APIRouter(prefix="/{table}", tags=["{table}"])


class {E}In(BaseModel):
    {f1}: {f1t}
    {f2}: {f2t}


class {E}Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    {f1}: {f1t}
    {f2}: {f2t}


async def notify_{e}_changed(item_id: int) -> None:
    await asyncio.sleep(0)
'''

WORKER_HEAD = '''"""Background workers for {E}."""
from __future__ import annotations

import asyncio
import logging
import time

import httpx
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from svc.db import async_session
from svc.models.{e} import {E}

logger = logging.getLogger(__name__)
_tasks: set[asyncio.Task[None]] = set()


async def _push_{e}(client: httpx.AsyncClient, item_id: int) -> None:
    response = await client.post("/sync/{table}", json={{"id": item_id}})
    response.raise_for_status()
'''

CLIENT_HEAD = '''"""HTTP client for the remote {E} service."""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import httpx

from svc.db import async_session
from svc.models.{e} import {E}

logger = logging.getLogger(__name__)
BASE_URL = "http://localhost:{port}"


class {E}Client:
    def __init__(self, client: httpx.AsyncClient | None = None) -> None:
        self._client = client or httpx.AsyncClient(base_url=BASE_URL, timeout=10.0)

    async def aclose(self) -> None:
        await self._client.aclose()
'''

HEADS = {
    "models": MODEL_HEAD,
    "services": SERVICE_HEAD,
    "routers": ROUTER_HEAD,
    "workers": WORKER_HEAD,
    "clients": CLIENT_HEAD,
}

# ---------------------------------------------------------------- unit templates

MODEL_CLASS = """

class {C}(Base):
    __tablename__ = "{ctable}"

    id: Mapped[int] = mapped_column(primary_key=True)
{cols}
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    updated_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), onupdate=func.now())
{rel}
    def __repr__(self) -> str:
        return f"<{C} id={{self.id}}>"
"""

SERVICE_OK = [
    """

async def get_{e}_{n}(session: AsyncSession, item_id: int) -> {E} | None:
    result = await session.execute(select({E}).where({E}.id == item_id))
    return result.scalar_one_or_none()
""",
    """

async def list_{e}_{n}(session: AsyncSession, offset: int = 0, limit: int = {limit}) -> Sequence[{E}]:
    stmt = select({E}).order_by({E}.id).offset(offset).limit(limit)
    result = await session.scalars(stmt)
    return result.all()
""",
    """

async def create_{e}_{n}({f1}: {f1t}, {f2}: {f2t}) -> int:
    async with async_session() as session:
        async with session.begin():
            row = {E}({f1}={f1}, {f2}={f2})
            session.add(row)
            await session.flush()
            return row.id
""",
    """

async def archive_{e}_{n}(owner_id: int) -> int:
    async with async_session() as session:
        result = await session.execute(
            update({E}).where({E}.owner_id == owner_id).values(archived=True)
        )
        await session.commit()
        logger.info("archived %d {e} rows for %s", result.rowcount, owner_id)
        return result.rowcount
""",
    """

async def purge_{e}_{n}(session: AsyncSession, ids: list[int]) -> None:
    if not ids:
        return
    try:
        await session.execute(delete({E}).where({E}.id.in_(ids)))
        await session.commit()
    except Exception:
        await session.rollback()
        raise
""",
    """

async def stats_{e}_{n}() -> dict[str, int]:
    async def count(active_only: bool) -> int:
        async with async_session() as session:
            return await _count_{e}(session, active_only=active_only)

    total, active = await asyncio.gather(count(False), count(True))
    return {{"total": total, "active": active}}
""",
    """

async def touch_{e}_{n}(item_id: int) -> None:
    task = asyncio.create_task(_refresh_{e}_cache(item_id))
    _pending.add(task)
    task.add_done_callback(_pending.discard)
""",
    """

async def rename_{e}_{n}(session: AsyncSession, item_id: int, value: {f1t}) -> bool:
    row = await session.get({E}, item_id)
    if row is None:
        return False
    row.{f1} = value
    await session.commit()
    return True
""",
]

ROUTER_OK = [
    """

@router.get("/{n}/{{item_id}}", response_model={E}Out)
async def read_{e}_{n}(item_id: int, session: AsyncSession = Depends(get_session)) -> {E}:
    row = await session.get({E}, item_id)
    if row is None:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail="{E} not found")
    return row
""",
    """

@router.get("/{n}", response_model=list[{E}Out])
async def list_{e}_{n}(
    offset: int = 0, limit: int = {limit}, session: AsyncSession = Depends(get_session)
) -> list[{E}]:
    result = await session.scalars(select({E}).offset(offset).limit(limit))
    return list(result.all())
""",
    """

@router.post("/{n}", response_model={E}Out, status_code=status.HTTP_201_CREATED)
async def create_{e}_{n}(
    body: {E}In, background_tasks: BackgroundTasks, session: AsyncSession = Depends(get_session)
) -> {E}:
    row = {E}(**body.model_dump())
    session.add(row)
    await session.commit()
    await session.refresh(row)
    background_tasks.add_task(notify_{e}_changed, row.id)
    return row
""",
    """

@router.patch("/{n}/{{item_id}}", response_model={E}Out)
async def update_{e}_{n}(
    item_id: int, body: {E}In, session: AsyncSession = Depends(get_session)
) -> {E}:
    row = await session.get({E}, item_id)
    if row is None:
        raise HTTPException(status_code=404, detail="{E} not found")
    for key, value in body.model_dump(exclude_unset=True).items():
        setattr(row, key, value)
    await session.commit()
    await session.refresh(row)
    return row
""",
    """

@router.delete("/{n}/{{item_id}}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_{e}_{n}(item_id: int, session: AsyncSession = Depends(get_session)) -> None:
    row = await session.get({E}, item_id)
    if row is not None:
        await session.delete(row)
        await session.commit()
""",
    """

@router.get("/{n}/count")
async def count_{e}_{n}(session: AsyncSession = Depends(get_session)) -> dict[str, int]:
    total = await session.scalar(select(func.count()).select_from({E}))
    return {{"count": int(total or 0)}}
""",
]

WORKER_OK = [
    """

async def sync_{e}_{n}(batch: int = {limit}) -> int:
    async with async_session() as session:
        rows = (await session.scalars(select({E}).where({E}.archived.is_(False)).limit(batch))).all()
    async with httpx.AsyncClient(base_url="http://localhost:{port}") as client:
        for row in rows:
            await _push_{e}(client, row.id)
    return len(rows)
""",
    """

async def poll_{e}_{n}(item_id: int, attempts: int = {retries}) -> bool:
    for attempt in range(attempts):
        async with async_session() as session:
            row = await session.get({E}, item_id)
            if row is not None and row.is_active:
                return True
        logger.debug("{e} %s not ready (attempt %d)", item_id, attempt)
        await asyncio.sleep({delay})
    return False
""",
    """

async def run_{e}_loop_{n}(stop: asyncio.Event) -> None:
    while not stop.is_set():
        async with async_session() as session:
            await session.execute(update({E}).where({E}.score < 0).values(score=0))
            await session.commit()
        try:
            await asyncio.wait_for(stop.wait(), timeout={delay})
        except asyncio.TimeoutError:
            continue
""",
    """

def schedule_{e}_{n}(item_ids: list[int]) -> None:
    for item_id in item_ids:
        task = asyncio.create_task(poll_{e}_status_{n}(item_id))
        _tasks.add(task)
        task.add_done_callback(_tasks.discard)


async def poll_{e}_status_{n}(item_id: int) -> None:
    await asyncio.sleep({delay})
    logger.info("checked {e} %s", item_id)
""",
]

CLIENT_OK = [
    """

    async def fetch_{n}(self, item_id: int) -> dict[str, Any]:
        response = await self._client.get(f"/{table}/{{item_id}}")
        response.raise_for_status()
        return response.json()
""",
    """

    async def push_{n}(self, payload: dict[str, Any], retries: int = {retries}) -> bool:
        for attempt in range(retries):
            try:
                response = await self._client.post("/{table}", json=payload)
                response.raise_for_status()
                return True
            except httpx.HTTPError as exc:
                logger.warning("push {e} failed (%s), attempt %d", exc, attempt)
                await asyncio.sleep({delay} * (attempt + 1))
        return False
""",
    """

    async def mirror_{n}(self, item_id: int) -> None:
        data = await self.fetch_{n}_raw(item_id)
        async with async_session() as session:
            row = await session.get({E}, item_id)
            if row is not None:
                row.{f1} = data.get("{f1}", row.{f1})
                await session.commit()

    async def fetch_{n}_raw(self, item_id: int) -> dict[str, Any]:
        response = await self._client.get(f"/{table}/{{item_id}}/raw")
        return response.json()
""",
]

# Anti-pattern variants: kind -> template per file kind. The line recorded in
# ANTIPATTERNS.json is the first one of the unit that MARKERS[kind] accepts.
MARKERS: dict[str, Callable[[str], bool]] = {
    "bare_session": lambda line: line.strip() == "session = async_session()",
    "time_sleep": lambda line: line.strip().startswith("time.sleep("),
    "dangling_task": lambda line: line.strip().startswith("asyncio.create_task("),
    "unawaited_commit": lambda line: line.strip() == "session.commit()",
    "gather_shared_session": lambda line: "asyncio.gather(" in line,
    "commit_except_pass": lambda line: line.strip() == "await session.commit()",
}
BAD: dict[str, dict[str, str]] = {
    "bare_session": {
        "services": """

async def load_{e}_{n}(item_id: int) -> {E} | None:
    session = async_session()
    result = await session.execute(select({E}).where({E}.id == item_id))
    return result.scalar_one_or_none()
""",
        "routers": """

@router.get("/{n}/legacy/{{item_id}}", response_model={E}Out)
async def legacy_read_{e}_{n}(item_id: int) -> {E}:
    session = async_session()
    row = await session.get({E}, item_id)
    await session.close()
    if row is None:
        raise HTTPException(status_code=404, detail="{E} not found")
    return row
""",
        "workers": """

async def recount_{e}_{n}() -> int:
    session = async_session()
    rows = (await session.scalars(select({E}).limit({limit}))).all()
    return sum(row.score for row in rows)
""",
    },
    "time_sleep": {
        "services": """

async def wait_for_{e}_{n}(item_id: int, attempts: int = {retries}) -> bool:
    async with async_session() as session:
        for _ in range(attempts):
            row = await session.get({E}, item_id)
            if row is not None and row.is_active:
                return True
            time.sleep({delay})
    return False
""",
        "workers": """

async def throttled_sync_{e}_{n}(item_ids: list[int]) -> None:
    async with httpx.AsyncClient(base_url="http://localhost:{port}") as client:
        for item_id in item_ids:
            await _push_{e}(client, item_id)
            time.sleep({delay})
""",
        "clients": """

    async def backoff_{n}(self, item_id: int) -> dict[str, Any]:
        for attempt in range({retries}):
            response = await self._client.get(f"/{table}/{{item_id}}")
            if response.status_code != 429:
                return response.json()
            time.sleep({delay} * attempt)
        raise RuntimeError("rate limited")
""",
    },
    "dangling_task": {
        "services": """

async def touch_later_{e}_{n}(item_id: int) -> None:
    asyncio.create_task(_refresh_{e}_cache(item_id))
    logger.debug("scheduled refresh for %s", item_id)
""",
        "routers": """

@router.post("/{n}/{{item_id}}/ping")
async def ping_{e}_{n}(item_id: int) -> dict[str, str]:
    asyncio.create_task(notify_{e}_changed(item_id))
    return {{"status": "queued"}}
""",
        "workers": """

async def kick_{e}_{n}(item_ids: list[int]) -> None:
    for item_id in item_ids:
        asyncio.create_task(check_{e}_{n}(item_id))


async def check_{e}_{n}(item_id: int) -> None:
    await asyncio.sleep({delay})
""",
    },
    "unawaited_commit": {
        "services": """

async def set_{f1}_{e}_{n}(session: AsyncSession, item_id: int, value: {f1t}) -> None:
    row = await session.get({E}, item_id)
    if row is None:
        return
    row.{f1} = value
    session.commit()
""",
        "routers": """

@router.put("/{n}/{{item_id}}/activate")
async def activate_{e}_{n}(item_id: int, session: AsyncSession = Depends(get_session)) -> dict[str, bool]:
    row = await session.get({E}, item_id)
    if row is None:
        raise HTTPException(status_code=404, detail="{E} not found")
    row.is_active = True
    session.commit()
    return {{"ok": True}}
""",
        "workers": """

async def reset_{e}_{n}() -> None:
    async with async_session() as session:
        await session.execute(update({E}).values(score=0))
        session.commit()
""",
    },
    "gather_shared_session": {
        "services": """

async def summary_{e}_{n}(session: AsyncSession) -> dict[str, int]:
    total, active = await asyncio.gather(
        _count_{e}(session),
        _count_{e}(session, active_only=True),
    )
    return {{"total": total, "active": active}}
""",
        "routers": """

@router.get("/{n}/summary")
async def summary_{e}_{n}(session: AsyncSession = Depends(get_session)) -> dict[str, int]:
    total, latest = await asyncio.gather(
        session.scalar(select(func.count()).select_from({E})),
        session.scalar(select(func.max({E}.id))),
    )
    return {{"total": int(total or 0), "latest": int(latest or 0)}}
""",
    },
    "commit_except_pass": {
        "services": """

async def save_{e}_{n}(session: AsyncSession, row: {E}) -> None:
    session.add(row)
    try:
        await session.commit()
    except Exception:
        pass
""",
        "workers": """

async def mark_{e}_{n}(item_id: int) -> None:
    async with async_session() as session:
        await session.execute(update({E}).where({E}.id == item_id).values(archived=True))
        try:
            await session.commit()
        except Exception:
            pass
""",
    },
}

GOOD: dict[str, list[str]] = {
    "services": SERVICE_OK,
    "routers": ROUTER_OK,
    "workers": WORKER_OK,
    "clients": CLIENT_OK,
}


# ---------------------------------------------------------------- generation


def make_domain(index: int, rng: random.Random) -> Domain:
    base = ENTITIES[index % len(ENTITIES)]
    suffix = "" if index < len(ENTITIES) else str(index // len(ENTITIES) + 1)
    entity = f"{base}{suffix}"
    mod = snake(base) + suffix
    fields = [f for f in FIELDS if f[0] in ("is_active", "archived", "owner_id", "score")]
    extra = [f for f in FIELDS if f not in fields]
    fields += rng.sample(extra, rng.randint(2, len(extra)))
    return Domain(entity, mod, f"{mod}s", fields)


def model_class(d: Domain, sub: str, rng: random.Random) -> str:
    cls = d.entity if not sub else f"{d.entity}{sub}"
    fields = d.fields if not sub else rng.sample(d.fields, rng.randint(2, 4))
    cols = "\n".join(
        f"    {name}: Mapped[{pyt}] = mapped_column({sqlt}, default={dflt})"
        for name, pyt, sqlt, dflt in fields
    )
    rel = ""
    if sub:
        cols += (
            f'\n    parent_id: Mapped[int] = mapped_column(ForeignKey("{d.table}.id"), index=True)'
        )
        rel = f'    parent: Mapped["{d.entity}"] = relationship(lazy="raise")\n\n'
    else:
        rel = "\n"
    table = d.table if not sub else f"{d.mod}_{snake(sub)}s"
    return MODEL_CLASS.format(C=cls, ctable=table, cols=cols, rel=rel)


def antipattern_for(kind: str, rng: random.Random, inj: Injector) -> str | None:
    """The least-injected anti-pattern this kind of file can hold (ties: random).

    Balances the kinds, and even a tiny (smoke) corpus gets every one of them.
    """
    choices = [name for name in ANTIPATTERNS if kind in BAD[name]]
    if not choices:
        return None
    fewest = min(inj.counts.get(name, 0) for name in choices)
    return rng.choice([name for name in choices if inj.counts.get(name, 0) == fewest])


def render_file(kind: str, d: Domain, rng: random.Random, inj: Injector, rel: str) -> str:
    """One module of the given kind, 200-600 lines, units appended until long enough."""
    target = rng.randint(200, 600)
    head = HEADS[kind].format(**Ctx(d, 0, rng).values())
    parts = [head]
    lines = head.count("\n")
    inj.lines_since += lines
    n = 0
    subs = iter(rng.sample(SUB_MODELS, len(SUB_MODELS)) + [f"X{i}" for i in range(10_000)])
    while lines < target:
        n += 1
        if kind == "models":
            text = model_class(d, "" if n == 1 else next(subs), rng)
        else:
            text = _service_unit(kind, d, n, rng, inj, rel, lines)
        parts.append(text)
        added = text.count("\n")
        lines += added
        inj.lines_since += added
    return "".join(parts)


def _service_unit(
    kind: str, d: Domain, n: int, rng: random.Random, inj: Injector, rel: str, lines: int
) -> str:
    values = Ctx(d, n, rng).values()
    bad = antipattern_for(kind, rng, inj) if inj.due() else None
    if bad is not None:
        text = BAD[bad][kind].format(**values)
        offset = next(i for i, line in enumerate(text.split("\n")) if MARKERS[bad](line))
        inj.record(rel, lines + offset + 1, bad)
        return text
    return rng.choice(GOOD[kind]).format(**values)


def plan(rng: random.Random) -> Iterator[tuple[str, Domain]]:
    """(kind, domain) forever: each domain gets one file of every kind."""
    for index in itertools.count():
        dom = make_domain(index, rng)
        for kind in KINDS:
            yield kind, dom


def generate(out: Path, lines: int, seed: int = DEFAULT_SEED) -> dict[str, int]:
    """Write the project under ``out`` (created); returns counts per anti-pattern kind."""
    rng = random.Random(f"{seed}:{lines}")
    pkg = out / "svc"
    for kind in KINDS:
        (pkg / kind).mkdir(parents=True, exist_ok=True)
        (pkg / kind / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text('"""Synthetic FastAPI + async SQLAlchemy service."""\n')
    (pkg / "db.py").write_text(DB_PY)
    inj = Injector(random.Random(seed))
    total = DB_PY.count("\n") + 1
    files = plan(rng)
    while total < lines:
        kind, dom = next(files)
        rel = f"svc/{kind}/{dom.mod}.py"
        text = render_file(kind, dom, rng, inj, rel)
        (out / rel).write_text(text)
        total += text.count("\n")
    (out / "ANTIPATTERNS.json").write_text(json.dumps(inj.found, indent=0))
    return dict(sorted(inj.counts.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args()
    counts = generate(args.out, args.lines, args.seed)
    print(json.dumps({"lines": args.lines, "antipatterns": counts}, sort_keys=True))


if __name__ == "__main__":
    main()
