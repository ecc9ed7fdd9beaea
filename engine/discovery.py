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
import operator
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported where a pattern is read (a tree may have none)
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


def display(path: str | Path) -> str:
    """A path as it can be printed: bytes that are not UTF-8 escaped (``\\xff``), and
    no raw control characters (a newline in a name would forge an output line)."""
    raw = os.fsencode(path)
    text = raw.decode("utf-8", "backslashreplace")
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _spec(lines: Sequence[str]) -> pathspec.PathSpec | None:
    """A gitignore spec of the valid lines; git skips a pattern it cannot read (``!``
    alone, a trailing ``\\``), and so do we. None when every line is blank or a
    comment (git's template ``info/exclude``): such a spec matches nothing."""
    if all(not line or line.startswith("#") for line in lines):
        return None
    import pathspec
    from pathspec.patterns.gitignore import GitIgnorePatternError

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
    import pathspec
    from pathspec.patterns.gitignore import GitIgnorePatternError

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
def _git_root(start: str) -> str | None:
    if os.path.exists(os.path.join(start, ".git")):
        return start
    parent = os.path.dirname(start)
    return None if parent == start else _git_root(parent)


def _resolve(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # a symlink loop
        return Path(os.path.abspath(path))


def _useful(spec: pathspec.PathSpec | None) -> pathspec.PathSpec | None:
    """``spec`` unless it holds no pattern (only comments and blank lines, as git's
    template ``info/exclude``): such a spec matches nothing."""
    if spec is None or not any(p.include is not None for p in spec.patterns):
        return None
    return spec


def real_folder(folder: str, memo: dict[str, str]) -> str:
    """``os.path.realpath`` of an absolute, normalised folder path (no ``..``) with one
    ``lstat`` per folder instead of one per path component: a folder that is no
    symlink is its resolved parent plus its name. ``memo`` holds one run's answers."""
    real = memo.get(folder)
    if real is None:
        parent = os.path.dirname(folder)
        if parent == folder:
            real = folder
        elif os.path.islink(folder):
            real = os.path.realpath(folder)
        else:
            real = os.path.join(real_folder(parent, memo), os.path.basename(folder))
        memo[folder] = real
    return real


def _posix(path: str) -> str:
    return path if os.sep == "/" else path.replace(os.sep, "/")


def _below(path: str, folder: str) -> str | None:
    """``path`` relative to ``folder`` (both absolute), in posix form; None outside it."""
    prefix = folder if folder.endswith(os.sep) else folder + os.sep
    return _posix(path[len(prefix) :]) if path.startswith(prefix) else None


class _Ignorer:
    """Answers "is this path excluded?" for one run. Paths are absolute strings with
    symlinked folders resolved (string operations: a run asks once per entry)."""

    def __init__(self, root: Path, exclude: Sequence[str], respect_gitignore: bool) -> None:
        self.root = str(root)
        self.exclude_patterns = tuple(exclude)
        self.exclude = exclude_spec(exclude)
        self.respect_gitignore = respect_gitignore
        self._specs: dict[str, pathspec.PathSpec | None] = {}
        self._info: dict[str, pathspec.PathSpec | None] = {}
        self._chains: dict[str, list[tuple[str, pathspec.PathSpec]]] = {}
        #: Listed folders with no ``.git`` entry, and each folder's git root.
        self._no_git: set[str] = set()
        self._roots: dict[str, str | None] = {}

    def _spec(self, folder: str) -> pathspec.PathSpec | None:
        if folder not in self._specs:
            self._specs[folder] = _useful(_gitignore_spec(Path(folder)))
        return self._specs[folder]

    def _chain(self, folder: str) -> list[tuple[str, pathspec.PathSpec]]:
        """The ignore specs that apply in ``folder``: its own .gitignore and its
        parents' up to the git root, then the root's ``.git/info/exclude`` (none
        outside a git repository). Built from the parent's chain, once per folder."""
        chain = self._chains.get(folder)
        if chain is not None:
            return chain
        git_root = self._git_root(folder)
        if git_root is None:
            chain = []
        else:
            spec = self._spec(folder)
            own = [(folder, spec)] if spec is not None else []
            parent = os.path.dirname(folder)
            if folder == git_root or parent == folder:
                if git_root not in self._info:  # read once per repository
                    self._info[git_root] = _useful(_info_exclude(Path(git_root)))
                info = self._info[git_root]
                chain = own + ([(git_root, info)] if info is not None else [])
            else:
                chain = own + self._chain(parent)
        self._chains[folder] = chain
        return chain

    def _git_root(self, folder: str) -> str | None:
        """``_git_root(folder)``, with a listed folder that has no ``.git`` entry
        taking its parent's answer (no ``stat`` per folder of a tree)."""
        if folder not in self._roots:
            parent = os.path.dirname(folder)
            if folder in self._no_git and parent != folder:
                self._roots[folder] = self._git_root(parent)
            else:
                self._roots[folder] = _git_root(folder)
        return self._roots[folder]

    def listed(self, folder: str, names: set[str]) -> None:
        """``folder`` was listed (``names``): without a ``.gitignore`` entry there is
        no file to try to read, without a ``.git`` entry it is no repository's root."""
        if ".gitignore" not in names:
            self._specs.setdefault(folder, None)
        if ".git" not in names:
            self._no_git.add(folder)

    def excluded(self, path: str, is_dir: bool) -> bool:
        """Default excludes and ``exclude`` patterns (not .gitignore)."""
        name = os.path.basename(path)
        if name in DEFAULT_EXCLUDES:
            return True
        if self.exclude is None:
            return False
        suffix = "/" if is_dir else ""
        rel = _below(path, self.root) or _posix(path)
        return self.exclude.match_file(rel + suffix) or self.exclude.match_file(name + suffix)

    def needs_matching(self, folder: str) -> bool:
        """Whether an entry of ``folder`` (resolved, listed) can be left out by more
        than its name being a default exclude: an ``exclude`` pattern or a gitignore
        file applies there. Most folders of a tree have neither."""
        return self.exclude is not None or (self.respect_gitignore and bool(self._chain(folder)))

    def ignored(self, folder: str, name: str, is_dir: bool) -> bool:
        """Whether the entry ``name`` of ``folder`` (resolved) is left out."""
        if name in DEFAULT_EXCLUDES:
            return True
        path = os.path.join(folder, name)
        if self.exclude is not None and self.excluded(path, is_dir):
            return True
        if self.respect_gitignore:
            suffix = "/" if is_dir else ""
            for base, spec in self._chain(folder):
                rel = _below(path, base)
                if rel is not None and spec.match_file(rel + suffix):
                    return True
        return False

    def force_excluded(self, path: Path) -> bool:
        """``--force-exclude`` for a path named on the command line: the path or one of
        its folders below the root matches an exclude."""
        resolved = _resolve(path)
        if self.excluded(str(resolved), resolved.is_dir()):
            return True
        for folder in resolved.parents:
            if str(folder) == self.root or folder.parent == folder:
                break
            if self.excluded(str(folder), True):
                return True
        return False


def discover(paths: Iterable[str | Path], **options: Any) -> list[Path]:
    """The Python files under ``paths``, sorted and without duplicates: the paths of
    ``discover_names`` (same options)."""
    return [Path(name) for name in discover_names(paths, **options)]


def discover_names(
    paths: Iterable[str | Path],
    *,
    root: Path | None = None,
    exclude: Sequence[str] = (),
    respect_gitignore: bool = True,
    force_exclude: bool = False,
    errors: list[str] | None = None,
    warnings: list[str] | None = None,
    memo: WalkMemo | None = None,
) -> list[str]:
    """The Python files under ``paths``, sorted and without duplicates, as the strings
    ``str(path)`` (a warm run asks for thousands and needs no ``Path`` objects).

    Raises ``DiscoveryError`` for a named path that does not exist or cannot be read.
    Problems found while walking (an unreadable folder, a broken symlink) go to
    ``errors``, skipped non-Python files named explicitly to ``warnings``; without
    those lists, the first problem raises. ``memo``: folders this run listed before
    (see ``WalkMemo``).
    """
    root = (root or Path.cwd()).resolve()
    ignorer = _Ignorer(root, exclude, respect_gitignore)
    memo = memo if memo is not None else WalkMemo()

    def problem(message: str, into: list[str] | None) -> None:
        if into is None:
            raise DiscoveryError(message)
        into.append(message)

    found: dict[str, None] = {}
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
            found[str(path)] = None  # named explicitly: taken (read errors come later)
            continue
        if not os.access(path, os.R_OK | os.X_OK):
            raise DiscoveryError(f"{display(raw)}: permission denied")
        _walk(path, ignorer, found, lambda message: problem(message, errors), memo)
    return sorted(found, key=_posix) if os.sep != "/" else sorted(found)


#: What a walk keeps of one folder: (file names, folder names, problems as
#: (folder-relative name or "", message tail)).
_Listing = tuple[list[str], list[str], list[tuple[str, str]]]


class WalkMemo(dict[tuple[object, ...], dict[str, _Listing]]):
    """The folders one run has listed, by the settings that decide what a listing
    keeps: a second walk under the same settings (the repo index's scope, after the
    files to check) reads them instead of listing and matching every entry again.
    Only for one run: a folder listed once is taken as it was.

    It also answers, without a system call, what the listings showed: the real path
    of a folder walked (by the name the walk gave it), whether a file found there is
    a symlink, and whether a folder holds a regular file of one of the names in
    ``recorded`` (``__init__.py``, config files: asked per folder by the config and
    the repo index's scope)."""

    def __init__(self, recorded: Iterable[str] = ()) -> None:
        super().__init__()
        self.recorded = frozenset(recorded)
        #: Folder as the walk named it (``os.path.dirname`` of its files' names) ->
        #: its real path.
        self._real: dict[str, str] = {}
        #: Real folder -> (its Python entries that are symlinks, its ``recorded``
        #: names that are regular files).
        self._entries: dict[str, tuple[frozenset[str], frozenset[str]]] = {}

    def listings(self, ignorer: _Ignorer) -> dict[str, _Listing]:
        key = (ignorer.root, ignorer.exclude_patterns, ignorer.respect_gitignore)
        return self.setdefault(key, {})

    def _named(self, named: str, real: str) -> None:
        """A walk named the listed folder ``real`` so (its files are ``named/...``)."""
        if real in self._entries:
            self._real.setdefault(named, real)

    def _walked(self, named: str, real: str, links: list[str], files: list[str]) -> None:
        """A walk listed ``real``, named so: ``links``, its Python entries that are
        symlinks, and ``files``, its ``recorded`` names that are regular files."""
        self._real.setdefault(named, real)
        self._entries.setdefault(real, (frozenset(links), frozenset(files)))

    def real_folder_of(self, file: str) -> str | None:
        """The real folder of a Python file a walk listed (named as the walk names
        it) when the file is no symlink; None when the listings cannot tell."""
        folder, name = os.path.split(file)
        real = self._real.get(folder)
        if real is None or not name.endswith(PYTHON_SUFFIXES) or name in self._entries[real][0]:
            return None
        return real

    def holds_file(self, real_folder: str, name: str) -> bool | None:
        """``os.path.isfile(os.path.join(real_folder, name))`` for a ``recorded`` name
        in a folder a walk listed; None when the listings cannot tell."""
        entries = self._entries.get(real_folder)
        if entries is None or name not in self.recorded:
            return None
        return name in entries[1]


def _walk(  # type: ignore[no-untyped-def]
    top: Path, ignorer: _Ignorer, found: dict[str, None], problem, memo: WalkMemo
) -> None:
    """Depth-first walk below ``top`` without following folder symlinks (so a symlink
    loop cannot recurse), recording unreadable folders and broken symlinks. Names are
    joined as ``Path`` would normalise them (``Path(".") / "a"`` is ``a``)."""
    # (folder as named, folder resolved): below the top, a folder is its parent's
    # resolved path plus its name (symlinked folders are not entered), so only the
    # top is resolved.
    listings = memo.listings(ignorer)
    stack = [(str(top), str(_resolve(top)))]
    while stack:
        base, resolved = stack.pop()
        prefix = "" if base == "." else base if base.endswith(os.sep) else base + os.sep
        listing = listings.get(resolved)
        if listing is None:
            listing = listings[resolved] = _list(base, resolved, ignorer, memo, prefix)
        else:
            memo._named(os.path.dirname(prefix + "_"), resolved)
        files, folders, problems = listing
        for name, message in problems:
            problem(f"{display(os.path.join(base, name) if name else base)}: {message}")
        for name in files:
            found[prefix + name] = None
        stack.extend((prefix + name, os.path.join(resolved, name)) for name in reversed(folders))


def _list(base: str, resolved: str, ignorer: _Ignorer, memo: WalkMemo, prefix: str) -> _Listing:
    """One folder's Python files and subfolders that the ignorer keeps, sorted (and
    what ``memo`` answers about it; ``prefix``: how the walk names its entries)."""
    files: list[str] = []
    folders: list[str] = []
    problems: list[tuple[str, str]] = []
    try:
        with os.scandir(base) as scan:
            entries = sorted(scan, key=_entry_name)
    except OSError as exc:
        problems.append(("", f"cannot read folder: {(exc.strerror or str(exc)).lower()}"))
        return files, folders, problems
    names = {entry.name for entry in entries}
    ignorer.listed(resolved, names)
    matching = ignorer.needs_matching(resolved)
    links: list[str] = []
    marked: list[str] = []  # the memo's recorded names that are regular files here
    recorded = memo.recorded
    for entry in entries:
        name = entry.name
        if name in recorded and _is_file(entry):
            marked.append(name)
        if not name.endswith(PYTHON_SUFFIXES):
            if name in DEFAULT_EXCLUDES:
                continue
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                is_dir = False
            if is_dir and (not matching or not ignorer.ignored(resolved, name, is_dir=True)):
                folders.append(name)
            continue
        link = entry.is_symlink()
        if link:
            links.append(name)  # even when ignored: the memo answers for named files
        try:
            is_dir = not link and entry.is_dir(follow_symlinks=False)
        except OSError:
            is_dir = False
        if is_dir:  # a folder named like a module
            if not matching or not ignorer.ignored(resolved, name, is_dir=True):
                folders.append(name)
            continue
        if matching and ignorer.ignored(resolved, name, is_dir=False):
            continue
        if link:
            if not os.path.exists(entry.path):
                problems.append((name, "broken symlink or symlink loop; skipped"))
                continue
            if os.path.isdir(entry.path):
                continue  # a folder symlink named like a module: not followed
        files.append(name)
    memo._walked(os.path.dirname(prefix + "_"), resolved, links, marked)
    return files, folders, problems


def _is_file(entry: os.DirEntry[str]) -> bool:
    """``os.path.isfile`` of the entry (through a symlink; from the listing when the
    file system gives entry types, else one ``stat``)."""
    try:
        return entry.is_file()
    except OSError:
        return False


_entry_name = operator.attrgetter("name")
