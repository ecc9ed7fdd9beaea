"""``--changed-since REF`` on a real git repo, and ``--stdin-filename`` for editors."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import FIXTURES, asyncmend

BASIC = (FIXTURES / "rules" / "AM101" / "positive_basic.py").read_text()
FIXED = (FIXTURES / "rules" / "AM101" / "positive_basic.expected.py").read_text()

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def git(*args: str, cwd: Path) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git("init", "-q", "-b", "main", cwd=root)
    git("config", "user.email", "dev@example.com", cwd=root)
    git("config", "user.name", "Dev", cwd=root)
    for name in ("old", "committed", "staged", "unstaged", "deleted"):
        path = root / "app" / f"{name}.py"
        path.parent.mkdir(exist_ok=True)
        path.write_text(BASIC)
    (root / ".gitignore").write_text("ignored_*.py\n")
    git("add", "-A", cwd=root)
    git("commit", "-qm", "base", cwd=root)
    git("tag", "base", cwd=root)
    # after `base`: one commit, one staged change, one unstaged, one untracked file,
    # one ignored file, one deletion
    (root / "app" / "committed.py").write_text(BASIC + "\n# touched\n")
    git("commit", "-qam", "touch committed", cwd=root)
    (root / "app" / "staged.py").write_text(BASIC + "\n# staged\n")
    git("add", "app/staged.py", cwd=root)
    (root / "app" / "unstaged.py").write_text(BASIC + "\n# unstaged\n")
    (root / "app" / "untracked.py").write_text(BASIC)
    (root / "app" / "ignored_local.py").write_text(BASIC)
    (root / "app" / "deleted.py").unlink()
    return root


def _files(done: subprocess.CompletedProcess[str]) -> set[str]:
    return {item["filename"] for item in json.loads(done.stdout)}


@needs_git
def test_changed_since_takes_committed_staged_unstaged_and_untracked(repo: Path) -> None:
    everything = asyncmend("check", ".", "--format", "json", cwd=repo)
    assert "app/old.py" in _files(everything)
    done = asyncmend("check", ".", "--changed-since", "base", "--format", "json", cwd=repo)
    assert done.returncode == 1, done.stderr
    assert _files(done) == {
        "app/committed.py",
        "app/staged.py",
        "app/unstaged.py",
        "app/untracked.py",
    }
    # HEAD: only what is not committed yet
    done = asyncmend("check", "--changed-since", "HEAD", "--format", "json", cwd=repo)
    assert _files(done) == {"app/staged.py", "app/unstaged.py", "app/untracked.py"}
    # paths still narrow the run, and fix writes only those files
    done = asyncmend("fix", "app/staged.py", "app/old.py", "--changed-since", "base", cwd=repo)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (repo / "app" / "staged.py").read_text() == FIXED + "\n# staged\n"
    assert (repo / "app" / "old.py").read_text() == BASIC


@needs_git
def test_changed_since_from_a_subfolder(repo: Path) -> None:
    done = asyncmend("check", ".", "--changed-since", "base", "--format", "json", cwd=repo / "app")
    assert _files(done) == {"committed.py", "staged.py", "unstaged.py", "untracked.py"}


@needs_git
def test_bad_ref_is_one_line_and_exit_2(repo: Path) -> None:
    for ref in ("no-such-branch", "--output=x"):
        done = asyncmend("check", ".", f"--changed-since={ref}", cwd=repo)
        assert done.returncode == 2, done.stdout
        assert done.stderr.count("\n") == 1
        assert "is not a commit git knows" in done.stderr


def test_changed_since_outside_a_repo_is_one_line_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / "x.py").write_text(BASIC)
    done = asyncmend("diff", ".", "--changed-since", "main", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert "is not inside a git repository" in done.stderr
    assert (tmp_path / "x.py").read_text() == BASIC


# -- --stdin-filename -------------------------------------------------------------------


def test_stdin_check_reports_under_the_given_name(tmp_path: Path) -> None:
    done = asyncmend("check", "--stdin-filename", "app/users.py", cwd=tmp_path, stdin=BASIC)
    assert done.returncode == 1
    assert done.stdout.startswith("app/users.py:11:5: AM101 ")
    clean = asyncmend("check", "--stdin-filename", "x.py", cwd=tmp_path, stdin="x = 1\n")
    assert clean.returncode == 0 and "All checks passed!" in clean.stdout


def test_stdin_fix_writes_the_fixed_source_to_stdout(tmp_path: Path) -> None:
    done = asyncmend("fix", "--stdin-filename", "app/users.py", cwd=tmp_path, stdin=BASIC)
    assert done.returncode == 0, done.stderr
    assert done.stdout == FIXED
    assert not (tmp_path / "app").exists()  # nothing written anywhere
    # nothing to fix: the input comes back unchanged
    source = "async def f():\n    return 1  # keep me\n"
    same = asyncmend("fix", "--stdin-filename", "x.py", cwd=tmp_path, stdin=source)
    assert same.returncode == 0 and same.stdout == source


def test_stdin_fix_keeps_crlf(tmp_path: Path) -> None:
    import subprocess as sp

    from conftest import entry_point

    data = BASIC.replace("\n", "\r\n").encode()
    done = sp.run(
        [entry_point(), "fix", "--stdin-filename", "q.py"],
        cwd=tmp_path,
        input=data,
        capture_output=True,
        check=False,
    )
    assert done.returncode == 0
    assert done.stdout == FIXED.replace("\n", "\r\n").encode()


def test_stdin_diff_and_unparsable_input(tmp_path: Path) -> None:
    done = asyncmend("diff", "--stdin-filename", "app/users.py", cwd=tmp_path, stdin=BASIC)
    assert done.returncode == 1
    assert done.stdout.startswith("--- a/app/users.py\n+++ b/app/users.py\n@@ ")
    broken = asyncmend(
        "fix", "--stdin-filename", "bad.py", cwd=tmp_path, stdin="async def f(:\n  session\n"
    )
    assert broken.stdout == "async def f(:\n  session\n"
    assert "AM000" in broken.stderr and broken.returncode == 1


def test_stdin_uses_the_config_and_per_file_ignores_of_the_filename(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.asyncmend]\nper-file-ignores = { "scripts/*" = ["AM101"] }\n'
    )
    (tmp_path / "scripts").mkdir()
    ignored = asyncmend("check", "--stdin-filename", "scripts/job.py", cwd=tmp_path, stdin=BASIC)
    assert ignored.returncode == 0, ignored.stdout
    # from a subfolder, the same file name relative to it
    sub = asyncmend("check", "--stdin-filename", "job.py", cwd=tmp_path / "scripts", stdin=BASIC)
    assert sub.returncode == 0, sub.stdout
    kept = asyncmend("check", "--stdin-filename", "app/job.py", cwd=tmp_path, stdin=BASIC)
    assert kept.returncode == 1


def test_stdin_with_paths_is_a_usage_error(tmp_path: Path) -> None:
    done = asyncmend("check", ".", "--stdin-filename", "x.py", cwd=tmp_path, stdin=BASIC)
    assert done.returncode == 2 and done.stderr.count("\n") == 1


def test_stdin_source_sees_the_rest_of_its_package(tmp_path: Path) -> None:
    """The repo index covers the package the named file lies in, so a factory defined in
    another module of it is known (outside the package it is not)."""
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "__init__.py").write_text("")
    (tmp_path / "app" / "db.py").write_text(
        "from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine\n\n"
        'engine = create_async_engine("sqlite+aiosqlite://")\n'
        "make_session = async_sessionmaker(engine)\n"
    )
    source = (
        "from app.db import make_session\n\n\n"
        "async def count(q):\n    s = make_session()\n    return await s.scalar(q)\n"
    )
    inside = asyncmend("check", "--stdin-filename", "app/users.py", cwd=tmp_path, stdin=source)
    assert inside.returncode == 1 and "app/users.py:5:5: AM101" in inside.stdout
    (tmp_path / "other").mkdir()
    outside = asyncmend("check", "--stdin-filename", "other/users.py", cwd=tmp_path, stdin=source)
    assert outside.returncode == 0, outside.stdout
