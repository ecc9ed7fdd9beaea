"""The shipped demo app: ``asyncmend check`` reports exactly the seeded anti-patterns
(lines marked ``# seeded: CODE``) of every registered rule, and nothing on the clean
parts; fixing it is idempotent and the fixed app still compiles."""

from __future__ import annotations

import re
from pathlib import Path

from conftest import DEMO

from asyncmend.codemods.registry import all_codes
from asyncmend.engine import run

_SEEDED = re.compile(r"#\s*seeded:\s*([A-Z0-9, ]+)")


def _seeded(root: Path, codes: set[str]) -> set[tuple[str, int, str]]:
    found = set()
    for path in sorted(root.rglob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            match = _SEEDED.search(line)
            if match:
                for code in match.group(1).replace(" ", "").split(","):
                    if code in codes:
                        found.add((path.relative_to(root).as_posix(), number, code))
    return found


def test_demo_findings_are_exactly_the_seeded_ones() -> None:
    codes = set(all_codes())
    report = run([str(DEMO)], jobs=1)
    found = {(Path(f.path).relative_to(DEMO).as_posix(), f.line, f.code) for f in report.findings}
    assert found == _seeded(DEMO, codes)


def test_demo_fixed_twice_equals_once(demo_copy: Path) -> None:
    first = run([str(demo_copy)], fix=True, unsafe_fixes=True, jobs=1)
    assert not first.internal_errors
    first.apply()
    for path in demo_copy.rglob("*.py"):
        compile(path.read_bytes(), str(path), "exec", dont_inherit=True)
    second = run([str(demo_copy)], fix=True, unsafe_fixes=True, jobs=1)
    assert not second.changed
