"""A progress bar on stderr for runs over many files when stderr is a terminal;
nothing extra when it is piped."""

from __future__ import annotations

import os
import pty
import subprocess
from pathlib import Path

from conftest import FIXTURES, asyncmend, entry_point

BASIC = (FIXTURES / "rules" / "AM101" / "positive_basic.py").read_text()


def _many(root: Path, count: int) -> Path:
    for i in range(count):
        (root / f"m{i:03}.py").write_text(BASIC if i % 10 == 0 else f"x = {i}\n")
    return root


def _stderr_on_a_terminal(*args: str, cwd: Path) -> tuple[int, str, str]:
    controller, terminal = pty.openpty()
    env = {**os.environ, "TERM": "xterm", "COLUMNS": "100"}
    env.pop("NO_COLOR", None)
    process = subprocess.Popen(
        [entry_point(), *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=terminal,
        stdin=subprocess.DEVNULL,
        env=env,
    )
    os.close(terminal)
    chunks = []
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # the terminal closed: the process is done with it
            break
        if not chunk:
            break
        chunks.append(chunk)
    stdout = process.stdout.read().decode() if process.stdout else ""
    code = process.wait(timeout=300)
    os.close(controller)
    return code, stdout, b"".join(chunks).decode(errors="replace")


def test_bar_on_a_terminal_for_many_files(tmp_path: Path) -> None:
    _many(tmp_path, 60)
    code, stdout, stderr = _stderr_on_a_terminal("check", ".", "-j", "1", cwd=tmp_path)
    assert code == 1
    assert "Checking" in stderr and "60/60" in stderr
    assert stdout.count("AM101") == 6  # the findings are not mixed with the bar


def test_no_bar_for_few_files_or_when_piped(tmp_path: Path) -> None:
    few = tmp_path / "few"
    few.mkdir()
    _many(few, 10)
    code, _, stderr = _stderr_on_a_terminal("check", ".", cwd=few)
    assert code == 1 and "Checking" not in stderr
    many = tmp_path / "many"
    many.mkdir()
    _many(many, 60)
    done = asyncmend("check", ".", cwd=many)
    assert done.returncode == 1 and done.stderr == ""
    fixed = asyncmend("fix", ".", cwd=many)
    assert "Fixing" not in fixed.stderr
    assert fixed.stderr.startswith("Fixed 6 finding(s) in 6 file(s):")
