"""Faults: the main process killed or interrupted (workers die with it, nothing is left
in the temp folder or the tree, every file is either as it was or fully fixed, a rerun
completes), and resource bounds on workers."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import entry_point

HEAD = """from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

engine = create_async_engine("sqlite+aiosqlite://")
async_session = async_sessionmaker(engine)
"""
FUNCTION = """

async def get_{n}(user_id: int):
    session = async_session()
    result = await session.execute(select(1).where(user_id == {n}))
    return result.scalar_one_or_none()
"""


def _tree(root: Path, files: int, functions: int) -> dict[str, bytes]:
    src = root / "src"
    src.mkdir()
    (root / "pyproject.toml").write_text("[tool.asyncmend]\n")
    body = (HEAD + "".join(FUNCTION.format(n=n) for n in range(functions))).encode()
    for number in range(files):
        (src / f"m{number}.py").write_bytes(body)
    return {f"m{n}.py": body for n in range(files)}


def _start(root: Path, *args: str) -> tuple[subprocess.Popen[bytes], Path]:
    tmp = root / "tmpdir"
    tmp.mkdir(exist_ok=True)
    env = {**os.environ, "NO_COLOR": "1", "TMPDIR": str(tmp)}
    env["ASYNCMEND_CACHE_DIR"] = str(root / "cache")
    process = subprocess.Popen(
        [entry_point(), *args], cwd=root, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    return process, tmp


def _children(pid: int) -> set[int]:
    found = set()
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        found.update(int(p) for p in task.read_text().split())
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _wait_for_workers(process: subprocess.Popen[bytes], count: int) -> set[int]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        workers = _children(process.pid)
        if len(workers) >= count:
            return workers
        assert process.poll() is None, process.communicate()
        time.sleep(0.05)
    raise AssertionError("the pool never started")


def _wait_gone(pids: set[int]) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.1)
    left = [p for p in pids if _alive(p)]
    for pid in left:  # do not leave them behind even when the test fails
        os.kill(pid, signal.SIGKILL)
    assert not left, f"workers outlived the main process: {left}"


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL])
def test_workers_die_with_the_main_process(tmp_path: Path, signum: int) -> None:
    _tree(tmp_path, files=30, functions=12)
    process, tmp = _start(tmp_path, "check", "--no-cache", "-j", "2", "src")
    workers = _wait_for_workers(process, 1)  # -j 2: the main process and one worker
    time.sleep(0.3)
    process.send_signal(signum)
    process.communicate(timeout=60)
    _wait_gone(workers)
    assert list(tmp.iterdir()) == []  # no job file, nothing else


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
def test_jobs_are_capped_at_the_cpu_count(tmp_path: Path) -> None:
    _tree(tmp_path, files=30, functions=6)
    process, _ = _start(tmp_path, "check", "--no-cache", "-j", "64", "src")
    workers = _wait_for_workers(process, 1)
    most = len(workers)
    while process.poll() is None:
        most = max(most, len(_children(process.pid)))
        time.sleep(0.05)
    process.communicate()
    assert most < len(os.sched_getaffinity(0))  # the main process computes too


def test_fix_killed_at_random_points_leaves_every_file_whole(tmp_path: Path) -> None:
    """SIGKILL (no clean-up possible) and SIGTERM at random moments of `fix` over a
    tree: each file is either its original bytes or the fully fixed ones, and a rerun
    fixes the rest and leaves no temp file anywhere."""
    originals = _tree(tmp_path, files=48, functions=6)
    src = tmp_path / "src"
    fixed_body = None
    rng = random.Random(11)
    for signum in (signal.SIGKILL, signal.SIGTERM, signal.SIGKILL):
        process, tmp = _start(tmp_path, "fix", "--no-cache", "-j", "2", "src")
        time.sleep(rng.uniform(0.5, 4.0))
        process.send_signal(signum)
        process.communicate(timeout=120)
        assert list(tmp.iterdir()) == []
        for name, body in originals.items():
            now = (src / name).read_bytes()
            if now != body:
                fixed_body = fixed_body or now
                assert now == fixed_body, f"{name} is neither original nor fully fixed"
    process, _ = _start(tmp_path, "fix", "--no-cache", "-j", "2", "src")
    _out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    bodies = {(src / name).read_bytes() for name in originals}
    assert len(bodies) == 1 and bodies != {next(iter(originals.values()))}
    assert sorted(p.name for p in src.iterdir()) == sorted(originals)
