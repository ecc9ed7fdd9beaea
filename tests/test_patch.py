"""``asyncmend diff -o changes.patch`` gives a patch that ``git apply`` takes as it is:
files in subfolders, no final newline, CRLF, latin-1 and BOM files."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import FIXTURES, asyncmend, snapshot

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")

BASIC = (FIXTURES / "rules" / "AM101" / "positive_basic.py").read_bytes()


def git(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return done


def make_repo(root: Path) -> Path:
    root.mkdir()
    git("init", "-q", cwd=root)
    git("config", "user.email", "dev@example.com", cwd=root)
    git("config", "user.name", "Dev", cwd=root)
    git("config", "core.autocrlf", "false", cwd=root)
    files = {
        "src/shop/queries.py": BASIC,
        "src/shop/reports/no_final_newline.py": BASIC.rstrip(b"\n"),
        "src/shop/reports/crlf.py": BASIC.replace(b"\n", b"\r\n"),
        "src/shop/legacy/latin1.py": b"# -*- coding: latin-1 -*-\n# caf\xe9 orders\n" + BASIC,
        "src/shop/legacy/bom.py": b"\xef\xbb\xbf" + BASIC,
        "src/shop/clean.py": b"def ok() -> int:\n    return 1\n",
    }
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    git("add", "-A", cwd=root)
    git("commit", "-qm", "initial", cwd=root)
    return root


def test_patch_file_applies_with_git_apply(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    expected_repo = tmp_path / "expected"
    shutil.copytree(repo, expected_repo)
    fixed = asyncmend("fix", "src", cwd=expected_repo)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    expected = snapshot(expected_repo)
    before = snapshot(repo)
    assert expected != before

    done = asyncmend("diff", "src", "-o", "changes.patch", cwd=repo)
    assert done.returncode == 1, done.stderr
    assert done.stdout == ""
    assert "patch written to changes.patch" in done.stderr
    assert snapshot(repo) == before  # nothing written but the patch
    patch = (repo / "changes.patch").read_bytes()
    assert b"\\ No newline at end of file\n" in patch
    assert b"\r\n" in patch
    assert patch.startswith(b"--- a/src/shop/legacy/bom.py")

    # the same bytes on stdout when it is not a terminal
    piped = subprocess.run(
        [shutil.which("sh") or "/bin/sh", "-c", f"'{_entry()}' diff src > stdout.patch"],
        cwd=repo,
        env=_env(repo),
        check=False,
    )
    assert piped.returncode == 1
    assert (repo / "stdout.patch").read_bytes() == patch
    (repo / "stdout.patch").unlink()

    git("apply", "--check", "changes.patch", cwd=repo)
    git("apply", "changes.patch", cwd=repo)
    (repo / "changes.patch").unlink()
    assert snapshot(repo) == expected
    crlf = (repo / "src/shop/reports/crlf.py").read_bytes()
    assert b"\r\n" in crlf and b"\n" not in crlf.replace(b"\r\n", b"")
    assert not (repo / "src/shop/reports/no_final_newline.py").read_bytes().endswith(b"\n")
    # applied, the tree has nothing left to change
    again = asyncmend("diff", "src", "-o", "again.patch", cwd=repo)
    assert again.returncode == 0 and (repo / "again.patch").read_bytes() == b""


def test_patch_from_a_subfolder_path_applies_at_the_root(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    done = asyncmend("diff", "src/shop/reports", "-o", "reports.patch", cwd=repo)
    assert done.returncode == 1
    text = (repo / "reports.patch").read_bytes()
    assert b"--- a/src/shop/reports/crlf.py" in text
    assert b"queries.py" not in text
    git("apply", "reports.patch", cwd=repo)
    status = git("status", "--porcelain", cwd=repo).stdout
    assert " M src/shop/reports/crlf.py" in status
    assert " M src/shop/reports/no_final_newline.py" in status
    assert "queries.py" not in status


def test_unwritable_output_is_a_usage_error(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    done = asyncmend("diff", "src", "-o", "missing/folder/x.patch", cwd=repo)
    assert done.returncode == 2
    assert done.stderr.startswith("asyncmend: error: missing/folder/x.patch: cannot write")


def _entry() -> str:
    from conftest import entry_point

    return entry_point()


def _env(cwd: Path) -> dict[str, str]:
    import os

    return {**os.environ, "NO_COLOR": "1", "ASYNCMEND_CACHE_DIR": str(cwd / ".asyncmend_cache")}
