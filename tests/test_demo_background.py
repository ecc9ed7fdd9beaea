"""`asyncmend check fixtures/demo --select AM205,AM401 --preview` reports exactly the seeded
instances of these rules (`# seeded: AMxxx` markers) and nothing else; the fixes make a
demo that still compiles."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import asyncmend, seeded_markers

CODES = ("AM205", "AM401")


def _findings(root: Path) -> tuple[int, set[tuple[str, int, str]]]:
    result = asyncmend(
        "check",
        ".",
        "--select",
        ",".join(CODES),
        "--preview",
        "--format",
        "json",
        "--no-cache",
        cwd=root,
    )
    items = json.loads(result.stdout)
    found = {(str(Path(i["filename"])), i["location"]["row"], i["code"]) for i in items}
    return result.returncode, found


def test_check_reports_exactly_the_seeded_lines(demo_copy: Path) -> None:
    expected = seeded_markers(demo_copy, CODES)
    assert {code for *_, code in expected} == set(CODES), "every code must be seeded"
    code, found = _findings(demo_copy)
    assert code == 1
    assert found == expected


def test_fix_clears_the_fixable_findings_and_compiles(demo_copy: Path) -> None:
    result = asyncmend(
        "fix",
        ".",
        "--select",
        ",".join(CODES),
        "--preview",
        "--unsafe-fixes",
        "--no-cache",
        cwd=demo_copy,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for path in demo_copy.rglob("*.py"):
        compile(path.read_bytes(), str(path), "exec", dont_inherit=True)
    users = (demo_copy / "app" / "routers" / "users.py").read_text()
    assert "background_tasks.add_task(send_welcome_email, payload.email)" in users
    clients = (demo_copy / "app" / "clients.py").read_text()
    assert "await asyncio.sleep(0.2 * 2**attempt)" in clients
    _, remaining = _findings(demo_copy)
    assert remaining == set()
