"""False negative seen on real code: a sync Session from Depends in an async dependency."""

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from app.db import get_sync_session
from app.models import AuditRow

SyncDb = Annotated[Session, Depends(get_sync_session)]


async def audit(request: Request, session: SyncDb) -> None:
    session.add(AuditRow(path=request.url.path))
    session.commit()  # expect: AM205
