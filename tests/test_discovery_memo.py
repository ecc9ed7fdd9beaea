"""The walk's listings answer what the config and the repo index's scope would ask the
file system (a warm run asks for every folder of the tree): the answers must be the
file system's own, for plain files, symlinked files and folders, odd entries, nested
configs and packages, and "cannot tell" wherever the listings did not look."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from asyncmend.engine.config import CONFIG_NAMES, ConfigResolver
from asyncmend.engine.discovery import WalkMemo, discover_names
from asyncmend.engine.runner import index_scope

RECORDED = ("__init__.py", *CONFIG_NAMES)


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Packages, a nested config, symlinked files and folders, a folder named like a
    config file, a broken symlink named ``__init__.py``; the working folder is its root."""
    root = tmp_path / "repo"
    (root / "app" / "db").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[tool.asyncmend]\n")
    for folder in ("app", "app/db"):
        (root / folder / "__init__.py").write_text("")
    (root / "app" / "db" / "models.py").write_text("x = 1\n")
    (root / "sub").mkdir()
    (root / "sub" / "asyncmend.toml").write_text("select = ['AM101']\n")
    (root / "sub" / "tool.py").write_text("x = 1\n")
    (root / "sub" / "pyproject.toml").mkdir()  # a folder: no config
    (root / "loose").mkdir()
    (root / "loose" / "__init__.py").symlink_to(root / "missing.py")  # broken
    (root / "loose" / "script.py").write_text("x = 1\n")
    outside = tmp_path / "outside" / "pkg"
    outside.mkdir(parents=True)
    (outside / "__init__.py").write_text("")
    (outside / "real.py").write_text("x = 1\n")
    (root / "linked.py").symlink_to(outside / "real.py")  # a file symlink
    (root / "app" / "alias").symlink_to(outside, target_is_directory=True)  # not entered
    monkeypatch.chdir(root)
    return root


def _walked(tree: Path) -> tuple[list[str], WalkMemo]:
    memo = WalkMemo(recorded=RECORDED)
    files = discover_names(["."], root=tree, errors=[], warnings=[], memo=memo)
    return files, memo


def test_listings_answer_as_the_file_system_does(tree: Path) -> None:
    files, memo = _walked(tree)
    assert "linked.py" in files and "app/db/models.py" in files
    for name in files:
        real = memo.real_folder_of(name)
        if os.path.islink(name):
            assert real is None  # a symlink's folder is not its target's
        else:
            assert real == os.path.realpath(os.path.dirname(name) or ".")
    folders = {os.path.realpath(os.path.dirname(f) or ".") for f in files} | {str(tree)}
    for folder in folders:
        for name in RECORDED:
            assert memo.holds_file(folder, name) == os.path.isfile(os.path.join(folder, name))
        assert memo.holds_file(folder, "setup.py") is None  # not recorded: cannot tell
    assert memo.holds_file(str(tree / "sub"), "pyproject.toml") is False  # a folder
    assert memo.holds_file(str(tree / "loose"), "__init__.py") is False  # broken link
    assert memo.holds_file(str(tree.parent / "outside" / "pkg"), "__init__.py") is None
    assert memo.real_folder_of(str(tree / "app" / "db" / "models.py")) is None  # unwalked name


def test_scope_and_configs_are_the_same_with_and_without_the_listings(tree: Path) -> None:
    files, memo = _walked(tree)
    named = [*files, "./app/db/models.py", "app/../app/db/models.py"]  # spelled otherwise
    assert index_scope(named, memo) == index_scope(named)
    scope = sorted(map(str, index_scope(named, memo)))
    assert scope == sorted(["app", str(tree.parent / "outside" / "pkg")])

    def overrides(config: object) -> None:
        pass

    with_memo = ConfigResolver(overrides, walks=memo)
    without = ConfigResolver(overrides)
    for name in named:
        assert with_memo.for_file(name).source == without.for_file(name).source, name
    assert with_memo.for_file("sub/tool.py").source == tree / "sub" / "asyncmend.toml"
    assert with_memo.for_file("loose/script.py").source == tree / "pyproject.toml"
