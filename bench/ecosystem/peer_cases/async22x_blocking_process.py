"""Peer: ruff/flake8-async ASYNC220/221/222 (blocking process calls). Ours: AM205."""

import asyncio
import os
import subprocess


async def run_tool() -> None:
    subprocess.run(["ls"], check=True)  # expect: AM205


async def capture_output() -> bytes:
    return subprocess.check_output(["date"])  # expect: AM205


async def old_style_call() -> int:
    return subprocess.call(["true"])  # expect: AM205


async def start_process() -> None:
    proc = subprocess.Popen(["sleep", "1"])  # expect: AM205
    print(proc.pid)


async def shell_out() -> int:
    return os.system("true")  # expect: AM205


async def reap_child(pid: int) -> None:
    os.waitpid(pid, 0)  # expect: AM205


async def async_subprocess() -> None:
    proc = await asyncio.create_subprocess_exec("ls")  # ok
    await proc.wait()  # ok


async def constant_only() -> int:
    return subprocess.PIPE  # ok


def sync_tool() -> None:
    subprocess.run(["ls"], check=True)  # ok
