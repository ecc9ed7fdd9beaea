"""AM301 classes seen on real code: savepoints, conditional re-raise, raise after the try."""

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException
from sqlalchemy.ext.asyncio import AsyncSession

from app.deps import get_db
from app.models import Extra

DbSession = Annotated[AsyncSession, Depends(get_db)]

log = logging.getLogger(__name__)
router = APIRouter()


async def purge_stale(db: AsyncSession, job_id: int) -> None:
    await db.flush()


async def save_extras(s: AsyncSession, rows: list[Extra]) -> Exception | None:
    sp = await s.begin_nested()
    try:
        s.add_all(rows)
        await s.flush()  # ok
    except Exception as exc:
        await sp.rollback()
        return exc
    await sp.commit()
    return None


async def finish(s: AsyncSession, failed: BaseException | None) -> None:
    try:
        if failed is None:
            await s.commit()  # ok
        else:
            await s.rollback()
    except Exception:
        if failed is None:
            raise
        log.debug("cleanup failed", exc_info=True)


class JobGone(Exception):
    pass


async def fetch_remote(job_id: int) -> dict[str, str]:
    raise JobGone(job_id)


@router.get("/jobs/{job_id}")
async def read_job(job_id: int, db: DbSession) -> dict[str, str]:
    try:
        return await fetch_remote(job_id)
    except JobGone:
        try:
            await purge_stale(db, job_id)
            await db.commit()  # ok
        except Exception:
            log.warning("purge failed")
        raise HTTPException(status_code=404) from None


async def record(s: AsyncSession, row: Extra) -> bool:
    try:
        s.add(row)
        await s.commit()  # expect: AM301
    except Exception:
        log.warning("could not record")
        return False
    return True
