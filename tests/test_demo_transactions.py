"""The demo app: `check --select AM301,AM302,AM303,AM304 --preview` reports exactly the lines
seeded with those codes (``# seeded: AMxxx``), and fixing them keeps the demo valid."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import DEMO, asyncmend, seeded_markers

CODES = ("AM301", "AM302", "AM303", "AM304")


def test_seeded_markers_exist() -> None:
    assert {code for _, _, code in seeded_markers(DEMO, CODES)} == set(CODES)


def test_check_reports_exactly_the_seeded_lines(demo_copy: Path) -> None:
    result = asyncmend(
        "check",
        ".",
        "--select",
        ",".join(CODES),
        "--preview",
        "--format",
        "json",
        "--no-cache",
        cwd=demo_copy,
    )
    assert result.returncode == 1, result.stderr
    findings = {
        (Path(f["filename"]).as_posix(), f["location"]["row"], f["code"])
        for f in json.loads(result.stdout)
    }
    assert findings == seeded_markers(demo_copy, CODES)


def test_fix_clears_the_findings_and_output_compiles(demo_copy: Path) -> None:
    select = ",".join(CODES)
    fixed = asyncmend(
        "fix", ".", "--select", select, "--preview", "--unsafe-fixes", "--no-cache", cwd=demo_copy
    )
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    for path in demo_copy.rglob("*.py"):
        compile(path.read_bytes(), str(path), "exec", dont_inherit=True)
    again = asyncmend("check", ".", "--select", select, "--preview", "--no-cache", cwd=demo_copy)
    assert again.returncode == 0, again.stdout
    orders = (demo_copy / "app/routers/orders.py").read_text()
    assert "order = result.scalar_one_or_none()" in orders
    assert (
        "await session.flush()  # seeded: AM302"
        in (demo_copy / "app/services/orders.py").read_text()
    )
