"""Which files a run covers, as ruff chooses them: folders recurse; ``.gitignore``,
``.git/info/exclude``, default and configured excludes apply; a file named on the
command line is taken even if excluded, unless ``force_exclude`` (pre-commit names
every file, so there the excludes must hold for named files too).

Nothing here stops the run for one bad entry: an unreadable folder or a broken
symlink becomes an input error (reported, exit 2 at the end) and the walk goes on; a
non-Python file named on the command line is skipped with a warning.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import pathspec
from pathspec.patterns.gitignore import GitIgnorePatternError

DEFAULT_EXCLUDES = (
    ".git", ".hg", ".svn", ".bzr", ".venv", "venv", ".direnv", ".eggs", ".tox", ".nox",
    ".mypy_cache", ".pytest_cache", ".ruff_cache", ".asyncmend_cache", ".pytype",
    "__pycache__", "__pypackages__", "_build", "buck-out", "build", "dist",
    "node_modules", "site-packages",
)  # fmt: skip
PYTHON_SUFFIXES = (".py", ".pyi")


class DiscoveryError(Exception):
    """A path the user named that cannot be used; the message says which and why."""


def display(path: str | Path) -> str:
    """A path as it can be printed: bytes that are not UTF-8 escaped (``\\xff``), and
    no raw control characters (a newline in a name would forge an output line)."""
    raw = os.fsencode(path)
    text = raw.decode("utf-8", "backslashreplace")
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _spec(lines: Iterable[str]) -> pathspec.PathSpec:
    """A gitignore spec of the valid lines; git skips a pattern it cannot read (``!``
    alone, a trailing ``\\``), and so do we."""
    valid = []
    for line in lines:
        try:
            pathspec.GitIgnoreSpec.from_lines([line])
        except (GitIgnorePatternError, ValueError):
            continue
        valid.append(line)
    return pathspec.GitIgnoreSpec.from_lines(valid)


def exclude_spec(patterns: Sequence[str]) -> pathspec.PathSpec | None:
    """The spec of ``--exclude`` / ``exclude`` patterns; a pattern git cannot read is a
    usage error here (the user typed it), not a skipped line."""
    if not patterns:
        return None
    for pattern in patterns:
        try:
            pathspec.GitIgnoreSpec.from_lines([pattern])
        except (GitIgnorePatternError, ValueError) as exc:
            raise DiscoveryError(
                f"exclude pattern {pattern!r} is not a valid gitignore pattern"
            ) from exc
    return pathspec.GitIgnoreSpec.from_lines(patterns)


def _read_lines(path: Path) -> list[str] | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace").split("\n")
    except OSError:
        return None


def _gitignore_spec(folder: Path) -> pathspec.PathSpec | None:
    lines = _read_lines(folder / ".gitignore")
    return None if lines is None else _spec(lines)


def _info_exclude(git_root: Path) -> pathspec.PathSpec | None:
    """``.git/info/exclude`` (in the common git folder for worktrees and submodules)."""
    dot_git = git_root / ".git"
    git_dir = dot_git
    if dot_git.is_file():
        lines = _read_lines(dot_git) or []
        line = next((x for x in lines if x.startswith("gitdir:")), None)
        if line is None:
            return None
        git_dir = (git_root / line.removeprefix("gitdir:").strip()).resolve()
        common = _read_lines(git_dir / "commondir")
        if common and common[0].strip():
            git_dir = (git_dir / common[0].strip()).resolve()
    lines = _read_lines(git_dir / "info" / "exclude")
    return None if lines is None else _spec(lines)


@functools.lru_cache(maxsize=4096)
def _git_root(start: Path) -> Path | None:
    if (start / ".git").exists():
        return start
    return None if start.parent == start else _git_root(start.parent)


def _resolve(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # a symlink loop
        return Path(os.path.abspath(path))


class _Ignorer:
    """Answers "is this path excluded?" for one run."""

    def __init__(self, root: Path, exclude: Sequence[str], respect_gitignore: bool) -> None:
        self.root = root
        self.exclude = exclude_spec(exclude)
        self.respect_gitignore = respect_gitignore
        self._specs: dict[Path, pathspec.PathSpec | None] = {}
        self._info: dict[Path, pathspec.PathSpec | None] = {}

    def _spec(self, folder: Path) -> pathspec.PathSpec | None:
        if folder not in self._specs:
            self._specs[folder] = _gitignore_spec(folder)
        return self._specs[folder]

    @functools.lru_cache(maxsize=4096)  # noqa: B019 - one ignorer per run
    def _chain(self, folder: Path) -> list[tuple[Path, pathspec.PathSpec]]:
        """The ignore specs that apply in ``folder``: its own .gitignore and its
        parents' up to the git root, then the root's ``.git/info/exclude`` (none
        outside a git repository)."""
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
                break
            current = current.parent
        if git_root not in self._info:  # read once per repository, not per folder
            self._info[git_root] = _info_exclude(git_root)
        info = self._info[git_root]
        if info is not None:
            chain.append((git_root, info))
        return chain

    def excluded(self, path: Path, is_dir: bool) -> bool:
        """Default excludes and ``exclude`` patterns (not .gitignore)."""
        if path.name in DEFAULT_EXCLUDES:
            return True
        if self.exclude is None:
            return False
        suffix = "/" if is_dir else ""
        try:
            rel = path.relative_to(self.root).as_posix()
        except ValueError:
            rel = path.as_posix()
        return self.exclude.match_file(rel + suffix) or self.exclude.match_file(path.name + suffix)

    def ignored(self, path: Path, is_dir: bool) -> bool:
        if self.excluded(path, is_dir):
            return True
        if self.respect_gitignore:
            suffix = "/" if is_dir else ""
            for folder, spec in self._chain(path.parent):
                rel = path.relative_to(folder).as_posix() + suffix
                if spec.match_file(rel):
                    return True
        return False

    def force_excluded(self, path: Path) -> bool:
        """``--force-exclude`` for a path named on the command line: the path or one of
        its folders below the root matches an exclude."""
        resolved = _resolve(path)
        if self.excluded(resolved, resolved.is_dir()):
            return True
        for folder in resolved.parents:
            if folder == self.root or folder.parent == folder:
                break
            if self.excluded(folder, True):
                return True
        return False


def discover(
    paths: Iterable[str | Path],
    *,
    root: Path | None = None,
    exclude: Sequence[str] = (),
    respect_gitignore: bool = True,
    force_exclude: bool = False,
    errors: list[str] | None = None,
    warnings: list[str] | None = None,
) -> list[Path]:
    """The Python files under ``paths``, sorted and without duplicates.

    Raises ``DiscoveryError`` for a named path that does not exist or cannot be read.
    Problems found while walking (an unreadable folder, a broken symlink) go to
    ``errors``, skipped non-Python files named explicitly to ``warnings``; without
    those lists, the first problem raises.
    """
    root = (root or Path.cwd()).resolve()
    ignorer = _Ignorer(root, exclude, respect_gitignore)

    def problem(message: str, into: list[str] | None) -> None:
        if into is None:
            raise DiscoveryError(message)
        into.append(message)

    found: dict[Path, None] = {}
    for raw in paths:
        path = Path(raw)
        if not os.path.lexists(path):
            raise DiscoveryError(f"{display(raw)}: no such file or directory")
        if force_exclude and ignorer.force_excluded(path):
            continue
        if not path.is_dir():
            if path.is_file() and not os.access(path, os.R_OK):
                raise DiscoveryError(f"{display(raw)}: permission denied")
            if not path.name.endswith(PYTHON_SUFFIXES) and path.is_file():
                problem(f"{display(raw)}: not a Python file (.py, .pyi); skipped", warnings)
                continue
            found[path] = None  # named explicitly: taken (read errors come later)
            continue
        if not os.access(path, os.R_OK | os.X_OK):
            raise DiscoveryError(f"{display(raw)}: permission denied")
        _walk(path, ignorer, found, lambda message: problem(message, errors))
    return sorted(found, key=lambda p: p.as_posix())


def _walk(top: Path, ignorer: _Ignorer, found: dict[Path, None], problem) -> None:  # type: ignore[no-untyped-def]
    """Depth-first walk below ``top`` without following folder symlinks (so a symlink
    loop cannot recurse), recording unreadable folders and broken symlinks."""
    stack = [top]
    while stack:
        base = stack.pop()
        try:
            with os.scandir(base) as scan:
                entries = sorted(scan, key=lambda e: e.name)
        except OSError as exc:
            reason = (exc.strerror or str(exc)).lower()
            problem(f"{display(base)}: cannot read folder: {reason}")
            continue
        resolved = _resolve(base)
        folders = []
        for entry in entries:
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                is_dir = False
            if is_dir:
                if not ignorer.ignored(resolved / entry.name, is_dir=True):
                    folders.append(base / entry.name)
                continue
            if not entry.name.endswith(PYTHON_SUFFIXES):
                continue
            if ignorer.ignored(resolved / entry.name, is_dir=False):
                continue
            if entry.is_symlink() and not os.path.exists(entry.path):
                problem(f"{display(entry.path)}: broken symlink or symlink loop; skipped")
                continue
            if entry.is_symlink() and os.path.isdir(entry.path):
                continue  # a folder symlink named like a module: not followed
            found[base / entry.name] = None
        stack.extend(reversed(folders))
