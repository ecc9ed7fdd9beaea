"""Everyday CLI manners, ruff's where ruff has them, run as a user runs the CLI."""

from __future__ import annotations

import json
import os
import pty
import queue
import select
import shutil
import subprocess
import sys
import threading
import time
from importlib.metadata import version
from pathlib import Path

import pytest
from conftest import FIXTURES, asyncmend, entry_point

BASIC = (FIXTURES / "rules" / "AM101" / "positive_basic.py").read_text()
UNFIXABLE = (FIXTURES / "rules" / "AM101" / "unfixable_returned.py").read_text()
DANGLING = "import asyncio\n\n\nasync def f() -> None:\n    asyncio.create_task(asyncio.sleep(1))\n"


def _project(tmp_path: Path, **files: str) -> Path:
    (tmp_path / "pyproject.toml").write_text("[tool.asyncmend]\n")
    for name, text in files.items():
        (tmp_path / f"{name}.py").write_text(text)
    return tmp_path


def _in_pty(args: list[str], cwd: Path, env_extra: dict[str, str]) -> str:
    """Run the CLI with stdout and stderr on a terminal; return what it printed."""
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    env.update(env_extra, ASYNCMEND_CACHE_DIR=str(cwd / ".cache"), TERM="xterm-256color")
    controller, terminal = pty.openpty()
    proc = subprocess.Popen(
        [entry_point(), *args], cwd=cwd, env=env, stdout=terminal, stderr=terminal
    )
    os.close(terminal)
    chunks = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([controller], [], [], 1)
        if ready:
            try:
                data = os.read(controller, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    proc.wait(timeout=60)
    os.close(controller)
    return b"".join(chunks).decode()


def test_version() -> None:
    done = subprocess.run([entry_point(), "--version"], capture_output=True, text=True)
    assert done.returncode == 0
    assert done.stdout == f"asyncmend {version('asyncmend')}\n"


@pytest.mark.parametrize("verb", ["check", "diff"])
def test_no_color_is_honoured_on_a_terminal(verb: str, tmp_path: Path) -> None:
    project = _project(tmp_path, a=BASIC)
    coloured = _in_pty([verb, "a.py"], project, {})
    assert "\x1b[" in coloured  # a terminal gets colour by default ...
    assert "AM101" in coloured or "async with" in coloured
    plain = _in_pty([verb, "a.py"], project, {"NO_COLOR": "1"})
    assert "\x1b[" not in plain  # ... and none with NO_COLOR
    assert "async_session()" in plain
    flag = _in_pty([verb, "--no-color", "a.py"], project, {})
    assert "\x1b[" not in flag


def test_help_shows_no_python_types(tmp_path: Path) -> None:
    for verb in ("check", "diff", "fix", "run", "rules", "explain", "locks"):
        done = asyncmend(verb, "--help", cwd=tmp_path)
        assert done.returncode == 0
        for python_type in ("<list", "<bool>", "<path>", "<int", "<str>", "<text"):
            assert python_type not in done.stdout, (verb, python_type)
        if verb in ("check", "diff", "fix", "locks"):
            assert "PATHS" in done.stdout


def test_dash_reads_stdin(tmp_path: Path) -> None:
    fixed = asyncmend("fix", "--stdin-filename", "x.py", "-", cwd=tmp_path, stdin=BASIC)
    assert fixed.returncode == 0, fixed.stderr
    assert "async with async_session() as session:" in fixed.stdout
    checked = asyncmend("check", "-", cwd=tmp_path, stdin=BASIC)
    assert checked.returncode == 1
    assert "-:11:5: AM101" in checked.stdout
    both = asyncmend("check", "-", "a.py", cwd=tmp_path, stdin=BASIC)
    assert both.returncode == 2


def test_output_formats_full_and_concise(tmp_path: Path) -> None:
    project = _project(tmp_path, a=BASIC)
    full = asyncmend("check", "--output-format", "full", "a.py", cwd=project)
    assert full.returncode == 1
    lines = full.stdout.splitlines()
    assert lines[0] == (
        "a.py:11:5: AM101 [*] Session `session` from `async_session()` is never closed; "
        "use `async with async_session() as session:`"
    )
    assert lines[1:9] == [
        "   |",
        " 9 |",
        "10 | async def get_user(user_id: int) -> User | None:",
        "11 |     session = async_session()  # expect: AM101",
        "   |     ^^^^^^^^^^^^^^^^^^^^^^^^^ AM101",
        "12 |     result = await session.execute(select(User).where(User.id == user_id))",
        "13 |     return result.scalar_one_or_none()",
        "   |",
    ]
    assert lines[9].startswith("  = help: ")
    concise = asyncmend("check", "--output-format", "concise", "a.py", cwd=project)
    legacy = asyncmend("check", "--format", "text", "a.py", cwd=project)
    assert concise.stdout == legacy.stdout
    assert concise.stdout.splitlines()[0].startswith("a.py:11:5: AM101 Session")
    assert "^^^" not in concise.stdout


def test_statistics(tmp_path: Path) -> None:
    project = _project(tmp_path, a=BASIC, b=UNFIXABLE, c=DANGLING)
    text = asyncmend("check", "--statistics", cwd=project)
    assert text.returncode == 1
    rows = text.stdout.splitlines()
    assert rows[0] == "2\tAM101\t[*] bare-session"
    assert rows[1] == "1\tAM203\t[*] dangling-task"
    as_json = asyncmend("check", "--statistics", "--output-format", "json", cwd=project)
    assert json.loads(as_json.stdout) == [
        {"code": "AM101", "name": "bare-session", "count": 2, "fixable": True},
        {"code": "AM203", "name": "dangling-task", "count": 1, "fixable": True},
    ]


def test_quiet_silent_output_file_exit_zero(tmp_path: Path) -> None:
    project = _project(tmp_path, a=BASIC)
    quiet = asyncmend("check", "-q", "a.py", cwd=project)
    assert quiet.returncode == 1
    assert quiet.stdout.splitlines() == [
        line for line in quiet.stdout.splitlines() if "AM101" in line
    ]
    assert "Found" not in quiet.stdout
    silent = asyncmend("check", "--silent", "a.py", cwd=project)
    assert (silent.returncode, silent.stdout, silent.stderr) == (1, "", "")
    silent_diff = asyncmend("diff", "-s", "a.py", cwd=project)
    assert (silent_diff.returncode, silent_diff.stdout, silent_diff.stderr) == (1, "", "")
    to_file = asyncmend("check", "--output-file", "report.txt", "a.py", cwd=project)
    assert to_file.returncode == 1 and to_file.stdout == ""
    written = (project / "report.txt").read_text()
    assert written.startswith("a.py:11:5: AM101") and "Found 1 error." in written
    as_json = asyncmend(
        "check", "--output-file", "r.json", "--output-format", "json", "a.py", cwd=project
    )
    assert json.loads((project / "r.json").read_text())[0]["code"] == "AM101"
    assert as_json.stdout == ""
    assert asyncmend("check", "--exit-zero", "a.py", cwd=project).returncode == 0


def test_fix_only_show_fixes_and_exit_zero(tmp_path: Path) -> None:
    project = _project(tmp_path, a=BASIC, b=UNFIXABLE)
    done = asyncmend("fix", "--fix-only", "--show-fixes", cwd=project)
    assert done.returncode == 0, done.stderr  # b.py still has an unfixable finding
    assert "b.py" not in done.stdout  # remaining findings are not reported
    assert "Fixed 1 error:\n- a.py:\n    1 x AM101 (bare-session)" in done.stderr
    assert "async with async_session() as session:" in (project / "a.py").read_text()
    left = asyncmend("fix", cwd=project)
    assert left.returncode == 1 and "b.py:" in left.stdout
    assert asyncmend("fix", "--exit-zero", cwd=project).returncode == 0
    (project / "c.py").write_text(BASIC)
    via_check = asyncmend(
        "check", "--fix-only", "--show-fixes", "--exit-non-zero-on-fix", "c.py", cwd=project
    )
    assert via_check.returncode == 1  # something was fixed
    assert "Fixed 1 error:\n- c.py:\n    1 x AM101 (bare-session)" in via_check.stderr
    assert "async with" in (project / "c.py").read_text()


def test_no_unsafe_fixes_overrides_the_config(tmp_path: Path) -> None:
    project = _project(tmp_path)
    # AM302 is a preview rule: the config turns preview on as well.
    (project / "pyproject.toml").write_text(
        "[tool.asyncmend]\nunsafe-fixes = true\npreview = true\n"
    )
    case = FIXTURES / "rules" / "AM302" / "positive_order_and_audit.py"  # one finding
    (project / "a.py").write_text(case.read_text())
    with_config = asyncmend("diff", "--select", "AM302", "a.py", cwd=project)
    assert with_config.returncode == 1 and "flush" in with_config.stdout
    overridden = asyncmend("diff", "--select", "AM302", "--no-unsafe-fixes", "a.py", cwd=project)
    assert overridden.returncode == 0 and overridden.stdout == ""
    marked = asyncmend("check", "--select", "AM302", "a.py", cwd=project)
    assert "[*] 1 fixable with `asyncmend fix`." in marked.stdout  # the config's unsafe-fixes
    hidden = asyncmend("check", "--select", "AM302", "--no-unsafe-fixes", "a.py", cwd=project)
    assert "(1 hidden fix can be enabled with the `--unsafe-fixes` option.)" in hidden.stdout


def test_watch_reruns_on_change(tmp_path: Path) -> None:
    project = _project(tmp_path, a="x = 1\n")
    env = {**os.environ, "NO_COLOR": "1", "ASYNCMEND_CACHE_DIR": str(project / ".cache")}
    proc = subprocess.Popen(
        [entry_point(), "check", "--watch", "."],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    seen: list[str] = []
    lines: queue.Queue[str] = queue.Queue()
    # A reader thread, not select() on the buffered pipe: two lines that arrive together
    # would leave the second in the file's buffer, where select() cannot see it.
    assert proc.stdout is not None
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout], daemon=True).start()

    def wait_for(needle: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=1)
            except queue.Empty:
                continue
            seen.append(line)
            if needle in line:
                return
        raise AssertionError(f"{needle!r} not seen in {seen}")

    try:
        wait_for("All checks passed!")
        wait_for("Watching for file changes.")
        time.sleep(1.1)  # a new mtime even on coarse file systems
        (project / "a.py").write_text(BASIC)
        wait_for("File change detected")
        wait_for("a.py:11:5: AM101")
        wait_for("Watching for file changes.")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_run_skips_generated_files_and_stubs(tmp_path: Path) -> None:
    project = tmp_path / "shop"
    shutil.copytree(FIXTURES / "migrations" / "sample", project)
    shutil.copy(FIXTURES / "migrations" / "rename_dependency.py", project)
    routers = project / "app" / "routers"
    users = (routers / "users.py").read_text()
    (routers / "generated_users.py").write_text("# @" + "generated by a tool\n" + users)
    (routers / "users.pyi").write_text("from app.db import get_db\n")
    spec = "rename_dependency.py:RenameDependency"
    done = asyncmend("run", spec, "app/routers", cwd=project)
    assert done.returncode == 1
    assert "+++ b/app/routers/users.py" in done.stdout
    assert "generated_users.py" not in done.stdout and "users.pyi" not in done.stdout
    assert "Skipped 2 generated file(s) and stub(s)" in done.stderr
    included = asyncmend("run", spec, "app/routers", "--include-generated", cwd=project)
    assert "+++ b/app/routers/generated_users.py" in included.stdout
    assert "+++ b/app/routers/users.pyi" in included.stdout
    assert "Skipped" not in included.stderr


def test_engine_exports_the_api_and_its_exceptions() -> None:
    code = (
        "import asyncmend.engine as e, sys\n"
        "assert 'libcst' not in sys.modules\n"
        "from asyncmend.engine import (run, run_source, Report, ConfigError, DiscoveryError,\n"
        "    UnknownRuleError, CodemodError, GitError, BaselineError)\n"
        "r = run_source(b'import time\\nasync def f():\\n    time.sleep(1)\\n', 'x.py')\n"
        "print([f.code for f in r.findings])\n"
        "try:\n"
        "    run_source(b'', 'x.py', select=['XX9'])\n"
        "except UnknownRuleError:\n"
        "    print('unknown')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "['AM205']\nunknown\n"


def test_rule_url_in_json_sarif_and_explain(tmp_path: Path) -> None:
    from asyncmend.cli.rule_docs import DOCS_URL_BASE

    project = _project(tmp_path, a=BASIC)
    url = f"{DOCS_URL_BASE}AM101.md"
    as_json = asyncmend("check", "--output-format", "json", "a.py", cwd=project)
    assert json.loads(as_json.stdout)[0]["url"] == url
    sarif = json.loads(asyncmend("check", "--output-format", "sarif", "a.py", cwd=project).stdout)
    assert sarif["runs"][0]["tool"]["driver"]["rules"][0]["helpUri"] == url
    explain = asyncmend("explain", "AM101", cwd=project)
    assert f"Reference: {url}" in explain.stdout.splitlines()
    # the page it points at exists in the repository
    assert (Path(__file__).parent.parent / "docs" / "rules" / "AM101.md").is_file()
