"""The demo app: AM201-AM203 report exactly the lines seeded for them, through the CLI
a user runs (``asyncmend check fixtures/demo --select AM201,AM202,AM203``)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from conftest import asyncmend

CODES = ("AM201", "AM202", "AM203")
_SEEDED = re.compile(r"#\s*seeded:\s*(AM\d+)")


def _seeded(root: Path) -> set[tuple[str, int, str]]:
    found = set()
    for path in sorted(root.rglob("*.py")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            for code in _SEEDED.findall(line):
                if code in CODES:
                    found.add((path.relative_to(root).as_posix(), number, code))
    return found


def test_demo_reports_exactly_the_seeded_concurrency_findings(demo_copy: Path) -> None:
    expected = _seeded(demo_copy)
    assert {code for _, _, code in expected} == set(CODES), "every code is seeded once at least"
    result = asyncmend(
        "check", ".", "--select", ",".join(CODES), "--format", "json", "--no-cache", cwd=demo_copy
    )
    assert result.returncode == 1, result.stderr
    findings = json.loads(result.stdout)
    actual = {
        (Path(f["filename"]).as_posix().removeprefix("./"), f["location"]["row"], f["code"])
        for f in findings
    }
    assert actual == expected


def test_demo_fix_is_idempotent_and_clears_the_concurrency_findings(demo_copy: Path) -> None:
    codes = ",".join(CODES)
    first = asyncmend("fix", ".", "--select", codes, "--unsafe-fixes", "--no-cache", cwd=demo_copy)
    assert first.returncode == 0, first.stdout + first.stderr
    again = asyncmend("check", ".", "--select", codes, "--no-cache", cwd=demo_copy)
    assert again.returncode == 0, again.stdout
    for path in demo_copy.rglob("*.py"):
        compile(path.read_bytes(), str(path), "exec", dont_inherit=True)
