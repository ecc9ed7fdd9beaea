"""The ecosystem check's offline parts: verdict parsing, matching, table, update.

The download-and-run part needs PyPI; CI runs it as `python bench/ecosystem.py --smoke`.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _load():
    spec = importlib.util.spec_from_file_location(
        "bench_ecosystem", ROOT / "bench" / "ecosystem.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


eco = _load()

HEADER = "package,version,path,line,code,verdict,fix,reason\n"


def finding(path="a.py", line=3, code="AM101", fixable=True, package="pkg", version="1.0"):
    return eco.Finding(package, version, path, line, code, "message", fixable)


def test_parse_verdicts_reads_rows_and_skips_comments():
    text = (
        HEADER
        + "# a comment\npkg,1.0,a.py,3,AM101,TP,right,real leak\n\npkg,1.0,b.py,9,AM203,FP,none,kept\n"
    )
    rows = eco.parse_verdicts(text)
    assert [(v.path, v.line, v.verdict, v.fix) for v in rows] == [
        ("a.py", 3, "TP", "right"),
        ("b.py", 9, "FP", "none"),
    ]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("pkg,1.0,a.py,3,AM101,maybe,none,x", "verdict 'maybe'"),
        ("pkg,1.0,a.py,3,AM101,TP,broken,x", "fix 'broken'"),
        ("pkg,1.0,a.py,three,AM101,TP,none,x", "line 'three'"),
    ],
)
def test_parse_verdicts_rejects_bad_rows_naming_the_row(row, message):
    with pytest.raises(eco.VerdictError, match=f"row 2: {message}"):
        eco.parse_verdicts(HEADER + row + "\n", "v.csv")


def test_parse_verdicts_rejects_missing_columns():
    with pytest.raises(eco.VerdictError, match="missing column"):
        eco.parse_verdicts("package,version,path,line,code\n")


def test_format_round_trips_and_sorts():
    rows = eco.parse_verdicts(
        HEADER + 'pkg,1.0,b.py,1,AM1,FP,none,"with, comma"\npkg,1.0,a.py,2,AM2,TP,right,r\n'
    )
    text = eco.format_verdicts(rows)
    again = eco.parse_verdicts(text)
    assert [v.path for v in again] == ["a.py", "b.py"]
    assert again[1].reason == "with, comma"


def test_compare_counts_per_rule_and_precision():
    verdicts = eco.parse_verdicts(
        HEADER
        + "pkg,1.0,a.py,3,AM101,TP,right,r\n"
        + "pkg,1.0,a.py,4,AM101,FP,wrong,r\n"
        + "pkg,1.0,a.py,5,AM101,debatable,none,r\n"
        + "pkg,1.0,a.py,6,AM101,TP,right,r\n"
    )
    findings = [finding(line=n) for n in (3, 4, 5, 6)] + [finding(line=7)]
    result = eco.compare(findings, verdicts, {"pkg"})
    row = result.rules["AM101"]
    assert (row.findings, row.tp, row.fp, row.debatable, row.unreviewed) == (5, 2, 1, 1, 1)
    assert row.precision == pytest.approx(2 / 3)
    assert row.wrong_fixes == 1
    assert [f.line for f in result.unreviewed] == [7]
    assert result.stale == []


def test_an_unreviewed_row_still_counts_as_unreviewed():
    verdicts = eco.parse_verdicts(HEADER + "pkg,1.0,a.py,3,AM101,unreviewed,,new\n")
    result = eco.compare([finding()], verdicts, {"pkg"})
    assert result.rules["AM101"].unreviewed == 1


def test_version_is_part_of_the_key():
    verdicts = eco.parse_verdicts(HEADER + "pkg,0.9,a.py,3,AM101,TP,right,r\n")
    result = eco.compare([finding()], verdicts, {"pkg"})
    assert len(result.unreviewed) == 1
    assert [v.version for v in result.stale] == ["0.9"]


def test_stale_only_for_packages_that_ran_and_lost_true_positives():
    verdicts = eco.parse_verdicts(
        HEADER
        + "pkg,1.0,a.py,3,AM101,TP,right,gone\n"
        + "pkg,1.0,a.py,4,AM101,FP,none,gone too\n"
        + "other,2.0,x.py,1,AM203,TP,right,not run\n"
    )
    result = eco.compare([], verdicts, {"pkg"})
    assert [(v.line, v.verdict) for v in result.stale] == [(3, "TP"), (4, "FP")]
    assert [v.line for v in result.lost_true_positives] == [3]


def test_no_precision_without_judged_findings():
    assert eco.RuleRow(findings=2, debatable=2).precision is None


def test_update_appends_new_findings_once_and_prune_drops_stale():
    verdicts = eco.parse_verdicts(
        HEADER + "pkg,1.0,a.py,3,AM101,TP,right,r\npkg,1.0,gone.py,1,AM203,FP,none,r\n"
    )
    findings = [finding(), finding(line=8, fixable=False), finding(line=8, fixable=False)]
    result = eco.compare(findings, verdicts, {"pkg"})
    kept = eco.updated_verdicts(verdicts, result, prune=False)
    assert [(v.path, v.line, v.verdict, v.fix) for v in kept] == [
        ("a.py", 3, "TP", "right"),
        ("gone.py", 1, "FP", "none"),
        ("a.py", 8, "unreviewed", "none"),
    ]
    pruned = eco.updated_verdicts(verdicts, result, prune=True)
    assert "gone.py" not in {v.path for v in pruned}


def test_table_has_a_row_per_rule_a_total_and_the_problem_counts():
    verdicts = eco.parse_verdicts(
        HEADER + "pkg,1.0,a.py,3,AM101,TP,right,r\npkg,1.0,a.py,9,AM203,FP,none,r\n"
    )
    result = eco.compare([finding(), finding(line=9, code="AM203")], verdicts, {"pkg"})
    table = eco.render_table(
        result, ["crash: check exited 2", "invariant: second fix changed a.py"]
    )
    assert "| AM101 | 1 | 1 | 0 | 0 | 0 | 100% | 1 | 0 |" in table
    assert "| AM203 | 1 | 0 | 1 | 0 | 0 | 0% | 1 | 0 |" in table
    assert "| **all** | 2 | 1 | 1 | 0 | 0 | 50% | 2 | 0 |" in table
    assert "crashes: 1; invariant failures: 1; unreviewed: 0; stale verdicts: 0" in table


def test_the_committed_verdicts_file_parses_and_is_fully_reviewed():
    rows = eco.parse_verdicts(eco.VERDICTS.read_text(), str(eco.VERDICTS))
    assert rows, "verdicts file is empty"
    assert [v for v in rows if v.verdict == "unreviewed"] == []
    assert all(v.reason for v in rows)
    pinned = {(p.name, p.version) for p in eco.PACKAGES}
    assert {(v.package, v.version) for v in rows} <= pinned


def test_pins_are_exact_with_checksums_and_a_smoke_pair():
    assert len(eco.PACKAGES) >= 8
    assert all(len(p.sha256) == 64 and p.wheel.endswith(".whl") for p in eco.PACKAGES)
    assert sum(p.smoke for p in eco.PACKAGES) == 2
    forbidden = {"dstack", "skyvern", "letta", "fief-server", "polar"}
    assert not forbidden & {p.name for p in eco.PACKAGES}


def test_peer_markers_and_scoring():
    source = "a()  # expect: AM203\nb()  # ok\nc()\nd()  # expect: AM205\n"
    assert eco.peer_markers(source) == ({1: "AM203", 4: "AM205"}, {2})
    row = eco.score_peer_file("peer", source, [(1, "AM203"), (2, "AM203"), (3, "AM101")], "f.py")
    assert (row.found, row.positives, row.wrongly_flagged, row.negatives) == (1, 2, 1, 1)
    assert row.misses == ["f.py:4 AM205"]
    assert row.wrong == ["f.py:2 AM203", "f.py:3 AM101 (unmarked line)"]


@pytest.mark.parametrize(
    ("folder", "files"), [(eco.PEER_CASES, eco.PEER_FILES), (eco.CLASS_CASES, eco.CLASS_FILES)]
)
def test_every_case_file_is_scored_and_has_cases(folder, files):
    on_disk = {p.name for p in folder.glob("*.py")}
    assert on_disk == set(files)
    for name in on_disk:
        expected, silent = eco.peer_markers((folder / name).read_text())
        assert expected or silent, name


def _local_package(tmp_path, monkeypatch, source: str):
    """A pinned package already 'downloaded': fetch() finds it and never goes to PyPI."""
    monkeypatch.setattr(eco, "WORK", tmp_path / "work")
    pkg = eco.Package("demo", "1.0", "demo-1.0-py3-none-any.whl", "0" * 64, "test")
    root = tmp_path / "work" / "src" / pkg.slug
    (root / "demo").mkdir(parents=True)
    (root / "demo" / "jobs.py").write_text(source)
    (root / ".extracted").write_text("test")
    return pkg


DANGLING = "import asyncio\n\n\nasync def go(coro):\n    asyncio.create_task(coro)\n"


def test_run_package_with_the_real_cli_finds_fixes_and_keeps_the_invariants(tmp_path, monkeypatch):
    pkg = _local_package(tmp_path, monkeypatch, DANGLING)
    exe = eco.asyncmend_exe()
    run = eco.run_package(pkg, exe, jobs=1, extra=[])
    assert [(f.path, f.line, f.code, f.fixable) for f in run.findings] == [
        ("demo/jobs.py", 5, "AM203", True)
    ]
    assert run.changed_files == 1
    assert run.problems == []
    assert "_background_tasks" in (tmp_path / "work" / "diffs" / "demo-1.0.diff").read_text()


def test_run_package_reports_a_fix_that_is_not_idempotent_and_a_crash(tmp_path, monkeypatch):
    pkg = _local_package(tmp_path, monkeypatch, DANGLING)
    fake = tmp_path / "fake-asyncmend"
    # check: prints no JSON and a traceback; fix: appends a line every time it runs.
    fake.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = check ]; then echo "Traceback (most recent call last):" >&2; exit 2; fi\n'
        'for f in $(find . -name "*.py"); do echo "x = 1" >> "$f"; done\n'
    )
    fake.chmod(0o755)
    run = eco.run_package(pkg, str(fake), jobs=1, extra=[])
    assert any(p.startswith("crash: check exited 2") for p in run.problems)
    assert "invariant: second fix changed demo/jobs.py" in run.problems


def test_internal_error_lines_count_as_crashes():
    import subprocess

    ok = subprocess.CompletedProcess([], 1, "", "")
    assert eco._internal_error(ok, "check") is None
    bad = subprocess.CompletedProcess(
        [], 1, "", "internal error: fix output for a.py does not parse\n"
    )
    assert "does not parse" in eco._internal_error(bad, "fix")
