"""Shared test helpers: the installed entry point, temp copies of fixtures."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
DEMO = FIXTURES / "demo"


def entry_point() -> str:
    """The installed ``asyncmend`` script (the one a user runs)."""
    candidate = Path(sys.executable).parent / "asyncmend"
    found = str(candidate) if candidate.exists() else shutil.which("asyncmend")
    assert found, "the asyncmend entry point is not installed (pip install -e '.[test]')"
    return found


def asyncmend(*args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the installed CLI as a user would, in ``cwd``."""
    env = {**os.environ, "NO_COLOR": "1", "ASYNCMEND_CACHE_DIR": str(cwd / ".asyncmend_cache")}
    return subprocess.run(
        [entry_point(), *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


@pytest.fixture
def demo_copy(tmp_path: Path) -> Path:
    """A fresh copy of fixtures/demo, inside its own folder under tmp_path."""
    target = tmp_path / "demo"
    shutil.copytree(DEMO, target, ignore=shutil.ignore_patterns("__pycache__", "*.db"))
    return target


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.py"))}


_SEEDED = re.compile(r"#\s*seeded:\s*([A-Z0-9, ]+)")


def seeded_markers(root: Path, codes: Iterable[str]) -> set[tuple[str, int, str]]:
    """``(path relative to root, line, code)`` of every ``# seeded: CODE`` marker in the
    demo app under ``root``, for the given codes."""
    wanted = set(codes)
    found = set()
    for path in sorted(root.rglob("*.py")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            match = _SEEDED.search(line)
            if match:
                for code in match.group(1).replace(" ", "").split(","):
                    if code in wanted:
                        found.add((path.relative_to(root).as_posix(), number, code))
    return found


@pytest.fixture(autouse=True, scope="session")
def _private_user_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterable[None]:
    """The user's cache folder (the cache's signing key) lives in a temp folder during the
    tests, for the CLI subprocesses too: nothing is left in the real home."""
    previous = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("user-cache"))
    yield
    if previous is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = previous
