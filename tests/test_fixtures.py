"""Every rule's before/after cases (see ``fixture_cases``), plus the invariants each
case must keep: fixed output compiles, and fixing twice equals fixing once."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from fixture_cases import KINDS, Case, all_cases

from asyncmend.codemods.registry import all_rules
from asyncmend.engine import run

CASES = all_cases()


def _run(case: Case, root: Path, *, fix: bool):  # type: ignore[no-untyped-def]
    config = case.config
    # AM001 judges the suppressions of the other rules, so its cases run them all.
    return run(
        [str(root)],
        select=["AM"] if case.code == "AM001" else [case.code],
        fix=fix,
        unsafe_fixes=True,
        preview=True,  # preview rules are tested like the others
        config_path=config,
        jobs=1,
    )


def _copy(case: Case, tmp_path: Path) -> Path:
    """A copy of the case's inputs (without the expected files) under ``tmp_path``."""
    target = tmp_path / case.path.name
    if case.path.is_file():
        target.mkdir()
        shutil.copy2(case.path, target / case.path.name)
    else:
        shutil.copytree(case.path, target, ignore=shutil.ignore_patterns("*.expected.py"))
    return target


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case(case: Case, tmp_path: Path) -> None:
    root = _copy(case, tmp_path)
    before = {p.name: p.read_bytes() for p in root.rglob("*.py")}

    report = _run(case, root, fix=True)
    assert not report.internal_errors, report.internal_errors
    found = {(Path(f.path).name, f.line) for f in report.findings if f.code == case.code}
    if case.kind == "negative":
        assert not found, f"unexpected findings: {sorted(found)}"
        assert not report.changed
        return
    assert found, "expected at least one finding"
    assert found == case.expected_findings(), "findings differ from the # expect: markers"
    if case.kind == "unfixable":
        assert not report.changed, "an unfixable case must not change"
        return

    report.apply()
    changed_any = False
    for source in case.inputs:
        rel = source.relative_to(case.path) if case.path.is_dir() else Path(source.name)
        actual = (root / rel).read_bytes()
        expected_file = case.expected_output(source)
        expected = expected_file.read_bytes() if expected_file else source.read_bytes()
        assert actual.decode("latin-1") == expected.decode("latin-1"), (
            f"{rel}: fixed output differs"
        )
        changed_any |= actual != before[source.name]
        compile(actual, str(rel), "exec", dont_inherit=True)
    assert changed_any, "a positive case must change something"

    again = _run(case, root, fix=True)
    assert not again.changed, "fixing twice must equal fixing once"


def test_every_rule_has_every_kind_of_case() -> None:
    by_rule: dict[str, set[str]] = {}
    for case in CASES:
        by_rule.setdefault(case.code, set()).add(case.kind)
    for rule in all_rules():
        kinds = by_rule.get(rule.code, set())
        wanted = set(KINDS) if rule.fix_applicability.value != "none" else {"negative", "unfixable"}
        if rule.code == "AM001":  # every unused suppression can be removed
            wanted.discard("unfixable")
        assert wanted <= kinds, f"{rule.code} lacks {sorted(wanted - kinds)} fixtures"
