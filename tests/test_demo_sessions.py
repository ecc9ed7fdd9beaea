"""The demo app reports exactly its seeded session and missing-await instances."""

from __future__ import annotations

import json
import re
from pathlib import Path

from conftest import asyncmend

CODES = ("AM102", "AM103", "AM104", "AM204")
_SEEDED = re.compile(r"#\s*seeded:\s*([A-Z0-9, ]+)")


def _seeded(root: Path) -> set[tuple[str, int, str]]:
    found = set()
    for path in sorted(root.rglob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            match = _SEEDED.search(line)
            if match:
                for code in match.group(1).replace(" ", "").split(","):
                    if code in CODES:
                        found.add((path.relative_to(root).as_posix(), number, code))
    return found


def test_demo_reports_exactly_the_seeded_session_findings(demo_copy: Path) -> None:
    result = asyncmend(
        "check", ".", "--select", ",".join(CODES), "--format", "json", "--no-cache", cwd=demo_copy
    )
    assert result.returncode == 1, result.stderr
    findings = json.loads(result.stdout)
    reported = {(Path(f["filename"]).as_posix(), f["location"]["row"], f["code"]) for f in findings}
    seeded = _seeded(demo_copy)
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
