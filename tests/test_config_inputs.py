"""Config as ruff finds it: the nearest config file per file, `extend`, command-line
overrides on top; every invalid config is one line on stderr and exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import asyncmend

SLEEPY = "import time\n\n\nasync def f():\n    time.sleep(1)\n"


def _found(result) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return sorted((f["filename"], f["code"]) for f in json.loads(result.stdout))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"tool = 5\n", "`tool` must be a table"),
        (b'[tool]\nasyncmend = "x"\n', "[tool.asyncmend] must be a table"),
        (b"[tool.asyncmend\n", "invalid TOML"),
        (b"[tool.asyncmend]\nselect = ['AM1']\n# \xff\xfe\n", "not valid UTF-8"),
        (b'[tool.asyncmend]\nper-file-ignores = { "a.py" = ["AM999"] }\n', "AM999"),
        (b'[tool.asyncmend]\nextend = "nowhere.toml"\n', "no such file"),
        (b'[tool.asyncmend]\nextend = "pyproject.toml"\n', "cycle"),
        (b"[tool.asyncmend]\nextend = 3\n", "extend: expected str"),
        (b'[tool.asyncmend]\nmax-file-size = "big"\n', "max-file-size: expected a size"),
    ],
)
def test_invalid_config_is_one_line_and_exit_2(
    tmp_path: Path, content: bytes, message: str
) -> None:
    (tmp_path / "a.py").write_text(SLEEPY)
    (tmp_path / "pyproject.toml").write_bytes(content)
    result = asyncmend("check", "a.py", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("asyncmend: error: ") and message in result.stderr
    assert "Traceback" not in result.stderr


def test_empty_select_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text(SLEEPY)
    result = asyncmend("check", "--select", "", "a.py", cwd=tmp_path)
    assert result.returncode == 2
    assert "--select" in result.stderr and result.stderr.count("\n") == 1


def test_each_file_gets_its_nearest_config(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.py").write_text(SLEEPY)
    (tmp_path / "sub" / "b.py").write_text(SLEEPY)
    (tmp_path / "sub" / "pyproject.toml").write_text('[tool.asyncmend]\nignore = ["AM205"]\n')
    # The first path used to choose the config of the whole run.
    for order in (["sub", "a.py"], ["a.py", "sub"], ["."]):
        result = asyncmend("check", "--format", "json", *order, cwd=tmp_path)
        assert _found(result) == [("a.py", "AM205")], order
    # Command-line flags override every config.
    (tmp_path / "sub" / "pyproject.toml").write_text('[tool.asyncmend]\nselect = ["AM1"]\n')
    assert _found(asyncmend("check", "--format", "json", ".", cwd=tmp_path)) == [("a.py", "AM205")]
    result = asyncmend("check", "--format", "json", "--select", "AM205", ".", cwd=tmp_path)
    assert _found(result) == [("a.py", "AM205"), ("sub/b.py", "AM205")]
    assert (
        _found(asyncmend("check", "--format", "json", "--ignore", "AM2", ".", cwd=tmp_path)) == []
    )


def test_asyncmend_toml_is_found_before_pyproject(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text(SLEEPY)
    (tmp_path / "pyproject.toml").write_text('[tool.asyncmend]\nselect = ["AM205"]\n')
    (tmp_path / "asyncmend.toml").write_text('ignore = ["AM205"]\n')
    result = asyncmend("check", "--format", "json", ".", cwd=tmp_path)
    assert _found(result) == []


def test_extend(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.py").write_text(SLEEPY)
    (tmp_path / "sub" / "b.py").write_text(SLEEPY)
    (tmp_path / "pyproject.toml").write_text('[tool.asyncmend]\nignore = ["AM205"]\n')
    (tmp_path / "sub" / "pyproject.toml").write_text(
        '[tool.asyncmend]\nextend = "../pyproject.toml"\n'
        'per-file-ignores = { "other.py" = ["AM1"] }\n'
    )
    result = asyncmend("check", "--format", "json", ".", cwd=tmp_path)
    assert _found(result) == []  # sub inherits ignore = ["AM205"]
    (tmp_path / "sub" / "pyproject.toml").write_text(
        '[tool.asyncmend]\nextend = "../pyproject.toml"\nignore = []\n'
    )
    result = asyncmend("check", "--format", "json", ".", cwd=tmp_path)
    assert _found(result) == [("sub/b.py", "AM205")]  # its own keys win


def test_per_file_ignores_relative_to_the_files_own_config(tmp_path: Path) -> None:
    (tmp_path / "sub" / "tests").mkdir(parents=True)
    (tmp_path / "sub" / "tests" / "t.py").write_text(SLEEPY)
    (tmp_path / "sub" / "pyproject.toml").write_text(
        '[tool.asyncmend]\nper-file-ignores = { "tests/*" = ["AM205"] }\n'
    )
    (tmp_path / "pyproject.toml").write_text("[tool.asyncmend]\n")
    result = asyncmend("check", "--format", "json", ".", cwd=tmp_path)
    assert _found(result) == []


def test_nested_config_excludes_apply_to_its_files(tmp_path: Path) -> None:
    (tmp_path / "sub" / "migrations").mkdir(parents=True)
    (tmp_path / "sub" / "migrations" / "m.py").write_text(SLEEPY)
    (tmp_path / "sub" / "b.py").write_text(SLEEPY)
    (tmp_path / "sub" / "pyproject.toml").write_text('[tool.asyncmend]\nexclude = ["migrations"]\n')
    result = asyncmend("check", "--format", "json", ".", cwd=tmp_path)
    assert _found(result) == [("sub/b.py", "AM205")]
    named = asyncmend("check", "--format", "json", "sub/migrations/m.py", cwd=tmp_path)
    assert _found(named) == [("sub/migrations/m.py", "AM205")]
    forced = asyncmend(
        "check",
        "--format",
        "json",
        "--force-exclude",
        "sub/migrations/m.py",
        "sub/b.py",
        cwd=tmp_path,
    )
    assert _found(forced) == [("sub/b.py", "AM205")]


def test_max_file_size_from_the_config(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text(SLEEPY)
    (tmp_path / "pyproject.toml").write_text("[tool.asyncmend]\nmax-file-size = 20\n")
    result = asyncmend("check", "a.py", "--no-cache", cwd=tmp_path)
    assert "over the size limit" in result.stderr
    assert "AM205" not in result.stdout
    (tmp_path / "pyproject.toml").write_text('[tool.asyncmend]\nmax-file-size = "1KB"\n')
    assert "AM205" in asyncmend("check", "a.py", "--no-cache", cwd=tmp_path).stdout
