"""The demo app reports exactly its seeded session and missing-await instances."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import asyncmend, seeded_markers

CODES = ("AM102", "AM103", "AM104", "AM204")


def test_demo_reports_exactly_the_seeded_session_findings(demo_copy: Path) -> None:
    result = asyncmend(
        "check", ".", "--select", ",".join(CODES), "--format", "json", "--no-cache", cwd=demo_copy
    )
    assert result.returncode == 1, result.stderr
    findings = json.loads(result.stdout)
    reported = {(Path(f["filename"]).as_posix(), f["location"]["row"], f["code"]) for f in findings}
    seeded = seeded_markers(demo_copy, CODES)
    assert {code for _, _, code in seeded} == set(CODES), "every code has a seeded instance"
    assert reported == seeded


def test_demo_fix_awaits_the_seeded_coroutines(demo_copy: Path) -> None:
    result = asyncmend("fix", ".", "--select", "AM204", "--no-cache", cwd=demo_copy)
    assert result.returncode == 0, result.stdout + result.stderr
    orders = (demo_copy / "app" / "services" / "orders.py").read_text()
    assert "return (await session.execute(query)).scalars().first()  # seeded: AM204" in orders
    assert "    await session.commit()  # seeded: AM204" in orders
    again = asyncmend("check", ".", "--select", "AM204", "--no-cache", cwd=demo_copy)
    assert again.returncode == 0, again.stdout
