"""``check --baseline``: a legacy repo fails only on new findings, whatever moves around."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import asyncmend

HEADER = """\
import asyncio

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

engine = create_async_engine("sqlite+aiosqlite://")
async_session = async_sessionmaker(engine)
"""

GET_USER = """

async def get_user(user_id: int):
    session = async_session()
    result = await session.execute(select(1).where(user_id == 1))
    return result.scalar_one_or_none()
"""

GET_ORDER = """

async def get_order(order_id: int):
    session = async_session()
    result = await session.execute(select(2).where(order_id == 2))
    return result.scalar_one_or_none()
"""

HELPER = """

def helper() -> int:
    return 1
"""

NEW_FINDING = """

async def fire_and_forget() -> None:
    asyncio.create_task(asyncio.sleep(1))
"""


def _project(tmp_path: Path, *parts: str) -> Path:
    (tmp_path / "pyproject.toml").write_text("[tool.asyncmend]\n")
    (tmp_path / "app").mkdir(exist_ok=True)
    (tmp_path / "app" / "service.py").write_text(HEADER + "".join(parts))
    return tmp_path


def _write_baseline(project: Path) -> dict:  # type: ignore[type-arg]
    done = asyncmend("check", "--write-baseline", "asyncmend-baseline.json", cwd=project)
    assert done.returncode == 0, done.stderr
    assert "Wrote 2 finding(s) to the baseline" in done.stderr
    return json.loads((project / "asyncmend-baseline.json").read_text())


def test_baseline_file_is_sorted_stable_and_has_no_line_numbers(tmp_path: Path) -> None:
    project = _project(tmp_path, GET_USER, GET_ORDER)
    data = _write_baseline(project)
    first = (project / "asyncmend-baseline.json").read_bytes()
    _write_baseline(project)
    assert (project / "asyncmend-baseline.json").read_bytes() == first  # stable
    entries = data["findings"]
    assert [e["code"] for e in entries] == ["AM101", "AM101"]
    assert all(e["file"] == "app/service.py" for e in entries)
    assert entries == sorted(
        entries, key=lambda e: (e["file"], e["code"], e["fingerprint"], e["occurrence"])
    )
    assert {e["snippet"] for e in entries} == {"session = async_session()"}
    assert not any("line" in key or "row" in key for e in entries for key in e)


def test_code_moving_around_does_not_resurrect_baselined_findings(tmp_path: Path) -> None:
    project = _project(tmp_path, HELPER, GET_USER, GET_ORDER)
    _write_baseline(project)
    service = project / "app" / "service.py"
    assert asyncmend("check", cwd=project).returncode == 1  # without the baseline: findings
    clean = asyncmend("check", "--baseline", "asyncmend-baseline.json", cwd=project)
    assert clean.returncode == 0, clean.stdout
    assert "All checks passed!" in clean.stdout
    assert "2 finding(s) in the baseline" in clean.stdout

    edits = {
        "lines inserted above": HEADER + "\n\nX = 1\nY = 2\n\n" + HELPER + GET_USER + GET_ORDER,
        "a function moved": HEADER + GET_ORDER + HELPER + GET_USER,
        "an unrelated function renamed": HEADER
        + HELPER.replace("helper", "compute")
        + GET_USER
        + GET_ORDER,
        "re-indented comment above": HEADER + "\n# a comment\n" + HELPER + GET_USER + GET_ORDER,
    }
    for label, text in edits.items():
        service.write_text(text)
        done = asyncmend("check", "--baseline", "asyncmend-baseline.json", cwd=project)
        assert done.returncode == 0, (label, done.stdout, done.stderr)
        assert "no longer occur" not in done.stderr, label


def test_a_new_finding_fails_and_is_the_only_one_reported(tmp_path: Path) -> None:
    project = _project(tmp_path, GET_USER, GET_ORDER)
    _write_baseline(project)
    service = project / "app" / "service.py"
    # A third bare session with the same text: the occurrence counter tells it apart.
    third = GET_ORDER.replace("get_order", "get_invoice")
    service.write_text("\n\n# moved down\n" + HEADER + GET_USER + GET_ORDER + third + NEW_FINDING)
    done = asyncmend("check", "--baseline", "asyncmend-baseline.json", cwd=project)
    assert done.returncode == 1
    reported = [line for line in done.stdout.splitlines() if line.startswith("app/")]
    assert len(reported) == 2, done.stdout
    assert any(": AM203 " in line for line in reported)
    assert any(": AM101 " in line for line in reported)
    as_json = asyncmend(
        "check", "--baseline", "asyncmend-baseline.json", "--format", "json", cwd=project
    )
    assert sorted(item["code"] for item in json.loads(as_json.stdout)) == ["AM101", "AM203"]


def test_fixed_findings_are_reported_so_the_baseline_can_shrink(tmp_path: Path) -> None:
    project = _project(tmp_path, GET_USER, GET_ORDER)
    _write_baseline(project)
    (project / "app" / "service.py").write_text(HEADER + GET_USER)  # get_order is gone
    done = asyncmend("check", "--baseline", "asyncmend-baseline.json", cwd=project)
    assert done.returncode == 0
    assert "1 baselined finding(s) no longer occur" in done.stderr
    assert "--write-baseline asyncmend-baseline.json" in done.stderr
    assert "app/service.py: AM101 session = async_session()" in done.stderr
    # Checking another folder does not call the entries of app/ stale.
    (project / "other").mkdir()
    (project / "other" / "x.py").write_text("x = 1\n")
    other = asyncmend("check", "--baseline", "asyncmend-baseline.json", "other", cwd=project)
    assert other.returncode == 0 and "no longer occur" not in other.stderr
    # Shrinking it: rewrite, and the stale entry is gone.
    _shrunk = asyncmend("check", "--write-baseline", "asyncmend-baseline.json", cwd=project)
    assert _shrunk.returncode == 0
    data = json.loads((project / "asyncmend-baseline.json").read_text())
    assert len(data["findings"]) == 1


def test_baseline_from_config_and_bad_baseline(tmp_path: Path) -> None:
    project = _project(tmp_path, GET_USER, GET_ORDER)
    _write_baseline(project)
    (project / "pyproject.toml").write_text(
        '[tool.asyncmend]\nbaseline = "asyncmend-baseline.json"\n'
    )
    sub = project / "app"
    done = asyncmend("check", ".", cwd=sub)  # relative to the config's folder, not the cwd
    assert done.returncode == 0, (done.stdout, done.stderr)
    (project / "asyncmend-baseline.json").write_text("not json")
    bad = asyncmend("check", cwd=project)
    assert bad.returncode == 2
    assert bad.stderr.startswith("asyncmend: error: ") and len(bad.stderr.splitlines()) == 1
    missing = asyncmend("check", "--baseline", "nope.json", cwd=project)
    assert missing.returncode == 2 and "baseline file not found" in missing.stderr
