"""The invariants of DESIGN.md that are about the engine rather than one rule:
verified output, atomic writes that keep the mode, no write over a file that changed on
disk, unparsable files reported while the run goes on, a crashing rule contained."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import ClassVar

import libcst as cst
import pytest
from conftest import FIXTURES

from asyncmend.codemods.base import Applicability, Fix, Rule
from asyncmend.engine import process, run
from asyncmend.engine.writer import ChangedOnDiskError, write_atomic

AM101_SOURCE = (FIXTURES / "rules" / "AM101" / "positive_basic.py").read_bytes()


class _ReplaceFirstStatement(Rule):
    """A test rule that replaces the module's first statement with ``REPLACEMENT``."""

    code = "ZZ001"
    name = "test-replace"
    fix_applicability = Applicability.SAFE
    REPLACEMENT: ClassVar[str] = ""

    def visit_Module(self, node: cst.Module) -> None:
        first = node.body[0]
        new = cst.parse_module(self.REPLACEMENT).body[0]
        if first.deep_equals(new):
            return
        self.report(first, "replace", fix=Fix("replace", Applicability.SAFE, [(first, new)]))


class _NotCompiling(_ReplaceFirstStatement):
    # Parses (libcst accepts it) but does not compile: `return` outside a function.
    REPLACEMENT = "return 1\n"


class _Crashing(Rule):
    code = "ZZ002"
    name = "test-crash"

    def visit_Name(self, node: cst.Name) -> None:
        raise RuntimeError("boom")


def test_output_that_does_not_compile_is_not_written(tmp_path: Path) -> None:
    target = tmp_path / "a.py"
    target.write_bytes(b"x = 1\n")
    report = run([str(target)], rules=[_NotCompiling], fix=True, jobs=1)
    assert not report.changed
    assert report.internal_errors and "does not compile" in report.internal_errors[0]
    assert report.apply().written == []
    assert target.read_bytes() == b"x = 1\n"


def test_output_that_does_not_parse_is_not_written(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """libcst cannot normally produce unparsable code from valid nodes, so the
    verification step is checked with a last output step that emits garbage (the fixed
    text passes through the line-length fit on its way out)."""
    target = tmp_path / "a.py"
    target.write_bytes(b"x = 1\n")

    class _Garbage(_ReplaceFirstStatement):
        REPLACEMENT = "y = 2\n"

    real_fit = process.fit_changed_lines

    def broken_fit(before: str, after: str, limit: int) -> str:
        return real_fit(before, after, limit).replace("y = 2", "y = = 2")

    monkeypatch.setattr(process, "fit_changed_lines", broken_fit)
    report = run([str(target)], rules=[_Garbage], fix=True, jobs=1)
    assert not report.changed
    assert "does not parse" in report.internal_errors[0]
    assert target.read_bytes() == b"x = 1\n"


def test_a_crashing_rule_is_contained(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_bytes(b"x = 1\n")
    (tmp_path / "b.py").write_bytes(AM101_SOURCE)
    from asyncmend.codemods.registry import rule_by_code

    report = run([str(tmp_path)], rules=[_Crashing, rule_by_code("AM101")], fix=True, jobs=1)
    assert len(report.internal_errors) == 2
    assert "RuntimeError: boom" in report.internal_errors[0]
    assert not report.changed


def test_write_keeps_mode_and_leaves_no_temp_files(tmp_path: Path) -> None:
    target = tmp_path / "a.py"
    target.write_bytes(AM101_SOURCE)
    target.chmod(0o751)
    report = run([str(target)], fix=True, jobs=1)
    assert report.apply().written == [str(target)]
    assert stat.S_IMODE(target.stat().st_mode) == 0o751
    assert b"async with async_session() as session" in target.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.py"]


def test_file_changed_on_disk_is_not_overwritten(tmp_path: Path) -> None:
    target = tmp_path / "a.py"
    target.write_bytes(AM101_SOURCE)
    report = run([str(target)], fix=True, jobs=1)
    edited = AM101_SOURCE + b"\n# edited by someone else meanwhile\n"
    target.write_bytes(edited)
    outcome = report.apply()
    assert outcome.skipped == [str(target)] and outcome.written == []
    assert target.read_bytes() == edited


def test_write_atomic_refuses_stale_expectation(tmp_path: Path) -> None:
    target = tmp_path / "a.py"
    target.write_bytes(b"new\n")
    with pytest.raises(ChangedOnDiskError):
        write_atomic(target, b"fixed\n", expected=b"old\n")
    assert target.read_bytes() == b"new\n"


def test_write_atomic_replaces_through_rename(tmp_path: Path) -> None:
    """Readers never see a half-written file: the new bytes arrive as a new inode."""
    target = tmp_path / "a.py"
    target.write_bytes(b"old\n")
    inode = target.stat().st_ino
    write_atomic(target, b"fixed\n", expected=b"old\n")
    assert target.read_bytes() == b"fixed\n"
    assert target.stat().st_ino != inode


def test_unparsable_file_reported_and_others_fixed(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_bytes(b"from x import AsyncSession\ndef f(:\n")
    (tmp_path / "ok.py").write_bytes(AM101_SOURCE)
    report = run([str(tmp_path)], fix=True, jobs=1)
    codes = sorted((Path(f.path).name, f.code) for f in report.findings)
    assert codes == [("broken.py", "AM000"), ("ok.py", "AM101")]
    broken = next(f for f in report.findings if f.code == "AM000")
    assert broken.line == 2 and broken.message.startswith("Cannot parse: ")
    assert [Path(r.path).name for r in report.changed] == ["ok.py"]


def test_input_newer_than_running_python_only_needs_to_parse(tmp_path: Path) -> None:
    """Syntax the running Python cannot compile (here a 3.12 type alias) is still fixed:
    libcst parses it, and the output is checked by parsing."""
    source = AM101_SOURCE + b"\ntype UserId = int\n"
    target = tmp_path / "a.py"
    target.write_bytes(source)
    report = run([str(target)], fix=True, jobs=1)
    assert not report.internal_errors
    assert report.changed, "the AM101 fix should still apply"
    fixed = report.changed[0].fixed
    assert fixed is not None and b"type UserId = int" in fixed


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_fix_via_api_is_idempotent_on_demo(tmp_path: Path, demo_copy: Path) -> None:
    first = run([str(demo_copy)], fix=True, jobs=1)
    first.apply()
    second = run([str(demo_copy)], fix=True, jobs=1)
    assert not second.changed
