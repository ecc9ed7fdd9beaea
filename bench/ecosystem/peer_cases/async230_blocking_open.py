"""Peer: ruff/flake8-async ASYNC230 (blocking open call in async function). Ours: AM205."""

import io
from pathlib import Path

import anyio


async def read_config(p: str) -> str:
    with open(p) as fh:  # expect: AM205
        return fh.read()


async def open_discarded(p: str) -> None:
    open(p).close()  # expect: AM205


async def open_among_others(p: str, lock) -> None:
    with lock, open(p, "w") as fh:  # expect: AM205
        fh.write("x")


async def io_open(p: str) -> bytes:
    with io.open(p, "rb") as fh:  # expect: AM205
        return fh.read()


async def pathlib_open(p: Path) -> str:
    with p.open() as fh:  # expect: AM205
        return fh.read()


async def pathlib_read_text() -> str:
    return Path("settings.toml").read_text()  # expect: AM205


async def anyio_file(p: str) -> str:
    async with await anyio.open_file(p) as fh:  # ok
        return await fh.read()


class Door:
    def open(self) -> None:
        pass


async def unrelated_open_method(d: Door) -> None:
    d.open()  # ok


async def shadowed_open() -> None:
    def open(x: str) -> str:  # noqa: A001
        return x

    open("not a file")  # ok


def sync_read(p: str) -> str:
    with open(p) as fh:  # ok
        return fh.read()
