"""The Python API for scripted use.

>>> from asyncmend.engine import run
>>> report = run(["src/"], select=["AM101"], fix=True)
>>> for finding in report.findings: print(finding.path, finding.line, finding.code)
>>> print(report.diff())
>>> report.apply()   # writes the fixed files atomically
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from asyncmend.engine.cache import ResultCache
from asyncmend.engine.config import Config, load_config
from asyncmend.engine.diff import unified_diff
from asyncmend.engine.discovery import discover
from asyncmend.engine.index import RepoIndex
from asyncmend.engine.job import Job
from asyncmend.engine.results import FileResult, Finding
from asyncmend.engine.runner import (
    Pool,
    build_index,
    check_files,
    default_jobs,
    hash_files,
    index_digest,
    index_scope,
)
from asyncmend.engine.writer import ChangedOnDiskError, write_atomic

if TYPE_CHECKING:
    from asyncmend.codemods.base import Rule


@dataclass
class ApplyResult:
    written: list[str] = field(default_factory=list)
    #: Files left alone because they changed on disk since they were read.
    skipped: list[str] = field(default_factory=list)


@dataclass
class Report:
    """What a run found and would change. Only files with something to say are kept."""

    results: list[FileResult] = field(default_factory=list)
    files_checked: int = 0
    #: Files that could not be read (unreadable, binary); a usage error (exit 2).
    input_errors: list[str] = field(default_factory=list)
    #: Rules that crashed or fixes that failed verification (exit 2).
    internal_errors: list[str] = field(default_factory=list)

    @property
    def findings(self) -> list[Finding]:
        """Findings on the files as they were read."""
        return [f for result in self.results for f in result.findings]

    @property
    def remaining(self) -> list[Finding]:
        """Findings that fixing would leave (equals ``findings`` for a check run)."""
        return [f for result in self.results for f in result.remaining]

    @property
    def changed(self) -> list[FileResult]:
        return [result for result in self.results if result.changed]

    def applied_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for result in self.changed:
            for code, count in result.applied.items():
                counts[code] = counts.get(code, 0) + count
        return counts

    def diffs(self) -> Iterator[tuple[str, str]]:
        """``(path, unified diff)`` for every file fixing would change."""
        for result in self.changed:
            assert result.original is not None and result.fixed is not None
            before = result.original.decode(result.encoding)
            after = result.fixed.decode(result.encoding)
            yield result.path, unified_diff(_display_path(result.path), before, after)

    def diff(self) -> str:
        return "".join(text for _, text in self.diffs())

    def apply(self) -> ApplyResult:
        """Write every changed file atomically; skip those changed on disk meanwhile."""
        outcome = ApplyResult()
        for result in self.changed:
            assert result.original is not None and result.fixed is not None
            try:
                write_atomic(result.path, result.fixed, expected=result.original)
            except (ChangedOnDiskError, FileNotFoundError):
                outcome.skipped.append(result.path)
            else:
                outcome.written.append(result.path)
        return outcome


def _display_path(path: str) -> str:
    """Paths relative to the working directory where possible (what ``git apply`` wants)."""
    try:
        return Path(os.path.relpath(path)).as_posix()
    except ValueError:  # another drive on Windows
        return Path(path).as_posix()


def run(
    paths: Sequence[str | os.PathLike[str]],
    *,
    select: Sequence[str] | None = None,
    ignore: Sequence[str] | None = None,
    fix: bool = False,
    unsafe_fixes: bool | None = None,
    exclude: Sequence[str] = (),
    config: Config | None = None,
    config_path: str | os.PathLike[str] | None = None,
    rules: Sequence[type[Rule]] | None = None,
    jobs: int | None = None,
    use_cache: bool = False,
    on_result: Callable[[FileResult], None] | None = None,
) -> Report:
    """Check (``fix=False``) or compute fixes for (``fix=True``) the files under ``paths``.

    Nothing is written until ``Report.apply()``. ``rules`` runs the given rule classes
    instead of the registry's selection (for user codemods). ``use_cache`` reads and
    writes the content-hash cache (the CLI's default).
    Raises ``ConfigError``, ``DiscoveryError`` or ``UnknownRuleError`` for bad input.
    """
    from asyncmend.codemods.registry import select_codes

    if config is None:
        start = Path(paths[0]) if paths else Path.cwd()
        config = load_config(Path(config_path) if config_path else None, start=start)
    if select is not None:
        config.select = list(select)
    if ignore is not None:
        config.ignore = [*config.ignore, *ignore]
    if unsafe_fixes is not None:
        config.unsafe_fixes = unsafe_fixes
    codes = tuple(select_codes(config.select, config.ignore)) if rules is None else ()
    extra = tuple(rules or ())
    files = discover(
        paths,
        root=config.root,
        exclude=[*config.exclude, *exclude],
        respect_gitignore=config.respect_gitignore,
    )
    report = Report(files_checked=len(files))
    file_names = [str(p) for p in files]
    root = os.path.abspath(config.root)
    relpaths = [_relative_to(p, Path(root)) for p in files]

    cache = None
    if use_cache and not extra:
        cache = ResultCache.open(config.root, config.digest(), codes, fix, config.unsafe_fixes)
    uses_index = _uses_index(codes, extra, cache)
    digests, errors = hash_files(file_names)
    report.input_errors.extend(errors)
    index_files: list[str] = []
    if uses_index and files:
        # The same file may be named differently by the user and by the scope search.
        given = {os.path.abspath(name): name for name in file_names}
        scope = [
            given.get(os.path.abspath(p), str(p))
            for p in discover(index_scope(files), root=config.root)
        ]
        extra_files = [p for p in scope if p not in digests]
        scope_digests, _ = hash_files(extra_files)
        digests.update(scope_digests)
        index_files = list(dict.fromkeys([*file_names, *scope]))
    index_key = index_digest(digests, index_files) if uses_index else ""

    with Pool(jobs or default_jobs()) as pool:
        index = build_index(pool, index_files, digests, cache) if uses_index else RepoIndex()

        def job() -> Job:
            return Job(rule_codes=codes, config=config, index=index, fix=fix, extra_rules=extra)

        results = check_files(
            pool, file_names, relpaths, job, cache=cache, digests=digests, index_key=index_key
        )
        for result in results:
            if on_result is not None:
                on_result(result)
            if result.error and result.error.startswith("input: "):
                if result.path in digests:  # not already reported by hashing
                    report.input_errors.append(result.error.removeprefix("input: "))
                continue
            if result.error:
                report.internal_errors.append(result.error)
            if result.findings or result.remaining or result.changed or result.error:
                report.results.append(result)
    if cache is not None:
        cache.save()
    report.results.sort(key=lambda r: r.path)
    return report


def _uses_index(
    codes: tuple[str, ...], extra: tuple[type[Rule], ...], cache: ResultCache | None
) -> bool:
    """Whether a selected rule reads the repo index (remembered by the cache, so a warm
    run need not import the rules to know)."""
    if cache is not None and "uses_index" in cache.meta:
        return bool(cache.meta["uses_index"])
    from asyncmend.codemods.registry import rule_by_code

    value = any(rule.uses_index for rule in [*(rule_by_code(c) for c in codes), *extra])
    if cache is not None:
        cache.meta["uses_index"] = value
        cache.dirty = True
    return value


def _relative_to(path: Path, root: Path) -> str:
    """``path`` relative to the project root, for per-file-ignores (string operations
    only: resolving every path costs a stat per component)."""
    rel = os.path.relpath(os.path.abspath(path), root)
    return Path(path).as_posix() if rel.startswith("..") else Path(rel).as_posix()
