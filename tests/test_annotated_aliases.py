"""Module-level ``Annotated`` aliases of other types next to a session alias (the
full-stack FastAPI layout: ``SessionDep`` and ``CurrentUser``) must not send the shared
session matcher into endless recursion, and ``annotation_types`` sees through them."""

from __future__ import annotations

from pathlib import Path

from asyncmend.engine import run

MODULE = """\
from typing import Annotated

from fastapi import APIRouter, Depends
from sqlalchemy.ext.asyncio import AsyncSession

from .deps import get_current_user, get_session
from .models import User

router = APIRouter()
SessionDep = Annotated[AsyncSession, Depends(get_session)]
CurrentUser = Annotated[User, Depends(get_current_user)]


@router.post("/welcome")
async def welcome(session: SessionDep, user: CurrentUser) -> None:
    await send_welcome_email(user)


async def send_welcome_email(user: User) -> None: ...
"""


def test_two_aliases_are_checked_without_internal_errors(tmp_path: Path) -> None:
    path = tmp_path / "routes.py"
    path.write_text(MODULE)
    report = run([str(path)], select=["AM101", "AM401"], jobs=1, preview=True)
    assert not report.internal_errors, report.internal_errors
    assert [f.code for f in report.findings] == ["AM401"]
