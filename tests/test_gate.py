"""The candidate gate drops no finding and no fix: every fixture case, run with every
rule (preview included), gives exactly the same findings and fixed files with the gate
as without it (``ASYNCMEND_NO_GATE``; ``bench/gate_check.py`` does the same over the
ecosystem corpus). And the gate does skip files: a file no rule can flag is never
parsed with libcst, yet a syntax error is still AM000."""

from __future__ import annotations

from pathlib import Path

import pytest
from fixture_cases import Case, all_cases

from asyncmend.engine import process, run, syntax

CASES = all_cases()


def _outcome(case: Case, *, gate: bool, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(process, "GATE", gate)
    report = run(
        [str(case.path)],
        select=["AM"],
        fix=True,
        unsafe_fixes=True,
        preview=True,
        config_path=case.config,
        jobs=1,
    )
    assert not report.internal_errors, report.internal_errors
    findings = sorted(
        (Path(f.path).name, f.line, f.column, f.end_line, f.end_column, f.code, f.message)
        for f in report.findings
    )
    fixed = sorted((Path(r.path).name, r.fixed) for r in report.results if r.fixed is not None)
    return findings, fixed


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_gate_keeps_every_finding(case: Case, monkeypatch: pytest.MonkeyPatch) -> None:
    with_gate = _outcome(case, gate=True, monkeypatch=monkeypatch)
    without = _outcome(case, gate=False, monkeypatch=monkeypatch)
    assert with_gate == without


def _parsed(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The sources libcst parses from now on (filled as they are parsed)."""
    calls: list[bytes] = []
    original = syntax.parse_source

    def counting(path: str, data: bytes):  # type: ignore[no-untyped-def]
        calls.append(data)
        return original(path, data)

    monkeypatch.setattr(syntax, "parse_source", counting)
    return calls


def test_gate_skips_files_no_rule_can_flag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _parsed(monkeypatch)
    # Every rule's prefilter token, none of their candidates.
    (tmp_path / "quiet.py").write_text(
        "from sqlalchemy.ext.asyncio import AsyncSession\n\n\n"
        "async def read(session: AsyncSession, key: int) -> object:\n"
        "    return await session.get(object, key)\n"
    )
    (tmp_path / "broken.py").write_text("async def f(:\n    await session.commit()\n")
    report = run([str(tmp_path)], select=["AM"], jobs=1)
    # Only the file ``ast`` cannot read goes to libcst (which reads newer syntax).
    assert calls == [(tmp_path / "broken.py").read_bytes()]
    assert [(Path(f.path).name, f.code) for f in report.findings] == [("broken.py", "AM000")]


HANDLER = """from fastapi import APIRouter, BackgroundTasks, Depends
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import get_session

router = APIRouter()


@router.put("/items/{key}", response_model=dict)
async def put_item(
    key: int, tasks: BackgroundTasks, session: AsyncSession = Depends(get_session)
) -> dict:
    await session.merge(object())
BODY"""


@pytest.mark.parametrize(
    ("body", "parsed"),
    [
        ("    return {}\n", False),  # only the decorator and the default call with arguments
        ("    tasks.add_task(print, session)\n    return {}\n", True),
    ],
    ids=["decorator-only", "add-task"],
)
def test_am103_reads_no_decorator_call_as_in_the_handler(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str, parsed: bool
) -> None:
    calls = _parsed(monkeypatch)
    (tmp_path / "items.py").write_text(HANDLER.replace("BODY", body))
    report = run([str(tmp_path)], select=["AM103"], jobs=1)
    assert bool(calls) is parsed
    assert [f.code for f in report.findings] == (["AM103"] if parsed else [])
