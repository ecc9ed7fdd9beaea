"""The pre-commit hooks in .pre-commit-hooks.yaml, run by pre-commit itself on a temp
git repo (``pre-commit try-repo`` installs this repository into its own environment,
with the working tree's tracked changes)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import FIXTURES, ROOT

BASIC = (FIXTURES / "rules" / "AM101" / "positive_basic.py").read_text()
FIXED = (FIXTURES / "rules" / "AM101" / "positive_basic.expected.py").read_text()

pytestmark = [
    pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed"),
    pytest.mark.skipif(not (ROOT / ".git").exists(), reason="not a git checkout"),
]


def _pre_commit() -> str:
    import sys

    found = Path(sys.executable).parent / "pre-commit"
    if not found.exists():
        pytest.skip("pre-commit is not installed (pip install -e '.[test]')")
    return str(found)


@pytest.fixture(scope="module")
def pre_commit_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One hook environment for the module: installing it is the slow part."""
    return tmp_path_factory.mktemp("pre-commit-home")


def _repo(root: Path) -> Path:
    root.mkdir()
    for args in (
        ["init", "-q"],
        ["config", "user.email", "dev@example.com"],
        ["config", "user.name", "Dev"],
    ):
        subprocess.run(["git", *args], cwd=root, check=True)
    (root / "app").mkdir()
    (root / "app" / "queries.py").write_text(BASIC)
    (root / "app" / "clean.py").write_text("def ok() -> int:\n    return 1\n")
    (root / "notes.txt").write_text("session = async_session()\n")
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    return root


def _try_repo(repo: Path, hook: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PRE_COMMIT_HOME": str(home), "NO_COLOR": "1"}
    env.pop("VIRTUAL_ENV", None)
    return subprocess.run(
        [_pre_commit(), "try-repo", str(ROOT), hook, "--all-files", "--color", "never"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def test_check_hook_fails_on_findings(tmp_path: Path, pre_commit_home: Path) -> None:
    repo = _repo(tmp_path / "repo")
    done = _try_repo(repo, "asyncmend-check", pre_commit_home)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "asyncmend check" in done.stdout and "Failed" in done.stdout
    assert "app/queries.py:11:5: AM101" in done.stdout
    assert (repo / "app" / "queries.py").read_text() == BASIC


def test_fix_hook_rewrites_and_fails_the_commit(tmp_path: Path, pre_commit_home: Path) -> None:
    repo = _repo(tmp_path / "repo")
    done = _try_repo(repo, "asyncmend-fix", pre_commit_home)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "files were modified by this hook" in done.stdout
    assert (repo / "app" / "queries.py").read_text() == FIXED
    assert (repo / "notes.txt").read_text() == "session = async_session()\n"  # not python
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    again = _try_repo(repo, "asyncmend-fix", pre_commit_home)
    assert again.returncode == 0, again.stdout + again.stderr
