"""Interactive review and SARIF attribute a fix's hunks to its finding even when the fix
edits other lines than the finding's (a refresh inserted after the commit, findings
below it), and after a partial review the remaining findings are reported against the
file as written."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import asyncmend

FAR_EDIT = """\
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.models import User

# The app's one factory keeps the default expire_on_commit=True (AM303 needs to know).
SessionFactory = async_sessionmaker(expire_on_commit=True)


async def create_user(session: AsyncSession, email: str) -> int:
    user = User(email=email)
    session.add(user)
    await session.commit()
    count = 1
    other = 2
    return user.id + count + other
"""

HEADER = """\
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

engine = create_async_engine("sqlite+aiosqlite://")
async_session = async_sessionmaker(engine)
"""
CLOSES = """

async def list_orders(user_id: int) -> list[int]:
    session = async_session()
    result = await session.execute(user_id)
    orders = list(result.scalars())
    await session.close()
    return orders
"""
FILLER = "".join(
    f"\n\ndef helper_{i}(value: int) -> int:\n    return value + {i}\n" for i in range(3)
)
GETS = """

async def get_user(user_id: int) -> int:
    session = async_session()
    result = await session.execute(user_id)
    return result.scalar_one_or_none()
"""


def test_sarif_carries_a_fix_that_edits_other_lines(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text(FAR_EDIT)
    result = asyncmend("check", "--format", "sarif", "a.py", cwd=tmp_path)
    [item] = json.loads(result.stdout)["runs"][0]["results"]
    assert item["ruleId"] == "AM303"
    [change] = item["fixes"][0]["artifactChanges"]
    assert change["replacements"][0]["insertedContent"]["text"].strip() == (
        "await session.refresh(user)"
    )


def test_a_rejected_fix_elsewhere_keeps_its_finding(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text(FAR_EDIT)
    result = asyncmend("fix", "-i", "a.py", cwd=tmp_path, stdin="n\n")
    assert "AM303 read-after-commit" in result.stdout  # the hunk is labelled with it
    assert "needed by the fixes" not in result.stdout
    assert "a.py:15:12: AM303" in result.stdout  # and it is reported as remaining
    assert result.returncode == 1
    assert (tmp_path / "a.py").read_text() == FAR_EDIT


def test_remaining_findings_are_on_the_lines_of_the_file_as_written(tmp_path: Path) -> None:
    """Accept the first fix (it removes a line: `await session.close()`), reject the
    second: the second is reported on the line where it now is."""
    (tmp_path / "a.py").write_text(HEADER + CLOSES + FILLER + GETS)
    result = asyncmend("fix", "-i", "a.py", cwd=tmp_path, stdin="y\nn\n")
    assert "Accepted 1 hunk(s), rejected 1; wrote 1 file(s)." in result.stdout
    written = (tmp_path / "a.py").read_text().splitlines()
    line = written.index("    session = async_session()") + 1
    reported = [row for row in result.stdout.splitlines() if row.startswith("a.py:")]
    assert reported == [reported[0]] and reported[0].startswith(f"a.py:{line}:5: AM101")
