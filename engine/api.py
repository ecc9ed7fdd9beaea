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

from asyncmend.codemods.base import Rule
from asyncmend.engine.config import Config, load_config
from asyncmend.engine.diff import unified_diff
from asyncmend.engine.discovery import discover
from asyncmend.engine.index import RepoIndex
from asyncmend.engine.process import Job
from asyncmend.engine.results import FileResult, Finding
from asyncmend.engine.runner import Pool, build_index, check_files, default_jobs, index_scope
from asyncmend.engine.writer import ChangedOnDiskError, write_atomic


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
    on_result: Callable[[FileResult], None] | None = None,
) -> Report:
    """Check (``fix=False``) or compute fixes for (``fix=True``) the files under ``paths``.

    Nothing is written until ``Report.apply()``. ``rules`` runs the given rule classes
    instead of the registry's selection (for user codemods).
    Raises ``ConfigError``, ``DiscoveryError`` or ``UnknownRuleError`` for bad input.
    """
    from asyncmend.codemods.registry import all_rules, select_rules

    if config is None:
        start = Path(paths[0]) if paths else Path.cwd()
        known = {rule.code: rule.settings_defaults for rule in all_rules()}
        config = load_config(
            Path(config_path) if config_path else None, start=start, known_rule_settings=known
        )
    if select is not None:
        config.select = list(select)
    if ignore is not None:
        config.ignore = [*config.ignore, *ignore]
    if unsafe_fixes is not None:
        config.unsafe_fixes = unsafe_fixes
    chosen = list(rules) if rules is not None else select_rules(config.select, config.ignore)
    files = discover(
        paths,
        root=config.root,
        exclude=[*config.exclude, *exclude],
        respect_gitignore=config.respect_gitignore,
    )
    report = Report(files_checked=len(files))
    file_names = [str(p) for p in files]
    relpaths = [_relative_to(p, config.root) for p in files]
    with Pool(jobs or default_jobs()) as pool:
        index = RepoIndex()
        if any(rule.uses_index for rule in chosen):
            scope = discover(index_scope(files), root=config.root) if files else []
            index_files = list(dict.fromkeys([*file_names, *(str(p) for p in scope)]))
            index, _ = build_index(pool, index_files)
        job = Job(rules=chosen, config=config, index=index, fix=fix)
        for result in check_files(pool, file_names, relpaths, job):
            if on_result is not None:
                on_result(result)
            if result.error and result.error.startswith("input: "):
                report.input_errors.append(result.error.removeprefix("input: "))
                continue
            if result.error:
                report.internal_errors.append(result.error)
            if result.findings or result.remaining or result.changed or result.error:
                report.results.append(result)
    return report


def _relative_to(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()
