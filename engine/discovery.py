"""Which files a run covers: directories recurse, ``.gitignore`` is honoured, default
and configured excludes apply, and a file named on the command line is always taken."""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import pathspec

DEFAULT_EXCLUDES = (
    ".git", ".hg", ".svn", ".bzr", ".venv", "venv", ".direnv", ".eggs", ".tox", ".nox",
    ".mypy_cache", ".pytest_cache", ".ruff_cache", ".asyncmend_cache", ".pytype",
    "__pycache__", "__pypackages__", "_build", "buck-out", "build", "dist",
    "node_modules", "site-packages",
)  # fmt: skip
PYTHON_SUFFIXES = (".py", ".pyi")


class DiscoveryError(Exception):
    """A path the user named that cannot be used; the message says which and why."""


def _gitignore_spec(folder: Path) -> pathspec.PathSpec | None:
    ignore_file = folder / ".gitignore"
    try:
        lines = ignore_file.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    return pathspec.GitIgnoreSpec.from_lines(lines)


@functools.lru_cache(maxsize=4096)
def _git_root(start: Path) -> Path | None:
    if (start / ".git").exists():
        return start
    return None if start.parent == start else _git_root(start.parent)


class _Ignorer:
    """Answers "is this path excluded?" for one run."""

    def __init__(self, root: Path, exclude: Sequence[str], respect_gitignore: bool) -> None:
        self.root = root
        self.exclude = pathspec.GitIgnoreSpec.from_lines(exclude) if exclude else None
        self.respect_gitignore = respect_gitignore
        self._specs: dict[Path, pathspec.PathSpec | None] = {}

    def _spec(self, folder: Path) -> pathspec.PathSpec | None:
        if folder not in self._specs:
            self._specs[folder] = _gitignore_spec(folder)
        return self._specs[folder]

    @functools.lru_cache(maxsize=4096)  # noqa: B019 - one ignorer per run
    def _chain(self, folder: Path) -> list[tuple[Path, pathspec.PathSpec]]:
        """The .gitignore specs that apply in ``folder``: its own and its parents' up to
        the git root (none outside a git repository)."""
        git_root = _git_root(folder)
        if git_root is None:
            return []
        chain = []
        current = folder
        while True:
            spec = self._spec(current)
            if spec is not None:
                chain.append((current, spec))
            if current == git_root or current.parent == current:
                return chain
            current = current.parent

    def ignored(self, path: Path, is_dir: bool) -> bool:
        if path.name in DEFAULT_EXCLUDES:
            return True
        suffix = "/" if is_dir else ""
        if self.exclude is not None:
            try:
                rel = path.relative_to(self.root).as_posix()
            except ValueError:
                rel = path.as_posix()
            if self.exclude.match_file(rel + suffix) or self.exclude.match_file(path.name + suffix):
                return True
        if self.respect_gitignore:
            for folder, spec in self._chain(path.parent):
                rel = path.relative_to(folder).as_posix() + suffix
                if spec.match_file(rel):
                    return True
        return False


def discover(
    paths: Iterable[str | Path],
    *,
    root: Path | None = None,
    exclude: Sequence[str] = (),
    respect_gitignore: bool = True,
) -> list[Path]:
    """The Python files under ``paths``, sorted and without duplicates.

    Raises ``DiscoveryError`` for a path that does not exist or cannot be read.
    """
    root = (root or Path.cwd()).resolve()
    ignorer = _Ignorer(root, exclude, respect_gitignore)
    found: dict[Path, None] = {}
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise DiscoveryError(f"{raw}: no such file or directory")
        if path.is_file():
            if not os.access(path, os.R_OK):
                raise DiscoveryError(f"{raw}: permission denied")
            found[path] = None  # named explicitly: always included
            continue
        if not os.access(path, os.R_OK | os.X_OK):
            raise DiscoveryError(f"{raw}: permission denied")
        for folder, dirnames, filenames in os.walk(path):
            base = Path(folder)
            resolved = base.resolve()
            dirnames[:] = sorted(
                d for d in dirnames if not ignorer.ignored(resolved / d, is_dir=True)
            )
            for name in sorted(filenames):
                if name.endswith(PYTHON_SUFFIXES) and not ignorer.ignored(resolved / name, False):
                    found[base / name] = None
    return sorted(found, key=lambda p: p.as_posix())
