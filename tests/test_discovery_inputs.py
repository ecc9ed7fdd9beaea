"""Discovery and bad input as a user meets them: --force-exclude, .git/info/exclude,
odd patterns, symlink loops, odd file names, non-Python and binary files, unreadable
folders; each is one clear line, the rest of the run goes on, and the exit code says so."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from conftest import asyncmend, entry_point

from asyncmend.engine.discovery import discover

SLEEPY = "import time\n\n\nasync def f():\n    time.sleep(1)\n"


def _files(result) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted({f["filename"] for f in json.loads(result.stdout)})


def test_force_exclude_applies_to_named_files(tmp_path: Path) -> None:
    (tmp_path / "migrations").mkdir()
    (tmp_path / "migrations" / "m.py").write_text(SLEEPY)
    (tmp_path / "gen.py").write_text(SLEEPY)
    (tmp_path / "a.py").write_text(SLEEPY)
    (tmp_path / "pyproject.toml").write_text(
        '[tool.asyncmend]\nexclude = ["migrations", "gen.py"]\n'
    )
    named = ["a.py", "gen.py", "migrations/m.py"]  # as pre-commit names them
    result = asyncmend("check", "--format", "json", *named, cwd=tmp_path)
    assert _files(result) == named  # named explicitly: taken, as ruff does
    result = asyncmend("check", "--format", "json", "--force-exclude", *named, cwd=tmp_path)
    assert _files(result) == ["a.py"]
    (tmp_path / "pyproject.toml").write_text(
        '[tool.asyncmend]\nexclude = ["migrations", "gen.py"]\nforce-exclude = true\n'
    )
    result = asyncmend("check", "--format", "json", *named, cwd=tmp_path)
    assert _files(result) == ["a.py"]
    # Everything excluded: nothing to check, exit 0.
    result = asyncmend("check", "--force-exclude", "gen.py", cwd=tmp_path)
    assert result.returncode == 0, result.stderr


def test_git_info_exclude_is_honoured(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "a.py").write_text(SLEEPY)
    (tmp_path / "local.py").write_text(SLEEPY)
    (tmp_path / ".git" / "info").mkdir(exist_ok=True)
    (tmp_path / ".git" / "info" / "exclude").write_text("local.py\n")
    result = asyncmend("check", "--format", "json", ".", cwd=tmp_path)
    assert _files(result) == ["a.py"]


@pytest.mark.parametrize("pattern", ["!", "\\", "foo\\"])
def test_unreadable_gitignore_patterns_are_skipped_as_git_does(
    tmp_path: Path, pattern: str
) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / ".gitignore").write_text(f"{pattern}\nignored.py\n")
    (tmp_path / "a.py").write_text(SLEEPY)
    (tmp_path / "ignored.py").write_text(SLEEPY)
    result = asyncmend("check", "--format", "json", ".", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert _files(result) == ["a.py"]


@pytest.mark.parametrize("pattern", ["!", "\\"])
def test_invalid_exclude_pattern_is_a_usage_error(tmp_path: Path, pattern: str) -> None:
    (tmp_path / "a.py").write_text(SLEEPY)
    result = asyncmend("check", "--exclude", pattern, ".", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "exclude pattern" in result.stderr


def test_symlink_loops_do_not_crash(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "a.py").write_text(SLEEPY)
    (tmp_path / "pkg" / "up").symlink_to("..")  # a folder loop
    (tmp_path / "loop.py").symlink_to("loop.py")  # a file loop
    result = asyncmend("check", "--format", "json", ".", cwd=tmp_path)
    assert "Traceback" not in result.stderr
    assert _files(result) == ["pkg/a.py"]
    assert "loop.py" in result.stderr and result.stderr.count("\n") == 1
    assert result.returncode == 2
    named = asyncmend("check", "--format", "json", "loop.py", "pkg/a.py", cwd=tmp_path)
    assert "Traceback" not in named.stderr and named.returncode == 2
    assert _files(named) == ["pkg/a.py"]


def test_non_utf8_file_name_is_printed_escaped(tmp_path: Path) -> None:
    name = os.fsdecode(b"caf\xe9.py")
    (tmp_path / name).write_text(SLEEPY)
    env = {**os.environ, "PYTHONIOENCODING": "utf-8", "NO_COLOR": "1"}
    env["ASYNCMEND_CACHE_DIR"] = str(tmp_path / ".cache")
    for args in (["check", "."], ["check", name], ["check", "--format", "json", "."]):
        result = subprocess.run(
            [entry_point(), *args], cwd=tmp_path, capture_output=True, env=env, check=False
        )
        assert b"Traceback" not in result.stderr, result.stderr
        assert result.returncode == 1
        # text shows the undecodable byte as Python would (`\xe9`); JSON keeps the
        # surrogate escape it must use for a str that is not valid UTF-8
        escaped = b"caf\\udce9.py" if "json" in args else b"caf\\xe9.py"
        assert escaped in result.stdout, result.stdout


def test_non_python_file_named_is_skipped_with_a_warning(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("# Title\n\nSome `code`.\n")
    (tmp_path / "a.py").write_text(SLEEPY)
    result = asyncmend("check", "--format", "json", "README.md", "a.py", cwd=tmp_path)
    assert result.returncode == 1
    assert _files(result) == ["a.py"]  # no AM000 for the README
    assert (
        result.stderr == "asyncmend: warning: README.md: not a Python file (.py, .pyi); skipped\n"
    )
    only = asyncmend("check", "README.md", cwd=tmp_path)
    assert only.returncode == 0 and "warning" in only.stderr


def test_binary_file_is_reported_and_the_rest_still_checked(tmp_path: Path) -> None:
    (tmp_path / "blob.py").write_bytes(b"\x00\x01\x02binary")
    (tmp_path / "a.py").write_text(SLEEPY)
    (tmp_path / "b.py").write_text(SLEEPY)
    result = asyncmend("check", "--format", "json", ".", cwd=tmp_path)
    assert result.returncode == 2
    assert _files(result) == ["a.py", "b.py"]
    assert result.stderr.count("\n") == 1 and "blob.py" in result.stderr


def test_stdin_binary_exits_2_like_a_file(tmp_path: Path) -> None:
    (tmp_path / "blob.py").write_bytes(b"\x00\x01 import time\n")
    as_file = asyncmend("check", "blob.py", cwd=tmp_path)
    env = {**os.environ, "NO_COLOR": "1", "ASYNCMEND_CACHE_DIR": str(tmp_path / ".c")}
    for verb in ("check", "fix", "diff"):
        result = subprocess.run(
            [entry_point(), verb, "--stdin-filename", "blob.py"],
            cwd=tmp_path,
            input=b"\x00\x01 import time\n",
            capture_output=True,
            env=env,
            check=False,
        )
        assert result.returncode == as_file.returncode == 2, (verb, result.stderr)
        assert b"binary file" in result.stderr


def test_user_codemod_exiting_on_import_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text(SLEEPY)
    (tmp_path / "mod.py").write_text("import sys\nsys.exit(0)\n")
    for spec in ("mod.py:Thing", "mod:Thing"):
        result = asyncmend("run", spec, "a.py", cwd=tmp_path)
        assert result.returncode == 2, (spec, result.stdout, result.stderr)
        assert "sys.exit(0)" in result.stderr and result.stderr.count("\n") == 1


def test_unreadable_folder_is_reported_not_skipped(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "ok").mkdir()
    (tmp_path / "ok" / "a.py").write_text(SLEEPY)
    (tmp_path / "secret").mkdir()
    (tmp_path / "secret" / "b.py").write_text(SLEEPY)
    real = os.scandir

    def scandir(path):  # type: ignore[no-untyped-def]
        if Path(path).name == "secret":
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    errors: list[str] = []
    found = discover([tmp_path], errors=errors)
    assert found == [tmp_path / "ok" / "a.py"]
    assert errors == [f"{tmp_path / 'secret'}: cannot read folder: permission denied"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every folder")
def test_unreadable_folder_end_to_end(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text(SLEEPY)
    (tmp_path / "secret").mkdir()
    (tmp_path / "secret" / "b.py").write_text(SLEEPY)
    (tmp_path / "secret").chmod(0)
    try:
        result = asyncmend("check", ".", cwd=tmp_path)
    finally:
        (tmp_path / "secret").chmod(0o755)
    assert result.returncode == 2
    assert "secret: cannot read folder: permission denied" in result.stderr
    assert "All checks passed" not in result.stdout
