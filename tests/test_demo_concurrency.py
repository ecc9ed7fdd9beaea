"""The demo app: AM201-AM203 report exactly the lines seeded for them, through the CLI
a user runs (``asyncmend check fixtures/demo --select AM201,AM202,AM203``)."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import asyncmend, seeded_markers

CODES = ("AM201", "AM202", "AM203")


def test_demo_reports_exactly_the_seeded_concurrency_findings(demo_copy: Path) -> None:
    expected = seeded_markers(demo_copy, CODES)
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
