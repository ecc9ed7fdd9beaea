"""The shipped demo app: ``asyncmend check`` reports exactly the seeded anti-patterns
(lines marked ``# seeded: CODE``) of every registered rule (preview ones too), and nothing on the clean
parts; fixing it is idempotent and the fixed app still compiles."""

from __future__ import annotations

from pathlib import Path

from conftest import DEMO, seeded_markers

from asyncmend.codemods.registry import all_codes
from asyncmend.engine import run


def test_demo_findings_are_exactly_the_seeded_ones() -> None:
    codes = set(all_codes())
    report = run([str(DEMO)], jobs=1, preview=True)
    found = {(Path(f.path).relative_to(DEMO).as_posix(), f.line, f.code) for f in report.findings}
    assert found == seeded_markers(DEMO, codes)


def test_demo_fixed_twice_equals_once(demo_copy: Path) -> None:
    first = run([str(demo_copy)], fix=True, unsafe_fixes=True, jobs=1, preview=True)
    assert not first.internal_errors
    first.apply()
    for path in demo_copy.rglob("*.py"):
        compile(path.read_bytes(), str(path), "exec", dont_inherit=True)
    second = run([str(demo_copy)], fix=True, unsafe_fixes=True, jobs=1, preview=True)
    assert not second.changed
