"""Session provenance through the installed CLI: findings do not depend on which paths
are given (the repo index comes from the project root), files only a newer Python can
parse still feed the index, and AM101 says what is true at the site."""

from __future__ import annotations

import shutil
from pathlib import Path

from conftest import asyncmend

FIXTURE = Path(__file__).parent.parent / "fixtures/rules/AM204/positive_session_provenance"


def _project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    shutil.copytree(FIXTURE, root, ignore=shutil.ignore_patterns("*.expected.py"))
    (root / "pyproject.toml").write_text("[project]\nname = 'proj'\n")
    return root


def _lines(output: str, file: str) -> set[str]:
    return {line.split(": AM", 1)[0] for line in output.splitlines() if file in line}


def test_one_file_sees_the_repo_facts(tmp_path: Path) -> None:
    root = _project(tmp_path)
    whole = asyncmend("check", "--select", "AM204", "--no-cache", ".", cwd=root)
    one = asyncmend("check", "--select", "AM204", "--no-cache", "app/jobs.py", cwd=root)
    inside = asyncmend("check", "--select", "AM204", "--no-cache", "jobs.py", cwd=root / "app")
    expected = _lines(whole.stdout, "jobs.py")
    assert len(expected) == 4, whole.stdout
    assert _lines(one.stdout, "jobs.py") == expected
    assert {f"app/{line}" for line in _lines(inside.stdout, "jobs.py")} == expected


def test_newer_syntax_module_still_feeds_the_index(tmp_path: Path) -> None:
    """``db.py`` uses PEP 695 and PEP 758 syntax (pass 1 falls back to libcst where the
    running Python's ``ast`` rejects it): its ``get_db`` still gives a session."""
    root = tmp_path / "proj"
    (root / "app").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'proj'\n")
    (root / "app/__init__.py").write_text("")
    (root / "app/db.py").write_text(
        "from collections.abc import AsyncIterator\n"
        "from contextlib import asynccontextmanager\n\n"
        "from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker\n\n"
        "maker = async_sessionmaker()\n"
        "type Rows = list[tuple[int, str]]\n\n\n"
        "class Box[T]:\n"
        "    item: T\n\n\n"
        "@asynccontextmanager\n"
        "async def get_db() -> AsyncIterator[AsyncSession]:\n"
        "    try:\n"
        "        async with maker() as s:\n"
        "            yield s\n"
        "    except ValueError, TypeError:\n"
        "        raise\n"
    )
    (root / "app/jobs.py").write_text(
        "from app.db import get_db\n\n\n"
        "async def purge() -> None:\n"
        "    async with get_db() as tx:\n"
        "        tx.commit()\n"
    )
    result = asyncmend("check", "--select", "AM204", "--no-cache", "app/jobs.py", cwd=root)
    assert "app/jobs.py:6:9: AM204" in result.stdout, result.stdout + result.stderr


def test_am101_message_says_only_the_success_path_closes(tmp_path: Path) -> None:
    (tmp_path / "jobs.py").write_text(
        "from sqlalchemy.ext.asyncio import async_sessionmaker\n\n"
        "maker = async_sessionmaker()\n\n\n"
        "async def job() -> None:\n"
        "    s = maker()\n"
        "    await s.execute('select 1')\n"
        "    await s.close()\n\n\n"
        "async def leak() -> None:\n"
        "    s = maker()\n"
        "    await s.execute('select 1')\n"
    )
    result = asyncmend("check", "--select", "AM101", "--no-cache", ".", cwd=tmp_path)
    assert "jobs.py:7:5: AM101" in result.stdout, result.stdout
    assert "`s` from `maker()` is not closed if an exception occurs" in result.stdout
    leak = next(line for line in result.stdout.splitlines() if "jobs.py:13:5: AM101" in line)
    assert "is never closed" in leak
