"""Fix hygiene (issue 12 §6): a line a fix re-indents past the project's line length is
split at its call's arguments, as black would; comments never move; the length comes
from ``[tool.asyncmend] line-length``, else ruff's or black's setting, else 88."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from conftest import asyncmend

from asyncmend.codemods.edits.wrap import fit_changed_lines

BEFORE = """\
async def totals(customer_id):
    session = maker()
    total = await session.scalar(select(func.sum(Invoice.amount)).where(Invoice.customer == customer_id))
    rows = await session.execute(select(Invoice).where(Invoice.customer == customer_id), execution_options={"yield_per": 500})
    kept = await session.scalar(select(func.count(Invoice.id)).where(Invoice.customer == customer_id))  # noqa: E501
"""
AFTER = (
    BEFORE.replace("    session = maker()\n", "    async with maker() as session:\n")
    .replace("\n    total", "\n        total")
    .replace("\n    rows", "\n        rows")
    .replace("\n    kept", "\n        kept")
)


def test_one_argument_goes_on_its_own_line() -> None:
    fitted = fit_changed_lines(BEFORE, AFTER, 88)
    assert (
        "        total = await session.scalar(\n"
        "            select(func.sum(Invoice.amount)).where(Invoice.customer == customer_id)\n"
        "        )\n"
    ) in fitted


def test_arguments_one_per_line_when_one_line_is_too_long() -> None:
    fitted = fit_changed_lines(BEFORE, AFTER, 88)
    assert (
        "        rows = await session.execute(\n"
        "            select(Invoice).where(Invoice.customer == customer_id),\n"
        '            execution_options={"yield_per": 500},\n'
        "        )\n"
    ) in fitted


def test_a_line_with_a_comment_is_left_alone() -> None:
    fitted = fit_changed_lines(BEFORE, AFTER, 88)
    assert "        kept = await session.scalar(select(func.count(" in fitted


def test_lines_within_the_limit_and_lines_the_fix_left_are_untouched() -> None:
    assert fit_changed_lines(BEFORE, AFTER, 200) == AFTER
    assert fit_changed_lines(AFTER, AFTER, 40) == AFTER  # already long before the fix


def test_fitting_twice_changes_nothing() -> None:
    fitted = fit_changed_lines(BEFORE, AFTER, 88)
    assert fit_changed_lines(BEFORE, fitted, 88) == fitted
    compile(fitted, "<fitted>", "exec")


SOURCE = """\
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from app.models import Invoice

async_session = async_sessionmaker(create_async_engine("sqlite+aiosqlite://"))


async def open_invoices(customer_id: int) -> list[Invoice]:
    session = async_session()
    result = await session.execute(select(Invoice).where(Invoice.customer_id == customer_id))
    return list(result.scalars())
"""
LONG_LINE = (
    "        result = await session.execute(select(Invoice).where(Invoice.customer_id == "
    "customer_id))\n"
)


def _project(tmp_path: Path, pyproject: str) -> Path:
    (tmp_path / "pyproject.toml").write_text(textwrap.dedent(pyproject))
    (tmp_path / "invoices.py").write_text(SOURCE)
    return tmp_path / "invoices.py"


@pytest.mark.parametrize(
    ("pyproject", "split"),
    [
        ('[project]\nname = "x"\n', True),  # nothing set: 88
        ("[tool.ruff]\nline-length = 100\n", False),
        ("[tool.black]\nline-length = 100\n", False),
        ("[tool.ruff]\nline-length = 100\n[tool.asyncmend]\nline-length = 88\n", True),
    ],
    ids=["default", "ruff", "black", "asyncmend-wins"],
)
def test_fix_keeps_to_the_projects_line_length(tmp_path: Path, pyproject: str, split: bool) -> None:
    target = _project(tmp_path, pyproject)
    result = asyncmend("fix", "--select", "AM101", "invoices.py", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    fixed = target.read_text()
    assert "async with async_session() as session:" in fixed
    assert (LONG_LINE not in fixed) is split
    compile(fixed, "invoices.py", "exec")
    again = asyncmend("fix", "--select", "AM101", "invoices.py", cwd=tmp_path)
    assert again.returncode == 0 and target.read_text() == fixed


def test_a_bad_line_length_is_one_line_and_exit_2(tmp_path: Path) -> None:
    target = _project(tmp_path, '[tool.asyncmend]\nline-length = "long"\n')
    result = asyncmend("fix", "invoices.py", cwd=tmp_path)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "line-length" in result.stderr
    assert target.read_text() == SOURCE


def test_lines_are_numbered_as_python_numbers_them() -> None:
    # A form feed is a line break to str.splitlines, not to Python: the long line is still
    # found (and only it is split).
    before = "x = 1\x0c  # page\n" + BEFORE
    after = "x = 1\x0c  # page\n" + AFTER
    fitted = fit_changed_lines(before, after, 88)
    assert fitted.startswith("x = 1\x0c  # page\n")
    assert "        total = await session.scalar(\n" in fitted
