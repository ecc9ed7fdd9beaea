"""AM401 false-positive class seen on real code: a `send_*` callee that only enqueues."""

import asyncio

import httpx

from fastapi import APIRouter
from pydantic import BaseModel

router = APIRouter()
telemetry_queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue()


class SignupIn(BaseModel):
    email: str


async def _send_email_event(email: str) -> None:
    await telemetry_queue.put(("signup", email))


@router.post("/signup")
async def signup(body: SignupIn) -> dict[str, bool]:
    await _send_email_event(body.email)  # ok
    return {"ok": True}


async def send_welcome_email(email: str) -> None:
    async with httpx.AsyncClient() as client:
        await client.post("https://mail.example/send", json={"to": email})


@router.post("/invite")
async def invite(body: SignupIn) -> dict[str, bool]:
    await send_welcome_email(body.email)  # expect: AM401
    return {"ok": True}
