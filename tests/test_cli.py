"""End to end: the installed ``asyncmend`` entry point, run as a user runs it, on temp
copies of the fixtures."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from conftest import FIXTURES, asyncmend, entry_point, snapshot

AM101_CASE = FIXTURES / "rules" / "AM101" / "positive_basic.py"
BROKEN = "from sqlalchemy.ext.asyncio import AsyncSession\n\nasync def f(:\n    pass\n"


def _git(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)


def _init_repo(root: Path) -> None:
    _git("init", "-q", cwd=root)
    _git("-c", "user.email=t@example.com", "-c", "user.name=t", "add", "-A", cwd=root)
    _git("-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qm", "init", cwd=root)


# -- the three verbs ---------------------------------------------------------------------


def test_check_lists_findings_like_ruff(demo_copy: Path) -> None:
    result = asyncmend("check", "--select", "AM101", ".", cwd=demo_copy)
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert "app/services/users.py:17:5: AM101 Session `session` from `async_session()`" in lines[0]
    assert lines[0].endswith("[*]")
    assert "Found 2 errors." in lines
    assert "[*] 2 fixable with `asyncmend fix`." in lines


def test_check_json_is_rufflike(demo_copy: Path) -> None:
    result = asyncmend("check", "--select", "AM101", "--format", "json", ".", cwd=demo_copy)
    assert result.returncode == 1
    data = json.loads(result.stdout)
    assert len(data) == 2
    first = data[0]
    assert set(first) == {
        *("code", "name", "message", "filename", "location", "end_location", "fix", "url")
    }
    assert first["code"] == "AM101" and first["name"] == "bare-session"
    assert first["url"].endswith("/docs/rules/AM101.md")
    assert first["filename"] == "app/services/users.py"
    assert first["location"] == {"row": 17, "column": 5}
    assert first["fix"]["applicability"] == "safe"


def test_diff_is_a_patch_git_applies_and_fix_leaves_nothing(demo_copy: Path) -> None:
    _init_repo(demo_copy)
    before = snapshot(demo_copy)
    diff = asyncmend("diff", "--select", "AM101", ".", cwd=demo_copy)
    assert diff.returncode == 1
    assert diff.stdout.startswith("--- a/app/services/users.py\n+++ b/app/services/users.py\n")
    assert "\x1b[" not in diff.stdout  # no colour when piped
    assert snapshot(demo_copy) == before  # diff writes nothing
    patch = demo_copy.parent / "changes.patch"
    patch.write_text(diff.stdout)
    assert _git("apply", "--check", str(patch), cwd=demo_copy).returncode == 0

    fixed = asyncmend("fix", "--select", "AM101", ".", cwd=demo_copy)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "Fixed 2 finding(s) in 2 file(s)" in fixed.stderr
    assert "AM101 bare-session: 2" in fixed.stderr
    # What fix wrote is exactly what the patch said.
    _git("stash", "-q", cwd=demo_copy)
    assert _git("apply", str(patch), cwd=demo_copy).returncode == 0
    applied = snapshot(demo_copy)
    _git("checkout", "-q", ".", cwd=demo_copy)
    _git("stash", "pop", "-q", cwd=demo_copy)
    assert snapshot(demo_copy) == applied

    again = asyncmend("diff", "--select", "AM101", ".", cwd=demo_copy)
    assert again.returncode == 0 and again.stdout == ""


def test_fix_exit_codes(tmp_path: Path) -> None:
    shutil.copy(AM101_CASE, tmp_path / "a.py")
    (tmp_path / "b.py").write_text(
        "from sqlalchemy.ext.asyncio import async_sessionmaker\nS = async_sessionmaker()\n\n"
        "async def f():\n    s = S()\n    return s\n"
    )
    result = asyncmend("fix", "--exit-non-zero-on-fix", "a.py", cwd=tmp_path)
    assert result.returncode == 1  # something was fixed
    assert asyncmend("fix", "a.py", cwd=tmp_path).returncode == 0  # nothing left
    remaining = asyncmend("fix", "b.py", cwd=tmp_path)
    assert remaining.returncode == 1  # an unfixable finding remains
    assert "b.py:5:5: AM101" in remaining.stdout
    assert asyncmend("check", "--exit-zero", "b.py", cwd=tmp_path).returncode == 0


def test_rules_and_explain(tmp_path: Path) -> None:
    rules = asyncmend("rules", cwd=tmp_path)
    assert rules.returncode == 0
    assert any(
        line.split()[:3] == ["AM101", "[*]", "bare-session"] for line in rules.stdout.splitlines()
    )
    explain = asyncmend("explain", "am101", cwd=tmp_path)
    assert explain.returncode == 0
    for heading in ("## What it does", "## Why is this bad?", "## Example", "## Use instead"):
        assert heading in explain.stdout


# -- bad input: one line on stderr, exit 2, nothing written ------------------------------


def _assert_usage_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("asyncmend: error: ")
    for needle in needles:
        assert needle in lines[0]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("verb", ["check", "diff", "fix"])
def test_unknown_rule_code(verb: str, demo_copy: Path) -> None:
    before = snapshot(demo_copy)
    _assert_usage_error(asyncmend(verb, "--select", "AM999", ".", cwd=demo_copy), "AM999")
    assert snapshot(demo_copy) == before


def test_unknown_explain_code(tmp_path: Path) -> None:
    _assert_usage_error(asyncmend("explain", "XYZ1", cwd=tmp_path), "XYZ1")


def test_bad_config_key(demo_copy: Path) -> None:
    (demo_copy / "pyproject.toml").write_text(
        "[tool.asyncmend]\nselect = ['AM1']\nsesion-names = ['s']\n"
    )
    before = snapshot(demo_copy)
    result = asyncmend("fix", ".", cwd=demo_copy)
    _assert_usage_error(result, "sesion-names", "pyproject.toml")
    assert snapshot(demo_copy) == before


def test_bad_config_value_and_toml(tmp_path: Path) -> None:
    shutil.copy(AM101_CASE, tmp_path / "a.py")
    (tmp_path / "pyproject.toml").write_text("[tool.asyncmend]\nselect = 'AM1'\n")
    _assert_usage_error(asyncmend("check", "a.py", cwd=tmp_path), "select")
    (tmp_path / "pyproject.toml").write_text("[tool.asyncmend\n")
    _assert_usage_error(asyncmend("check", "a.py", cwd=tmp_path), "invalid TOML")
    _assert_usage_error(
        asyncmend("check", "--config", "nope.toml", "a.py", cwd=tmp_path), "nope.toml"
    )


def test_missing_path(tmp_path: Path) -> None:
    _assert_usage_error(asyncmend("check", "does/not/exist.py", cwd=tmp_path), "does/not/exist.py")


def test_binary_file(tmp_path: Path) -> None:
    shutil.copy(AM101_CASE, tmp_path / "a.py")
    original = (tmp_path / "a.py").read_bytes()
    (tmp_path / "blob.py").write_bytes(bytes(range(256)) * 4)
    result = asyncmend("fix", ".", cwd=tmp_path)
    assert result.returncode == 2
    assert "asyncmend: error: blob.py: binary file" in result.stderr
    assert (tmp_path / "a.py").read_bytes() == original  # bad input: nothing is written


def test_unreadable_file(tmp_path: Path) -> None:
    """A file the user may not read. Root reads everything, so as root the CLI runs as
    ``nobody`` (setpriv) on a folder that user may enter but a file it may not read."""
    folder = Path(tempfile.mkdtemp(prefix="asyncmend-unreadable-"))
    try:
        folder.chmod(0o755)
        target = folder / "a.py"
        shutil.copy(AM101_CASE, target)
        target.chmod(0)
        prefix: list[str] = []
        if os.geteuid() == 0:
            if shutil.which("setpriv") is None:
                pytest.skip("running as root without setpriv: cannot make a file unreadable")
            prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        result = subprocess.run(
            [*prefix, entry_point(), "check", "a.py"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "HOME": str(folder)},
        )
        _assert_usage_error(result, "a.py", "permission denied")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_unparsable_file_is_am000_and_the_run_goes_on(tmp_path: Path) -> None:
    shutil.copy(AM101_CASE, tmp_path / "a.py")
    (tmp_path / "broken.py").write_text(BROKEN)
    check = asyncmend("check", ".", cwd=tmp_path)
    assert check.returncode == 1
    assert "a.py:11:5: AM101" in check.stdout
    broken = [line for line in check.stdout.splitlines() if line.startswith("broken.py")]
    assert (
        len(broken) == 1
        and broken[0].startswith("broken.py:3:")
        and " AM000 Cannot parse" in broken[0]
    )

    fix = asyncmend("fix", ".", cwd=tmp_path)
    assert fix.returncode == 1  # AM000 remains
    assert (tmp_path / "broken.py").read_text() == BROKEN
    assert "async with async_session() as session" in (tmp_path / "a.py").read_text()


# -- discovery -------------------------------------------------------------------------


def test_gitignore_default_excludes_and_explicit_files(tmp_path: Path) -> None:
    for folder in ("src", "generated", ".venv/lib", "build"):
        (tmp_path / folder).mkdir(parents=True)
        shutil.copy(AM101_CASE, tmp_path / folder / "a.py")
    (tmp_path / ".gitignore").write_text("generated/\n")
    _git("init", "-q", cwd=tmp_path)
    result = asyncmend("check", "--format", "json", ".", cwd=tmp_path)
    assert sorted({f["filename"] for f in json.loads(result.stdout)}) == ["src/a.py"]
    excluded = asyncmend("check", "--exclude", "src", ".", cwd=tmp_path)
    assert excluded.returncode == 0
    explicit = asyncmend("check", "--format", "json", "generated/a.py", cwd=tmp_path)
    assert [f["filename"] for f in json.loads(explicit.stdout)] == ["generated/a.py"]


def test_config_select_per_file_ignores_and_suppression(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    shutil.copy(AM101_CASE, tmp_path / "a.py")
    shutil.copy(AM101_CASE, tmp_path / "tests" / "test_a.py")
    (tmp_path / "pyproject.toml").write_text(
        '[tool.asyncmend]\nper-file-ignores = { "tests/*" = ["AM1"] }\n'
    )
    result = asyncmend("check", "--format", "json", ".", cwd=tmp_path)
    assert [f["filename"] for f in json.loads(result.stdout)] == ["a.py"]
    source = (tmp_path / "a.py").read_text().replace("# expect: AM101", "# noqa: AM101")
    (tmp_path / "a.py").write_text(source)
    assert asyncmend("check", ".", cwd=tmp_path).returncode == 0
    (tmp_path / "pyproject.toml").write_text('[tool.asyncmend]\nignore = ["AM101"]\n')
    (tmp_path / "tests" / "test_a.py").write_text(AM101_CASE.read_text())
    assert asyncmend("check", ".", cwd=tmp_path).returncode == 0


def test_parallel_run_matches_serial(tmp_path: Path) -> None:
    for index in range(40):
        shutil.copy(AM101_CASE, tmp_path / f"m{index:02}.py")
    serial = asyncmend("check", "--jobs", "1", "--format", "json", ".", cwd=tmp_path)
    parallel = asyncmend("check", "--jobs", "2", "--format", "json", ".", cwd=tmp_path)
    assert json.loads(serial.stdout) == json.loads(parallel.stdout)
    assert len(json.loads(parallel.stdout)) == 40
